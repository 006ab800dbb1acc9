"""Study configuration models (DESIGN §3 study/): users, studies, sites, memberships, visit
definitions, dose levels and protocol settings (`configuration`), and the versioned visit timing
of the study build (`visit_schedule`). Import them from here; pghistory adds each tracked model's
event model to this package."""

from __future__ import annotations

from study.models.configuration import (
    LANGUAGE_CHOICES,
    AccountEvent,
    AssessmentSchedule,
    DoseLevelName,
    Membership,
    ProtocolSettings,
    ProtocolVersion,
    Rederivation,
    Site,
    Study,
    User,
    VisitDefinition,
)
from study.models.visit_schedule import VisitSchedule

__all__ = [
    "LANGUAGE_CHOICES",
    "AccountEvent",
    "AssessmentSchedule",
    "DoseLevelName",
    "Membership",
    "ProtocolSettings",
    "ProtocolVersion",
    "Rederivation",
    "Site",
    "Study",
    "User",
    "VisitDefinition",
    "VisitSchedule",
]
