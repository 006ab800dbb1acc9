"""Saving the treatment forms (issue 4 item 5): lymphodepletion and the CAR-T infusion go
through `crf.services.save_form` like every form, then move the subject along the lifecycle
through `subjects.services.subject.change_status`, and the first infusion re-anchors the visits.
Registered with `crf.services.save_service`, so the generic form page and the API use them."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crf import derivations
from crf.declarations import declaration_for
from crf.rederive import rederive
from crf.services import save_form
from study.audit_context import audit_context
from study.system_text import message
from subjects import hooks
from subjects.lifecycle import Event, Status
from subjects.models import Infusion, Lymphodepletion, Subject, Visit
from subjects.services import subject as services
from subjects.services import visits

if TYPE_CHECKING:
    from study.models import User

#: A subject may have treatment forms entered (or corrected) once enrolled and not a screen failure.
NOT_TREATED = (Status.SCREENING, Status.SCREEN_FAILED, Status.NOT_INFUSED)


def _locked(subject: Subject) -> Subject:
    return Subject.objects.select_for_update().select_related("site", "site__study").get(pk=subject.pk)


def _lifecycle_step(*, user: User, subject: Subject, event: Event, on: date, field: str) -> None:
    """Apply the event; a refusal (e.g. a date before the last status date) names the form's field."""
    try:
        services.change_status(user=user, subject=subject, event=event, on=on)
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and "on" in exc.error_dict:
            raise ValidationError({field: exc.error_dict["on"]}) from exc
        raise


def _date_the_visit(*, user: User, form: Lymphodepletion | Infusion, on: date | None) -> None:
    """A treatment form entered at a visit dates that visit, unless a visit date is already
    recorded (dates entered stay)."""
    if form.visit_id is None or on is None:
        return
    visit = Visit.objects.get(pk=form.visit_id)
    if visit.visit_date is None:
        visits.record_visit_date(user=user, visit=visit, visit_date=on)


@transaction.atomic
def record_lymphodepletion(
    *, user: User, instance: Lymphodepletion, expected_version: int | None, reason: str = ""
) -> Lymphodepletion:
    """Save the form; the first one moves an enrolled subject to "lymphodepleted" on its start date."""
    subject = _locked(instance.subject)
    if subject.status in NOT_TREATED:
        raise ValidationError(
            _("Lymphodepletion is recorded for an enrolled subject; this subject's status is “%(status)s”.")
            % {"status": subject.get_status_display()},
            code="illegal_transition",
        )
    saved = save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)
    _date_the_visit(user=user, form=saved, on=saved.start_date)
    if subject.status == Status.ENROLLED:
        _lifecycle_step(user=user, subject=subject, event=Event.LYMPHODEPLETE, on=saved.start_date, field="start_date")
    return saved


def first_infusion_date(subject: Subject) -> date | None:
    """Day 0: the site-local date of the earliest infusion start (split or repeat infusions
    are further forms)."""
    first = (
        Infusion.objects.filter(subject=subject, entered_in_error=False)
        .order_by("infusion_start", "pk")
        .values_list("infusion_date", flat=True)
        .first()
    )
    return first


@transaction.atomic
def record_infusion(*, user: User, instance: Infusion, expected_version: int | None, reason: str = "") -> Infusion:
    """Save the form; the first infusion moves a lymphodepleted subject to "infused" on day 0,
    and whenever day 0 changes (first infusion, an earlier split dose, a corrected start) the
    visits re-anchor with the audit reason "re-derived: first infusion"."""
    subject = _locked(instance.subject)
    if subject.status in NOT_TREATED:
        raise ValidationError(
            _("An infusion is recorded for an enrolled subject; this subject's status is “%(status)s”.")
            % {"status": subject.get_status_display()},
            code="illegal_transition",
        )
    if subject.status == Status.ENROLLED:
        raise ValidationError(_("Record the lymphodepletion before the infusion."), code="illegal_transition")
    saved = save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)
    _date_the_visit(user=user, form=saved, on=saved.infusion_date)
    day0 = first_infusion_date(subject)
    if subject.status == Status.LYMPHODEPLETED and day0 is not None:
        _lifecycle_step(user=user, subject=subject, event=Event.INFUSE, on=day0, field="infusion_start")
        subject = _locked(subject)
    reanchor_day0(user=user, subject=subject, reason=message(gettext_noop("re-derived: first infusion")))
    return saved


