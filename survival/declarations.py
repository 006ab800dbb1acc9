"""The declarations of the survival forms (crf.declarations): one per form, everything the
form framework reads about it besides its fields."""

from __future__ import annotations

from crf.declarations import Dependants, declare
from survival import checks, services
from survival.models import Death, FollowUpContact, SubsequentTherapy

declare(
    Death,
    api_resource="deaths",
    moves_subject=True,
    save_service=services.record_death,
    dependants=(Dependants(through=services._death_entered_in_error),),
)

declare(
    FollowUpContact,
    api_resource="follow-ups",
    save_service=services.record_follow_up,
    checks=(checks.alive_after_death, checks.dead_without_death_form),
)

declare(
    SubsequentTherapy,
    api_resource="subsequent-therapies",
    save_service=services.record_subsequent_therapy,
)
