"""The declarations of the subject's forms (crf.declarations): one per form, everything the
form framework reads about it besides its fields."""

from __future__ import annotations

from crf.declarations import EVERY_DERIVED_FORM, Dependants, declare
from subjects import checks, crf_forms, derive
from subjects.models import (
    BridgingTherapy,
    CellCollection,
    ConcomitantMedication,
    Demographics,
    DiseaseHistory,
    EligibilityAssessment,
    InformedConsent,
    Infusion,
    Lymphodepletion,
    MedicalHistory,
    PerformanceStatus,
    PriorTherapy,
    ProtocolDeviation,
    Subject,
    Visit,
)
from subjects.services import subject as services
from subjects.services import treatment

declare(
    InformedConsent,
    api_resource="consents",
    lifecycle=True,
    moves_subject=True,
    dependants=(Dependants(through=services.consent_date_moves_screening),),
)

declare(EligibilityAssessment, api_resource="eligibility", lifecycle=True, moves_subject=True)

declare(
    Demographics,
    api_resource="demographics",
    checks=(checks.demographics_before_consent, checks.age_differs_from_date_of_birth),
)

declare(PerformanceStatus, api_resource="performance-status", checks=(checks.performance_status_before_consent,))

declare(MedicalHistory, api_resource="medical-history")

declare(DiseaseHistory, api_resource="disease-history")

declare(PriorTherapy, api_resource="prior-therapies")

declare(CellCollection, api_resource="cell-collections", checks=(checks.collection_before_consent,))

declare(BridgingTherapy, api_resource="bridging-therapies", checks=(checks.bridging_before_consent,))

declare(
    Lymphodepletion,
    api_resource="lymphodepletions",
    moves_subject=True,
    save_service=treatment.record_lymphodepletion,
    checks=(checks.lymphodepletion_before_consent,),
)

declare(
    Infusion,
    api_resource="infusions",
    moves_subject=True,
    derive=derive.derive_infusion,
    save_service=treatment.record_infusion,
    checks=(checks.dose_out_of_range, checks.infusion_before_consent),
    dependants=(
        # day 0 moves the visits and the study days of every derived form (crf.derivations),
        # inside the save service; what the apps above count from day 0 (the CRS and ICANS
        # courses, ICAHT, the DLT candidates) they declare with crf.declarations.extend
        Dependants(through=treatment.reanchor_day0, forms=(Visit, EVERY_DERIVED_FORM), on_save=False),
        Dependants(through=treatment._infusion_entered_in_error),
    ),
)

declare(
    ConcomitantMedication,
    api_resource="concomitant-medications",
    form_base=crf_forms.ConcomitantMedicationFormBase,
    checks=(checks.conmed_category_differs_from_atc,),
)

declare(ProtocolDeviation, api_resource="protocol-deviations", checks=(checks.important_deviation_without_action,))

# Not forms: a visit carries its out-of-window check; a new dose level re-derives the infusions.
declare(Visit, checks=(checks.visit_out_of_window,))
declare(
    Subject,
    dependants=(Dependants(through=treatment.rederive_infusions, forms=(Infusion,), on_save=False),),
)
