from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.forms import Form, fields_for_model
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clinical.schedule import local_date
from crf import display
from crf.declarations import declaration_for
from crf.registry import crf_models
from crf.selectors import instance_badges, record_queries
from study import access
from study.access import access_subject, subjects_visible_to
from study.form_errors import apply_service_errors
from study.language import dose_level_name
from study.protocol import NoProtocolSettings
from study.roles import Action, role_may
from subjects import assessments, hooks, lifecycle, selectors
from subjects.derive import dose_values
from subjects.forms import (
    ConsentForm,
    DoseLevelForm,
    EligibilityForm,
    EnrolForm,
    IdentityRecordForm,
    PlannedInfusionForm,
    ReconsentForm,
    StatusDateForm,
    StatusForm,
    UndoStatusForm,
    VisitDateForm,
)
from subjects.lifecycle import Event, Status
from subjects.models import IdentityRecord, InformedConsent, Infusion, ProtocolDeviation, Subject, Visit
from subjects.services import enrolment, visits
from subjects.services import subject as services

#: The subject list pages at this many rows (10,000 subjects rendered at once took seconds).
SUBJECTS_PER_PAGE = 100


@login_required
def subject_list(request: HttpRequest) -> HttpResponse:
    sites = access.sites_where(request.user, Action.VIEW_CRF)
    if not sites.exists():
        raise PermissionDenied
    subjects = subjects_visible_to(request.user).filter(site__in=sites)
    search = request.GET.get("q", "").strip()[:40]
    if search:
        subjects = subjects.filter(Q(subject_id__icontains=search) | Q(screening_number__icontains=search))
    page = Paginator(subjects, SUBJECTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "subjects": page.object_list,
        "page": page,
        "search": search,
        "can_consent": access.sites_where(request.user, Action.EDIT_CRF).exists(),
    }
    return render(request, "subjects/subject_list.html", context)


