"""Laboratory pages of the study build (issue 27 item 1), study admin only (DESIGN §4a; every
other role 403): a site's laboratories and their effective-dated reference ranges."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from clinical.units import UNIT_LABELS, decimal_text
from labs import build
from labs.build_forms import LaboratoryForm, ReferenceRangeForm
from labs.models import ANALYTE_NAMES, Laboratory
from study.build_views import administered_study
from study.form_errors import apply_service_errors
from study.models import Site
from study.names import is_live


@login_required
def laboratory_list(request: HttpRequest) -> HttpResponse:
    study = administered_study(request)
    sites = Site.objects.filter(study=study).order_by("code")
    live = is_live(study)
    form = LaboratoryForm(request.POST or None, sites=sites, live=live)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            lab = build.save_laboratory(actor=request.user, laboratory=None, **data)  # type: ignore[arg-type]
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Laboratory %(code)s saved.") % {"code": lab.code})
            return redirect("labs_build:laboratory", pk=lab.pk)
    listed = sites.prefetch_related(
        Prefetch("laboratories", queryset=Laboratory.objects.order_by("code"), to_attr="labs")
    )
    return render(request, "labs/build/laboratory_list.html", {"study": study, "sites": listed, "form": form})


@login_required
def laboratory_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = administered_study(request)
    lab = Laboratory.objects.filter(pk=pk, site__study=study).select_related("site").first()
    if lab is None:
        raise Http404
    live = is_live(study)
    which = request.POST.get("form") if request.method == "POST" else None
    initial = {"code": lab.code, "name": lab.name, "name_zh": lab.name_zh, "active": lab.active}
    lab_form = LaboratoryForm(
        request.POST if which == "laboratory" else None,
        sites=Site.objects.filter(pk=lab.site_id),
        live=live,
        fixed_site=True,
        initial=initial,
        prefix="lab",
    )
    range_form = ReferenceRangeForm(request.POST if which == "range" else None, live=live, prefix="range")
    if which == "laboratory" and lab_form.is_valid():
        try:
            build.save_laboratory(actor=request.user, site=lab.site, laboratory=lab, **lab_form.cleaned_data)  # type: ignore[arg-type]
        except ValidationError as exc:
            apply_service_errors(lab_form, exc)
        else:
            messages.success(request, _("Laboratory %(code)s saved.") % {"code": lab.code})
            return redirect("labs_build:laboratory", pk=lab.pk)
    if which == "range" and range_form.is_valid():
        data = range_form.cleaned_data
        try:
            _row, changed = build.add_reference_range(actor=request.user, laboratory=lab, **data)  # type: ignore[arg-type]
        except ValidationError as exc:
            apply_service_errors(range_form, exc)
        else:
            messages.success(
                request,
                _("Reference range saved; %(count)s results re-derived to another flag or grade.")
                % {"count": len(changed)},
            )
            return redirect("labs_build:laboratory", pk=lab.pk)
    today = timezone.localdate()
    rows = [
        {
            "range": row,
            "in_force": in_force,
            "analyte": ANALYTE_NAMES[row.analyte],
            "unit": UNIT_LABELS[row.unit],
            "lln": "—" if row.lln is None else decimal_text(row.lln),
            "uln": "—" if row.uln is None else decimal_text(row.uln),
            "ages": f"≥ {row.age_from}" if row.age_to is None else f"{row.age_from}–{row.age_to - 1}",
        }
        for row, in_force in build.ranges_of(lab, today)
    ]
    context = {
        "study": study,
        "lab": lab,
        "lab_form": lab_form,
        "range_form": range_form,
        "rows": rows,
        "today": today,
        "live": live,
    }
    return render(request, "labs/build/laboratory_detail.html", context)
