"""Subjects' models (DESIGN §3 subjects/), one module per topic: the subject, its identity record,
visits, consent, eligibility, lymphodepletion and infusion (`subject`), the baseline forms
(`baseline`), concomitant medications (`conmeds`) and protocol deviations (`deviations`).
Import them from here; pghistory adds each tracked model's event model to this package."""

from __future__ import annotations

from subjects.models.baseline import (
    BridgingTherapy,
    CellCollection,
    CnsStatus,
    Demographics,
    Diagnosis,
    DiseaseHistory,
    DiseaseStatus,
    MedicalHistory,
    PerformanceStatus,
    PriorTherapy,
    Sex,
    subject_age_on,
)
from subjects.models.conmeds import ConcomitantMedication, ConmedCategory, DoseUnit, Route
from subjects.models.deviations import DeviationCategory, ProtocolDeviation
from subjects.models.subject import (
    EligibilityAssessment,
    EnrolmentAcknowledgement,
    ExpectedFormNotDone,
    IdentityRecord,
    InformedConsent,
    Infusion,
    Lymphodepletion,
    ProductSource,
    ProductState,
    SiteSequence,
    Subject,
    Visit,
    first_consent_date,
)

__all__ = [
    "BridgingTherapy",
    "CellCollection",
    "CnsStatus",
    "ConcomitantMedication",
    "ConmedCategory",
    "Demographics",
    "DeviationCategory",
    "Diagnosis",
    "DiseaseHistory",
    "DiseaseStatus",
    "DoseUnit",
    "EligibilityAssessment",
    "EnrolmentAcknowledgement",
    "ExpectedFormNotDone",
    "IdentityRecord",
    "InformedConsent",
    "Infusion",
    "Lymphodepletion",
    "MedicalHistory",
    "PerformanceStatus",
    "PriorTherapy",
    "ProductSource",
    "ProductState",
    "ProtocolDeviation",
    "Route",
    "Sex",
    "SiteSequence",
    "Subject",
    "Visit",
    "first_consent_date",
    "subject_age_on",
]
