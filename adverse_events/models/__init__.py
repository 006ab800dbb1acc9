"""Safety data models (DESIGN §3 adverse_events/), one module per topic: the AE log, CRS and ICANS
(`ae_crs_icans`), the other cell-therapy toxicities (`toxicities`), DLT candidates (`dlt`) and
safety alerts (`alerts`). Import them from here; pghistory adds each tracked model's event model
to this package."""

from __future__ import annotations

from adverse_events.models.ae_crs_icans import (
    CAPD_RESPONSES,
    RELATED,
    AdverseEvent,
    AeAction,
    AeOutcome,
    CollectionPeriod,
    Consciousness,
    CrsAssessment,
    CrsEpisode,
    EpisodeBase,
    GradeScale,
    IcansAssessment,
    IcansDomainChoice,
    IcansEpisode,
    Instrument,
    MotorFinding,
    RaisedIcp,
    Relationship,
    Seizure,
    Vasopressor,
)
from adverse_events.models.alerts import (
    AlertDelivery,
    AlertKind,
    Channel,
    DeliveryStatus,
    Notification,
    SaeReport,
    SafetyAlert,
    SafetyContacts,
)
from adverse_events.models.dlt import CandidateCriterion, CandidateStatus, DltCandidate, DoseLevelDecision
from adverse_events.models.toxicities import (
    GvhdStaging,
    HospitalStay,
    IcahtDerivation,
    IecHsAssessment,
    IecHsTreatment,
    Infection,
)

__all__ = [
    "CAPD_RESPONSES",
    "RELATED",
    "AdverseEvent",
    "AeAction",
    "AeOutcome",
    "AlertDelivery",
    "AlertKind",
    "CandidateCriterion",
    "CandidateStatus",
    "Channel",
    "CollectionPeriod",
    "Consciousness",
    "CrsAssessment",
    "CrsEpisode",
    "DeliveryStatus",
    "DltCandidate",
    "DoseLevelDecision",
    "EpisodeBase",
    "GradeScale",
    "GvhdStaging",
    "HospitalStay",
    "IcahtDerivation",
    "IcansAssessment",
    "IcansDomainChoice",
    "IcansEpisode",
    "IecHsAssessment",
    "IecHsTreatment",
    "Infection",
    "Instrument",
    "MotorFinding",
    "Notification",
    "RaisedIcp",
    "Relationship",
    "SaeReport",
    "SafetyAlert",
    "SafetyContacts",
    "Seizure",
    "Vasopressor",
]
