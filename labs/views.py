"""The panel entry page: one sample collection of one panel on one page (issue 6 item 1).
Thin: the visibility gate → LabPanelForm → labs.services.record_lab_panel → redirect."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from clinical.units import UNIT_LABELS, Panel
from crf import versions as crf_versions
from crf.services import StaleVersionError
from labs.forms import LabPanelForm
from labs.models import LabPanel, LabResult
from labs.services import PanelError, collection_results, record_lab_panel
from study import access
from study.access import access_subject
from study.roles import Action
from subjects.models import Subject


@login_required
def choose_panel(request: HttpRequest, subject_pk: int) -> HttpResponse:
    """Which panel to enter (the casebook's "Enter" of laboratory results lands here)."""
    subject = access_subject(request.user, subject_pk, Action.EDIT_CRF)
    visit = request.GET.get("visit", "")
    panels = [(value, label) for value, label in LabPanel.choices]
    return render(
        request,
        "labs/choose_panel.html",
        {"subject": subject, "panels": panels, "visit": visit if visit.isdigit() else ""},
    )


@login_required
def panel_new(request: HttpRequest, subject_pk: int, panel: str) -> HttpResponse:
    try:
        chosen = Panel(panel)
    except ValueError:
        raise Http404 from None
    subject = access_subject(request.user, subject_pk, Action.VIEW_CRF)
    with timezone.override(subject.site.time_zone):
        return _panel_page(request, subject, chosen, existing={})


@login_required
def panel_edit(request: HttpRequest, subject_pk: int, pk: int) -> HttpResponse:
    """The collection that result `pk` belongs to, every analyte of its panel on one page."""
    subject = access_subject(request.user, subject_pk, Action.VIEW_CRF)
    anchor = LabResult.objects.filter(pk=pk, subject=subject, entered_in_error=False).first()
    if anchor is None:
        raise Http404
    existing = collection_results(
        subject=subject, panel=anchor.panel, collected_on=anchor.collected_on, collected_time=anchor.collected_time
    )
    with timezone.override(subject.site.time_zone):
        return _panel_page(request, subject, Panel(anchor.panel), existing=existing, anchor=anchor)


def _panel_page(
    request: HttpRequest,
    subject: Subject,
    panel: Panel,
    *,
    existing: dict[str, LabResult],
    anchor: LabResult | None = None,
) -> HttpResponse:
    can_edit = access.can(request.user, Action.EDIT_CRF, site=subject.site)
    current: dict[str, LabResult] | None = None
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        form = LabPanelForm(request.POST, subject=subject, panel=panel, existing=existing)
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = record_lab_panel(
                    user=request.user,  # type: ignore[arg-type]
                    subject=subject,
                    panel=panel,
                    collected_on=data["collected_on"],
                    collected_time=data["collected_time"],
                    visit=data["visit"],
                    sex=data["sex"],
                    rows=form.panel_rows(),
                    complete=data["mark_complete"],
                    existing=existing,
                    reason=data["reason"],
                    laboratory=data["laboratory"],
                )
            except StaleVersionError as exc:
                form.add_error(None, exc)
                current = {r.analyte: r for r in LabResult.objects.filter(pk__in=[r.pk for r in existing.values()])}
            except PanelError as exc:
                form.add_panel_errors(exc.row_errors, exc.collection_errors)
            else:
                messages.success(request, _("Saved."))
                if not saved:  # every result of the collection was marked entered in error
                    return redirect("subjects:detail", pk=subject.pk)
                return redirect("labs:panel_edit", subject_pk=subject.pk, pk=saved[0].pk)
    else:
        form = LabPanelForm(subject=subject, panel=panel, existing=existing)
        visit_pk = request.GET.get("visit", "")
        if not existing and visit_pk.isdigit():
            visit = subject.visits.filter(pk=int(visit_pk)).first()  # type: ignore[attr-defined]
            if visit is not None:
                form.initial["visit"] = visit.pk
                form.initial["collected_on"] = visit.visit_date
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    context = {
        "subject": subject,
        "panel": panel,
        "panel_title": LabPanel(panel.value).label,
        "form": form,
        "grid": form.grid(),
        "existing": existing,
        "can_edit": can_edit,
        "current": current,
        "unit_labels": UNIT_LABELS,
        # the CRF version the collection was entered under, as on every other form's page (issue 27 item 3)
        "crf_version": next(iter(existing.values())).crf_version if existing else crf_versions.current(LabResult),
    }
    return render(request, "labs/panel.html", context)
