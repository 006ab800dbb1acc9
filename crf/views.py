from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from crf import display, drafts
from crf import versions as crf_versions
from crf.declarations import declaration_for
from crf.forms import form_class_for
from crf.history import record_history, resolve_record
from crf.models import ACTIVE_QUERY_STATUSES, EntryStatus, Query
from crf.queries import save_correcting
from crf.registry import crf_model
from crf.selectors import field_label, form_page_data
from crf.services import SYSTEM_FIELDS, StaleVersionError, data_fields
from crf.templatetags.dayzero import dated
from study import access
from study.access import access_subject
from study.form_errors import apply_service_errors
from study.roles import Action


@login_required
def history(request: HttpRequest, label: str, pk: str) -> HttpResponse:
    record, subject = resolve_record(request.user, label, pk)  # type: ignore[arg-type]
    rows = record_history(viewer=request.user, record=record, subject=subject)  # type: ignore[arg-type]
    # The heading names the record as a reader does (its form, subject and clinical date), not by
    # its developer's __str__, which holds stored codes ("ST hsct", "MRD flow").
    clinical_date = record.clinical_date() if callable(getattr(record, "clinical_date", None)) else None
    context = {
        "record": record,
        "record_date": display.value_text(clinical_date) if clinical_date is not None else "",
        "record_type": record._meta.verbose_name,
        "subject": subject,
        "rows": rows,
        "site_zone": subject.site.time_zone,
    }
    return render(request, "crf/history.html", context)


@login_required
def form_entry(request: HttpRequest, subject_pk: int, code: str, pk: int | None = None) -> HttpResponse:
    """Enter or edit one form. A stale save, a missing reason or a refused value re-renders the
    page with everything the user typed and the reason; nothing is saved. Instants are typed
    and shown in the site's time zone (DESIGN §4 "Dates and the Day-0 clock")."""
    model = crf_model(code)
    if model is None:
        raise Http404
    subject = access_subject(request.user, subject_pk, Action.VIEW_CRF)
    entry_page = declaration_for(model).entry_page
    if entry_page is not None:  # entered on its own page (a lab panel)
        return redirect(entry_page(subject, pk, request.GET.get("visit", "")))
    with timezone.override(subject.site.time_zone):
        return _form_entry(request, subject, model, code, pk)


