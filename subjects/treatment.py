"""Saving the treatment forms (issue 4 item 5): lymphodepletion and the CAR-T infusion go
through `crf.services.save_form` like every form, then move the subject along the lifecycle
through `subjects.services.change_status`, and the first infusion re-anchors the visits.
Registered with `crf.services.save_service`, so the generic form page and the API use them."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from crf import checks, derivations
from crf.audit import audit_context
from crf.services import save_form, save_service
from subjects import services, visits
from subjects.lifecycle import Event, Status
from subjects.models import Infusion, Lymphodepletion, Subject, Visit

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


@save_service(Lymphodepletion)
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


@save_service(Infusion)
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
    if day0 != subject.infusion_date:
        subject.infusion_date = day0
        with audit_context(user=user, site=subject.site, reason=_("re-derived: first infusion")):
            subject.save(update_fields=["infusion_date"])
        visits.schedule_visits(user=user, subject=subject, reason=_("re-derived: first infusion"))
    return saved


def rederive_infusions(*, user: User, subject: Subject, reason: str) -> None:
    """Re-derive the stored dose check of the subject's infusions (their assigned dose level
    changed) and re-run their edit checks, so the dose query follows the new level. Called by
    subjects.services.change_dose_level inside its transaction."""
    for infusion in Infusion.objects.filter(subject=subject, entered_in_error=False).select_related("subject__site"):
        changed = derivations.derive(infusion)
        if changed:
            with audit_context(user=user, site=subject.site, reason=reason):
                Infusion.objects.filter(pk=infusion.pk).update(**changed, version=F("version") + 1)
                infusion.refresh_from_db()
                checks.run_edit_checks(infusion)