@login_required
def consent_new(request: HttpRequest) -> HttpResponse:
    """New subject (consent): the signed consent opens screening and gives the screening number."""
    sites = access.sites_where(request.user, Action.EDIT_CRF)
    if not sites.exists():
        raise PermissionDenied
    form = ConsentForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        try:
            subject = services.record_consent(
                user=request.user,  # type: ignore[arg-type]
                site=form.chosen_site(),
                consent_version=form.cleaned_data["consent_version"],
                consent_date=form.cleaned_data["consent_date"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request, _("Consent recorded. Screening number: %(number)s.") % {"number": subject.screening_number}
            )
            return redirect("subjects:detail", pk=subject.pk)
    return render(request, "subjects/consent_new.html", {"form": form, "site": form.only_site})


def _dose_levels(subject: Subject) -> list[tuple[str, str]]:
    """(code, name in the reader's language) of the levels in force (issue 25 item 4)."""
    try:
        codes = services.dose_level_codes(subject, timezone.localdate())
    except NoProtocolSettings:
        return []
    return [(code, dose_level_name(code, subject.site.study_id)) for code in codes]


@dataclass(frozen=True)
class LifecycleAction:
    """One lifecycle action of the subject page, keyed by its URL name in `LIFECYCLE_ACTIONS`:
    its form (bound to the POST, or blank with today's values as initial) and what saving it
    does. `save` returns a page to show instead of "Saved." (a confirmation step, a pending
    enrolment) or None; a service's refusal is a ValidationError, shown on the form."""

    form: Callable[[Subject, QueryDict | None, str], Form]
    save: Callable[[HttpRequest, Subject, Any, str], HttpResponse | None]


def _saved_by(service: Callable[..., object]) -> Callable[[HttpRequest, Subject, Form, str], None]:
    """The save of a form whose fields are named as the keywords of `service`, which takes the
    user and the subject besides."""

    def save(request: HttpRequest, subject: Subject, form: Form, action: str) -> None:
        service(user=request.user, subject=subject, **form.cleaned_data)

    return save


def _confirmed(
    save: Callable[[HttpRequest, Subject, Any, str], HttpResponse | None],
) -> Callable[..., HttpResponse | None]:
    """An enrolment or a dose-level change: the confirmation page first (`_confirm`), then `save`."""

    def confirmed(request: HttpRequest, subject: Subject, form: EnrolForm, action: str) -> HttpResponse | None:
        if request.POST.get(f"{action}-confirmed") != "on":
            return _confirm(request, subject, action, form)
        return save(request, subject, form, action)

    return confirmed


def _save_enrolment(request: HttpRequest, subject: Subject, form: EnrolForm, action: str) -> HttpResponse | None:
    data = form.cleaned_data
    _enrolled, pending = enrolment.enrol_or_request(
        user=request.user,  # type: ignore[arg-type]
        subject=subject,
        on=data["on"],
        dose_level=data["dose_level"],
        planned_infusion_date=data["planned_infusion_date"],
        acknowledged=request.POST.get(f"{action}-acknowledge") == "on",
    )
    if pending is not None and pending.acknowledged_at is None:
        messages.warning(request, _("The enrolment waits for an investigator of the site to acknowledge it."))
        return redirect("subjects:detail", pk=subject.pk)
    return None


def _save_planned_infusion(request: HttpRequest, subject: Subject, form: PlannedInfusionForm, action: str) -> None:
    visits.set_planned_infusion_date(
        user=request.user,  # type: ignore[arg-type]
        subject=subject,
        on=form.cleaned_data["planned_infusion_date"],
        reason=form.cleaned_data["reason"],
    )


def _save_status(request: HttpRequest, subject: Subject, form: StatusForm, action: str) -> None:
    services.change_status(
        user=request.user,  # type: ignore[arg-type]
        subject=subject,
        event=Event(action),
        on=form.cleaned_data["on"],
        **form.details(),
    )


LIFECYCLE_ACTIONS: dict[str, LifecycleAction] = {
    "reconsent": LifecycleAction(
        lambda subject, data, key: ReconsentForm(data, prefix=key), _saved_by(services.record_reconsent)
    ),
    "enrol": LifecycleAction(
        lambda subject, data, key: EnrolForm(data, prefix=key, dose_levels=_dose_levels(subject)),
        _confirmed(_save_enrolment),
    ),
    "dose_level": LifecycleAction(
        lambda subject, data, key: DoseLevelForm(data, prefix=key, dose_levels=_dose_levels(subject)),
        _confirmed(_saved_by(services.change_dose_level)),
    ),
    "planned_infusion": LifecycleAction(
        lambda subject, data, key: PlannedInfusionForm(
            data, prefix=key, initial={"planned_infusion_date": subject.planned_infusion_date}
        ),
        _save_planned_infusion,
    ),
    "status_date": LifecycleAction(
        lambda subject, data, key: StatusDateForm(data, prefix=key, initial={"on": subject.status_date}),
        _saved_by(services.correct_status_date),
    ),
    "undo_status": LifecycleAction(
        lambda subject, data, key: UndoStatusForm(data, prefix=key), _saved_by(services.undo_status_in_error)
    ),
    # the other lifecycle events; a death is recorded on the death form, which moves the status
    **{
        event.value: LifecycleAction(
            lambda subject, data, key: StatusForm(data, prefix=key, event=Event(key)), _save_status
        )
        for event in Event
        if event not in (Event.ENROL, Event.DIE)
    },
}


def _action_forms(subject: Subject, bound: tuple[str, object] | None = None) -> list[dict[str, object]]:
    """The lifecycle actions allowed now, each with its form (the bound one when re-shown)."""
    actions: list[dict[str, object]] = []

    def add(key: str, title: object) -> None:
        form = bound[1] if bound is not None and bound[0] == key else LIFECYCLE_ACTIONS[key].form(subject, None, key)
        actions.append({"key": key, "title": title, "form": form})

    for event in lifecycle.allowed_events(subject.status):
        if event == Event.ENROL:
            add("enrol", lifecycle.EVENT_LABELS[event])
        elif event != Event.DIE:  # a death is recorded on the death form, which moves the status
            add(event.value, lifecycle.EVENT_LABELS[event])
    if subject.status in visits.BEFORE_INFUSION and subject.infusion_date is None:
        add("planned_infusion", _("Planned infusion date"))
    if subject.dose_level:
        add("dose_level", _("Change dose level"))
    if subject.status_date is not None and Status(subject.status) not in services.DATE_FROM_FORM:
        add("status_date", _("Correct the status date"))
    if subject.status in services.UNDOABLE:
        add("undo_status", _("Undo “%(status)s” (recorded in error)") % {"status": subject.get_status_display()})
    if subject.status in lifecycle.RECONSENT_ALLOWED:
        add("reconsent", _("Re-consent on a new version"))
    return actions


def _detail(request: HttpRequest, subject: Subject, bound: tuple[str, object] | None = None) -> HttpResponse:
    forms = [
        {
            "code": code,
            "title": model.crf_title,
            "lifecycle": declaration_for(model).lifecycle,
            "instances": list(model._default_manager.filter(subject=subject).order_by("pk")),
        }
        for code, model in sorted(crf_models().items())
    ]
    can_edit = access.can(request.user, Action.EDIT_CRF, site=subject.site)
    actions = _action_forms(subject, bound) if can_edit else []
    # A refused action whose form is not offered any more is shown as a message at the top.
    refused: list[str] = []
    if bound is not None and bound[0] not in {a["key"] for a in actions}:
        refused = [str(e) for errors in bound[1].errors.values() for e in errors]  # type: ignore[attr-defined]
    context = {
        "subject": subject,
        "forms": forms,
        "consents": list(InformedConsent.objects.filter(subject=subject, entered_in_error=False)),
        "can_edit": can_edit,
        "can_view_history": access.can(request.user, Action.VIEW_HISTORY, site=subject.site),
        "can_view_identity": access.can(request.user, Action.VIEW_IDENTITY, site=subject.site),
        "actions": actions,
        "refused": refused,
        "screening": subject.status == Status.SCREENING,
        "pending_enrolment": enrolment.pending_for(subject),
        "site_investigator": enrolment.is_site_investigator(request.user, subject),  # type: ignore[arg-type]
        # what is missing at a glance (CLINICAL_SPEC §7.1; issue 24 item 1)
        "schedule": assessments.subject_schedule(subject, today=visits.site_today(subject), with_queries=False),
        "deviations": list(ProtocolDeviation.objects.filter(subject=subject, entered_in_error=False)),
        # The status follows the survival records: a death is entered as the death form (DTH).
        "record_death": can_edit
        and Event.DIE in lifecycle.allowed_events(subject.status)
        and not (subject.status == Status.WITHDRAWN and not subject.survival_follow_up),
    }
    return render(request, "subjects/subject_detail.html", context, status=400 if bound else 200)


@login_required
def subject_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, access_subject(request.user, pk, Action.VIEW_CRF))


