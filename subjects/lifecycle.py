"""The subject lifecycle as data (issue 4 item 2): statuses, the events that move a subject
between them, and the one transition table. Pure: no database; `subjects.services.subject` applies it
and writes the status with its audit row.

consent → screening → (eligibility) → enrolled → lymphodepleted → infused → in follow-up →
completed, with the exits: screen failure (from screening), enrolled but not infused (before
infusion), withdrawn / died / lost to follow-up (after infusion). A withdrawn subject whose
survival follow-up continues may still be recorded as died.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    SCREENING = "screening", _("Screening")
    SCREEN_FAILED = "screen_failed", _("Screen failure")
    ENROLLED = "enrolled", _("Enrolled")
    LYMPHODEPLETED = "lymphodepleted", _("Lymphodepleted")
    INFUSED = "infused", _("Infused")
    FOLLOW_UP = "follow_up", _("In follow-up")
    COMPLETED = "completed", _("Completed")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    DIED = "died", _("Died")
    LOST_TO_FOLLOW_UP = "lost", _("Lost to follow-up")
    NOT_INFUSED = "not_infused", _("Enrolled but not infused")


def statuses() -> type[Status]:
    """The status vocabulary, for the apps below that read subjects (`datamanagement.hooks
    .subject_statuses`: the sponsor's reports count subjects by status and screen failure)."""
    return Status


class Event(StrEnum):
    ENROL = "enrol"
    FAIL_SCREENING = "fail_screening"
    LYMPHODEPLETE = "lymphodeplete"
    INFUSE = "infuse"
    START_FOLLOW_UP = "start_follow_up"
    COMPLETE = "complete"
    NOT_INFUSED = "not_infused"
    WITHDRAW = "withdraw"
    DIE = "die"
    LOSE_TO_FOLLOW_UP = "lose_to_follow_up"


EVENT_LABELS = {
    Event.ENROL: _("Enrol"),
    Event.FAIL_SCREENING: _("Screen failure"),
    Event.LYMPHODEPLETE: _("Lymphodepletion started"),
    Event.INFUSE: _("Infused"),
    Event.START_FOLLOW_UP: _("Follow-up started"),
    Event.COMPLETE: _("Study completed"),
    Event.NOT_INFUSED: _("Not infused"),
    Event.WITHDRAW: _("Withdrawn"),
    Event.DIE: _("Died"),
    Event.LOSE_TO_FOLLOW_UP: _("Lost to follow-up"),
}


class NotInfusedReason(models.TextChoices):
    MANUFACTURING_FAILURE = "manufacturing_failure", _("Manufacturing failure")
    OUT_OF_SPECIFICATION = "out_of_specification", _("Product out of specification")
    PROGRESSION = "progression", _("Disease progression")
    DEATH = "death", _("Death")
    INFECTION = "infection", _("Infection")
    WITHDRAWAL = "withdrawal", _("Withdrawal")


_S = Status
#: (status now, event) → status after. Anything not listed is refused.
TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (_S.SCREENING, Event.ENROL): _S.ENROLLED,
    (_S.SCREENING, Event.FAIL_SCREENING): _S.SCREEN_FAILED,
    (_S.ENROLLED, Event.LYMPHODEPLETE): _S.LYMPHODEPLETED,
    (_S.ENROLLED, Event.NOT_INFUSED): _S.NOT_INFUSED,
    (_S.LYMPHODEPLETED, Event.INFUSE): _S.INFUSED,
    (_S.LYMPHODEPLETED, Event.NOT_INFUSED): _S.NOT_INFUSED,
    (_S.INFUSED, Event.START_FOLLOW_UP): _S.FOLLOW_UP,
    (_S.INFUSED, Event.WITHDRAW): _S.WITHDRAWN,
    (_S.INFUSED, Event.DIE): _S.DIED,
    (_S.INFUSED, Event.LOSE_TO_FOLLOW_UP): _S.LOST_TO_FOLLOW_UP,
    (_S.FOLLOW_UP, Event.COMPLETE): _S.COMPLETED,
    (_S.FOLLOW_UP, Event.WITHDRAW): _S.WITHDRAWN,
    (_S.FOLLOW_UP, Event.DIE): _S.DIED,
    (_S.FOLLOW_UP, Event.LOSE_TO_FOLLOW_UP): _S.LOST_TO_FOLLOW_UP,
    (_S.WITHDRAWN, Event.DIE): _S.DIED,  # only while survival follow-up continues (services)
    (_S.LOST_TO_FOLLOW_UP, Event.DIE): _S.DIED,  # a subject lost, then found to have died (issue 30)
}

#: Statuses from which a new consent version may still be recorded.
RECONSENT_ALLOWED = frozenset({_S.SCREENING, _S.ENROLLED, _S.LYMPHODEPLETED, _S.INFUSED, _S.FOLLOW_UP})


class TransitionRefused(ValueError):
    def __init__(self, status: Status, event: Event) -> None:
        super().__init__(f"{event} is not allowed from {status}")
        self.status = status
        self.event = event


def next_status(status: Status | str, event: Event | str) -> Status:
    """The status after `event`; TransitionRefused when the table has no such step."""
    key = (Status(status), Event(event))
    if key not in TRANSITIONS:
        raise TransitionRefused(*key)
    return TRANSITIONS[key]


def allowed_events(status: Status | str) -> list[Event]:
    """The events the table allows from `status`, in the table's order."""
    return [event for (source, event) in TRANSITIONS if source == Status(status)]