def _form_entry(request: HttpRequest, subject, model, code: str, pk: int | None) -> HttpResponse:  # type: ignore[no-untyped-def]
    if pk is None:
        if declaration_for(model).lifecycle:
            raise Http404  # consent and eligibility are entered through the lifecycle pages
        instance = model(subject=subject)
        visit_pk = request.GET.get("visit", "")
        if visit_pk.isdigit():  # entered from a casebook cell: that visit
            instance.visit = subject.visits.select_related("definition").filter(pk=int(visit_pk)).first()
        for field in _parent_form_fields(model):  # entered from its parent form (an MRD test of an assessment)
            parent_pk = request.GET.get(field.name, "")
            if parent_pk.isdigit():
                parent = field.related_model._default_manager.filter(pk=int(parent_pk), subject=subject).first()
                setattr(instance, field.name, parent)
    else:
        instance = model._default_manager.filter(pk=pk, subject=subject).first()
        if instance is None:
            raise Http404
        instance.subject = subject  # loaded already: dates shown with their study day, no query
    can_edit = access.can(request.user, Action.EDIT_CRF, site=subject.site) and not instance.entered_in_error
    form_class = form_class_for(model)
    current = None
    draft = drafts.draft_for(request.user, request.path) if can_edit else None  # type: ignore[arg-type]
    if draft is not None and instance.pk is not None and draft.saved_at <= instance.updated_at:
        draft = None  # saved since: the draft is stale
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        # a refused save shows what was typed: no "restore unsaved entries" offer (issue 24 §6)
        draft = None
        form = form_class(request.POST, instance=instance)
        if form.is_valid():
            edited = form.save(commit=False)
            edited.missing = form.missing_codes()
            edited.entry_status = (
                EntryStatus.COMPLETE if form.cleaned_data["mark_complete"] else EntryStatus.IN_PROGRESS
            )
            try:
                saved = save_correcting(
                    user=request.user,  # type: ignore[arg-type]
                    instance=edited,
                    expected_version=form.cleaned_data["opened_version"],
                    reason=form.cleaned_data["reason"],
                )
            except StaleVersionError as exc:
                form.add_error(None, exc)
                current = exc.current
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                say_answered(request, getattr(saved, "answered_queries", []))
                drafts.discard(request.user, request.path)  # type: ignore[arg-type]
                messages.success(request, _("Saved."))
                return redirect("subjects:form_edit", subject_pk=subject.pk, code=code, pk=saved.pk)
    elif draft is not None and request.GET.get("draft") == "restore":
        form = form_class(drafts.as_query_dict(draft), instance=instance)
        draft = None
    else:
        form = form_class(instance=instance)
    queries = []
    if instance.pk is not None:
        queries = list(
            Query.objects.filter(
                content_type=ContentType.objects.get_for_model(model),
                object_id=instance.pk,
                status__in=ACTIVE_QUERY_STATUSES,
            )
        )
        for query in queries:
            query.field_label = field_label(model, query.field_name)  # type: ignore[attr-defined]
    current_values = (
        [
            (form.fields[name].label, display.field_text(current, name))
            for name in data_fields(model)
            if name in form.fields
        ]
        if current is not None
        else []
    )
    derived = (
        [
            (f.verbose_name, _derived_text(instance, f, subject))
            for f in model._meta.concrete_fields
            if not f.editable and f.name not in SYSTEM_FIELDS and f.name != "id"
        ]
        if instance.pk is not None
        else []
    )
    live_grade = declaration_for(model).live_grade_url_name
    context = {
        "subject": subject,
        "model": model,
        "instance": instance,
        "derived": derived,
        "draft": draft,
        "form": form,
        "can_edit": can_edit,
        "queries": queries,
        "current_values": current_values,
        "history_label": model._meta.label_lower,
        "crf_version": instance.crf_version if instance.pk else crf_versions.current(model),
        "can_adjudicate": access.can(request.user, Action.ADJUDICATE, site=subject.site),
        # queries by field, SDV marks, freezes and locks (issue 7)
        "dm": form_page_data(request.user, instance) if instance.pk is not None else None,
        "live_grade_url": (
            reverse(live_grade, args=[subject.pk]) + (f"?form={instance.pk}" if instance.pk else "")
            if live_grade
            else ""
        ),
    }
    # A form may extend the generic page (e.g. response/marrowassessment_form.html: live response).
    templates = [f"{model._meta.app_label}/{model._meta.model_name}_form.html", "crf/form.html"]
    return render(request, templates, context)


def _parent_form_fields(model):  # type: ignore[no-untyped-def]
    """Foreign keys of a form to another form (its parent)."""
    from crf.models import CrfInstance

    return [
        f
        for f in model._meta.concrete_fields
        if f.is_relation
        and f.editable
        and isinstance(f.related_model, type)
        and issubclass(f.related_model, CrfInstance)
    ]


def _derived_text(instance, field, subject) -> str:  # type: ignore[no-untyped-def]
    """A derived value as a person reads it (crf.display); a date with its study-day badge."""
    from datetime import date, datetime

    value = getattr(instance, field.name)
    if value is None and hasattr(instance, "why_not_derived"):
        # an empty derived value says why (issue 24 §6: hypotension "—" with SBP 82 and no reason)
        reason = instance.why_not_derived(field.name)
        if reason:
            return str(reason)
    if isinstance(value, date) and not isinstance(value, datetime):
        return dated(value, subject.day0)
    return display.field_text(instance, field.name)


@login_required
@require_POST
def save_draft(request: HttpRequest) -> HttpResponse:
    """Keep what the user has typed on a form page they may edit (called by static/js/drafts.js)."""
    path = request.POST.get("draft_path", "")
    if not drafts.may_draft(request.user, path):  # type: ignore[arg-type]
        raise PermissionDenied
    drafts.keep(request.user, path, request.POST)  # type: ignore[arg-type]
    return HttpResponse(status=204)


def say_answered(request: HttpRequest, answered: list[Query]) -> None:
    """The save answered the open queries of the values it corrected (crf.services.save_form)."""
    if answered:
        messages.success(
            request,
            ngettext(
                "%(n)d query answered: value corrected.", "%(n)d queries answered: value corrected.", len(answered)
            )
            % {"n": len(answered)},
        )