@login_required
@require_POST
def lifecycle_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One lifecycle action from the subject page (`LIFECYCLE_ACTIONS`); a refusal re-shows the
    page with the form, what was typed and the reason."""
    subject = access_subject(request.user, pk, Action.VIEW_CRF)
    access.require(request.user, Action.EDIT_CRF, site=subject.site)
    if action == "acknowledge":  # no form: the site investigator's acknowledgement of a pending enrolment
        try:
            enrolment.acknowledge(user=request.user, subject=subject)  # type: ignore[arg-type]
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Enrolment acknowledged and recorded."))
        return redirect("subjects:detail", pk=subject.pk)
    entry = LIFECYCLE_ACTIONS.get(action)
    if entry is None:
        raise Http404
    form = entry.form(subject, request.POST, action)
    if form.is_valid():
        try:
            shown = entry.save(request, subject, form, action)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            if shown is not None:
                return shown
            messages.success(request, _("Saved."))
            return redirect("subjects:detail", pk=subject.pk)
    return _detail(request, Subject.objects.select_related("site", "site__study").get(pk=subject.pk), (action, form))


def _confirm(request: HttpRequest, subject: Subject, action: str, form: EnrolForm) -> HttpResponse:
    """The confirmation step of an enrolment or a dose-level change, naming what will happen,
    with the level's DLT decision and its candidates awaiting adjudication (CLINICAL_SPEC §3.1)."""
    data = form.cleaned_data
    level = data["dose_level"]
    study_id = subject.site.study_id
    if isinstance(form, DoseLevelForm):
        summary = _("Change the dose level of %(subject)s from %(old)s to %(new)s") % {
            "subject": subject.subject_id,
            "old": dose_level_name(subject.dose_level, study_id),
            "new": dose_level_name(level, study_id),
        }
    else:
        summary = _("Enrol %(subject)s at %(level)s") % {
            "subject": enrolment.next_subject_id(subject),
            "level": dose_level_name(level, study_id),
        }
    facts = []  # what was typed, as read: the level by its name, dates YYYY-MM-DD (issue 25)
    for field in form:
        value = data.get(field.name)
        if value in (None, ""):
            continue
        choices = {str(k): v for k, v in getattr(field.field, "choices", None) or []}
        facts.append((field.label, choices.get(str(value)) or display.value_text(value)))
    context = {
        "subject": subject,
        "action": action,
        "form": form,
        "facts": facts,
        "summary": summary,
        "safety": enrolment.level_safety(user=request.user, subject=subject, dose_level=level),  # type: ignore[arg-type]
        "investigator": enrolment.is_site_investigator(request.user, subject),  # type: ignore[arg-type]
        "enrolling": not isinstance(form, DoseLevelForm),
    }
    return render(request, "subjects/lifecycle_confirm.html", context)