#: Statuses after "infused" (CLINICAL_SPEC §6, subjects/lifecycle.py): the subject's course went on
#: from day 0, so its only infusion cannot simply disappear.
AFTER_INFUSED = (Status.FOLLOW_UP, Status.COMPLETED, Status.WITHDRAWN, Status.DIED, Status.LOST_TO_FOLLOW_UP)


def reanchor_day0(*, user: User, subject: Subject, reason: str) -> None:
    """Day 0 (CLINICAL_SPEC §7; DESIGN "Day-0 clock") follows the earliest valid infusion: when it
    changes, the subject's `infusion_date` is stored, the visits re-anchor, and what is counted
    from day 0 is re-derived with `reason` in the audit trail — the stored study days of the
    day-0 forms (AEs, lab results, marrow assessments…), then through `subjects.hooks.day0_moved`
    the CRS and ICANS courses (their assessments and episodes), ICAHT and the DLT candidates.
    Without an infusion the clock falls back to the planned infusion date."""
    subject = _locked(subject)
    day0 = first_infusion_date(subject)
    if day0 == subject.infusion_date:
        return
    subject.infusion_date = day0
    with audit_context(user=user, site=subject.site, reason=reason):
        subject.save(update_fields=["infusion_date"])
    visits.schedule_visits(user=user, subject=subject, reason=reason)
    for model in derivations.derived_models():
        if model is Infusion or declaration_for(model).rederived_by_course:
            continue  # the infusion is being saved; a course is re-derived whole, by the hook below
        forms = list(model._default_manager.filter(subject=subject, entered_in_error=False))
        for form in forms:
            form.subject = subject
        # crf.rederive: a locked form whose study days would move refuses the infusion save.
        rederive(forms=forms, reason=reason, user=user, subject=subject)
    hooks.day0_moved(user=user, subject=subject, reason=reason)


def _infusion_entered_in_error(*, user: User, saved: Infusion, previous: Infusion | None) -> None:
    """An infusion marked entered in error no longer anchors day 0: the earliest remaining valid
    infusion does (reanchor_day0, audited "re-derived: infusion entered in error"). If none
    remains, an "infused" subject goes back to "lymphodepleted" (subjects.services.subject.revert_infusion);
    a subject whose course went on (follow-up, withdrawn, died…) is refused with what to do,
    since a status after day 0 without any infusion would leave the study clock silently wrong."""
    if not saved.entered_in_error or previous is None or previous.entered_in_error:
        return
    subject = _locked(saved.subject)
    if first_infusion_date(subject) is None:
        if subject.status in AFTER_INFUSED:
            raise ValidationError(
                _(
                    "This is the subject's only infusion and the subject's status is “%(status)s”: enter the "
                    "correct infusion first, then mark this one entered in error."
                )
                % {"status": subject.get_status_display()},
                code="only_infusion",
            )
        services.revert_infusion(user=user, subject=subject, reason=saved.error_reason)
    elif subject.status == Status.INFUSED and subject.status_date == subject.infusion_date:
        day0 = first_infusion_date(subject)
        subject.status_date = day0
        with audit_context(
            user=user, site=subject.site, reason=message(gettext_noop("re-derived: infusion entered in error"))
        ):
            subject.save(update_fields=["status_date"])
    reanchor_day0(user=user, subject=subject, reason=message(gettext_noop("re-derived: infusion entered in error")))


def rederive_infusions(*, user: User, subject: Subject, reason: str) -> None:
    """Re-derive the stored dose check of the subject's infusions (their assigned dose level
    changed) and re-run their edit checks, so the dose query follows the new level. Called by
    subjects.services.subject.change_dose_level inside its transaction."""
    infusions = list(Infusion.objects.filter(subject=subject, entered_in_error=False).select_related("subject__site"))
    rederive(forms=infusions, reason=reason, user=user, subject=subject)
