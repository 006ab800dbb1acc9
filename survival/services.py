"""Writes of the survival forms through `crf.services.save_form` (STYLE habit 3). A death moves
the subject to "died" through the lifecycle service (subjects.services.subject.change_status), in the
same transaction; a refused transition names the death date and nothing is saved. A death
marked entered in error takes the subject back to its status before the death.

A death whose primary cause is CRS or ICANS makes that episode grade 5 through the safety
services (adverse_events.services.ae_crs_icans, a dependant in the death's declaration: "re-derived: death")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from crf.services import save_form
from subjects.lifecycle import Event, Status
from subjects.models import Subject
from subjects.services import subject as subject_services
from survival.models import Death, FollowUpContact, SubsequentTherapy

if TYPE_CHECKING:
    from study.models import User


@transaction.atomic
def record_death(*, user: User, instance: Death, expected_version: int | None, reason: str = "") -> Death:
    """Save the death; an infused subject (in follow-up, lost to follow-up, or withdrawn with
    survival follow-up) moves to "died" on the date of death (CLINICAL_SPEC §6;
    subjects/lifecycle.py); correcting the date of a recorded death moves the status date."""
    subject = Subject.objects.select_for_update().get(pk=instance.subject_id)
    previous = None if instance.pk is None else Death.objects.filter(pk=instance.pk).values("death_date").first()
    saved = save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)
    if subject.status == Status.DIED and previous is not None and previous["death_date"] != saved.death_date:
        # a corrected death date moves the "died" status date with it (issue 30)
        try:
            subject_services.correct_death_date(user=user, subject=subject, on=saved.death_date, reason=reason)
        except ValidationError as exc:
            raise ValidationError({"death_date": exc.message_dict.get("on", exc.messages)}) from exc
    elif subject.status != Status.DIED:
        try:
            subject_services.change_status(user=user, subject=subject, event=Event.DIE, on=saved.death_date)
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "on" in exc.error_dict:
                raise ValidationError({"death_date": exc.error_dict["on"]}) from exc
            raise ValidationError({"death_date": exc.messages}) from exc
    return saved


def _death_entered_in_error(*, user: User, saved: Death, previous: Death | None) -> None:
    """A death marked entered in error gives the subject back the status it had before "died"
    (subjects.services.subject.revert_death, audited with the reason), unless another valid death
    form remains."""
    if not saved.entered_in_error or previous is None or previous.entered_in_error:
        return
    if Death.objects.filter(subject_id=saved.subject_id, entered_in_error=False).exists():
        return
    subject_services.revert_death(user=user, subject=saved.subject, reason=saved.error_reason)


def record_follow_up(
    *, user: User, instance: FollowUpContact, expected_version: int | None, reason: str = ""
) -> FollowUpContact:
    return save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)


def record_subsequent_therapy(
    *, user: User, instance: SubsequentTherapy, expected_version: int | None, reason: str = ""
) -> SubsequentTherapy:
    return save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)