@login_required
def eligibility_new(request: HttpRequest, pk: int) -> HttpResponse:
    """The eligibility checklist of a subject in screening: each criterion yes or no."""
    subject = access_subject(request.user, pk, Action.VIEW_CRF)
    access.require(request.user, Action.EDIT_CRF, site=subject.site)
    form = EligibilityForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.record_eligibility(
                user=request.user,  # type: ignore[arg-type]
                subject=subject,
                protocol_version=form.cleaned_data["protocol_version"],
                assessment_date=form.cleaned_data["assessment_date"],
                criteria=form.criteria(),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            if saved.eligible:
                messages.success(request, _("Eligibility checklist saved: the subject is eligible."))
            else:
                messages.warning(request, _("Eligibility checklist saved: the subject is not eligible."))
            return redirect("subjects:detail", pk=subject.pk)
    return render(request, "subjects/eligibility_new.html", {"subject": subject, "form": form})


@login_required
def identity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The identity record: only roles that may view it (DESIGN §4a); 404 outside the gate."""
    subject = access_subject(request.user, pk, Action.VIEW_IDENTITY)
    context = {
        "subject": subject,
        "identity": IdentityRecord.objects.filter(subject=subject).first(),
        "can_edit": access.can(request.user, Action.EDIT_CRF, site=subject.site),
        "can_view_history": access.can(request.user, Action.VIEW_HISTORY, site=subject.site),
    }
    return render(request, "subjects/identity_detail.html", context)


@login_required
def identity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    subject = access_subject(request.user, pk, Action.VIEW_IDENTITY)
    access.require(request.user, Action.EDIT_CRF, site=subject.site)
    record = IdentityRecord.objects.filter(subject=subject).first()
    form = IdentityRecordForm(request.POST or None, instance=record or IdentityRecord(subject=subject))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.save_identity_record(
                user=request.user,  # type: ignore[arg-type]
                subject=subject,
                full_name=data["full_name"],
                date_of_birth=data["date_of_birth"],
                hospital_number=data["hospital_number"],
                phone=data["phone"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("subjects:identity", pk=subject.pk)
    return render(request, "subjects/identity_edit.html", {"subject": subject, "form": form, "record": record})


@login_required
def visit_detail(request: HttpRequest, pk: int, visit_pk: int) -> HttpResponse:
    """One visit: its planned date and window on the Day-0 clock, and the date it took place."""
    subject = access_subject(request.user, pk, Action.VIEW_CRF)
    visit = Visit.objects.select_related("definition").filter(pk=visit_pk, subject=subject).first()
    if visit is None:
        raise Http404
    visit.subject = subject
    can_edit = access.can(request.user, Action.EDIT_CRF, site=subject.site)
    form = VisitDateForm(request.POST or None, initial={"visit_date": visit.visit_date})
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form.is_valid():
            try:
                visits.record_visit_date(
                    user=request.user,  # type: ignore[arg-type]
                    visit=visit,
                    visit_date=form.cleaned_data["visit_date"],
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("subjects:casebook", pk=subject.pk)
    context = {
        "subject": subject,
        "visit": visit,
        "window": visit.window,
        "state": visit.state(visits.site_today(subject)),
        "day0": subject.day0,
        "form": form,
        "can_edit": can_edit,
        "queries": record_queries(request.user, visit),
        # its expected forms (CLINICAL_SPEC §7.1), each markable "not done" with a reason
        "card": next(
            (
                c
                for c in assessments.subject_schedule(subject, today=visits.site_today(subject)).cards
                if c.visit == visit
            ),
            None,
        ),
    }
    return render(request, "subjects/visit_detail.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def visit_not_done(request: HttpRequest, pk: int, visit_pk: int) -> HttpResponse:
    """Mark one expected form of a visit "not done" with a reason (CLINICAL_SPEC §7.1)."""
    subject = access_subject(request.user, pk, Action.EDIT_CRF)
    visit = get_object_or_404(Visit, pk=visit_pk, subject=subject)
    try:
        assessments.mark_not_done(
            user=request.user,  # type: ignore[arg-type]
            visit=visit,
            crf_code=request.POST.get("crf_code", ""),
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Saved."))
    return redirect("subjects:visit", pk=subject.pk, visit_pk=visit.pk)


@login_required
def casebook(request: HttpRequest, pk: int) -> HttpResponse:
    """The schedule of assessments of one subject (CLINICAL_SPEC §7.1; issue 24 item 1): each
    visit with only its expected forms marked missing / in progress / complete / not done, with
    query, SDV and freeze/lock badges; the logs apart; the current study day."""
    subject = access_subject(request.user, pk, Action.VIEW_CRF)
    today = visits.site_today(subject)
    schedule = assessments.subject_schedule(subject, today=today)
    roles = access.roles_at(request.user, subject.site)
    context = {
        "schedule": schedule,
        "subject": subject,
        "today": today,
        "day0": subject.day0,
        "can_edit": any(role_may(role, Action.EDIT_CRF) for role in roles),
        # SDV and freeze/lock badges (issue 7)
        "subject_lock": instance_badges(subject, assessments.all_instances(schedule)),
        "can_lock": any(role_may(role, Action.FREEZE_LOCK) for role in roles),
        "entry_forms": assessments.entry_forms(),
        # ICAHT is derived from the ANC results, not typed (CLINICAL_SPEC §4.1; issue 10)
        "icaht": hooks.icaht_of(subject=subject),
    }
    return render(request, "subjects/casebook.html", context)


@login_required
def visit_enter(request: HttpRequest, pk: int, visit_pk: int) -> HttpResponse:
    """The casebook's "another form at this visit" picker: to the chosen form's entry page."""
    subject = access_subject(request.user, pk, Action.EDIT_CRF)
    visit = get_object_or_404(Visit, pk=visit_pk, subject=subject)
    code = request.GET.get("code", "")
    if code not in dict(assessments.entry_forms()):
        raise Http404
    return redirect(f"{reverse('subjects:form_new', args=[subject.pk, code])}?visit={visit.pk}")


@login_required
def worklist(request: HttpRequest) -> HttpResponse:
    """Due and overdue visits at the user's sites."""
    if not access.sites_where(request.user, Action.VIEW_CRF).exists():
        raise PermissionDenied
    items = selectors.due_and_overdue(request.user, now=timezone.now())
    return render(request, "subjects/worklist.html", {"items": items})


@login_required
def deviation_list(request: HttpRequest) -> HttpResponse:
    """The study's protocol deviations at the user's sites (issue 5 item 3), optionally only the
    important ones."""
    if not access.sites_where(request.user, Action.VIEW_CRF).exists():
        raise PermissionDenied
    important_only = request.GET.get("important") == "1"
    context = {
        "deviations": list(selectors.deviations_visible_to(request.user, important_only=important_only)),
        "important_only": important_only,
    }
    return render(request, "subjects/deviation_list.html", context)


@login_required
@require_POST
def infusion_live_dose(request: HttpRequest, pk: int) -> HttpResponse:
    """CAR+ cells/kg and the assigned level's acceptable range of what is typed on the infusion
    form (issue 24 item 4), by `subjects.derive.dose_values` — the rule the save stores."""
    subject = access_subject(request.user, pk, Action.EDIT_CRF)
    zone = subject.site.time_zone
    context: dict[str, object] = {"subject": subject}
    with timezone.override(zone):
        fields = fields_for_model(
            Infusion, fields=["viable_cells_e6", "car_positive_pct", "weight_kg", "infusion_start"]
        )
        values: dict[str, object] = {}
        problems: list[str] = []
        for name, field in fields.items():
            try:
                values[name] = field.clean(request.POST.get(name, ""))
            except ValidationError as exc:
                if name != "infusion_start":
                    problems.append(f"{field.label}: {' '.join(exc.messages)}")
        start = values.get("infusion_start")
        on = local_date(start, zone) if start else timezone.localdate()
        if not problems:
            context["dose"] = dose_values(
                subject=subject,
                on=on,
                viable_cells_e6=values["viable_cells_e6"],  # type: ignore[arg-type]
                car_positive_pct=values["car_positive_pct"],  # type: ignore[arg-type]
                weight_kg=values["weight_kg"],  # type: ignore[arg-type]
            )
        context["problems"] = problems
    return render(request, "subjects/_live_dose.html", context)
