"""Edit checks on survival forms: contacts that contradict the death record raise queries."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crf.checks import edit_check
from survival.models import Death, FollowUpContact


def _death(subject_id: int) -> Death | None:
    return Death.objects.filter(subject_id=subject_id, entered_in_error=False).first()


@edit_check(
    code="FU-ALIVE-AFTER-DEATH",
    field="contact_date",
    message=_("The subject is recorded alive after the recorded date of death."),
)
def alive_after_death(contact: FollowUpContact) -> bool:
    death = _death(contact.subject_id)
    return contact.alive and death is not None and contact.contact_date > death.death_date


@edit_check(
    code="FU-DEAD-NO-DEATH-FORM",
    field="alive",
    message=_("This contact reports the subject dead: record the death form."),
)
def dead_without_death_form(contact: FollowUpContact) -> bool:
    return not contact.alive and _death(contact.subject_id) is None
