"""The declarations of the safety forms (crf.declarations): one per form, everything the form
framework reads about it besides its fields."""

from __future__ import annotations

from adverse_events import alert_services, checks, derive, dlt_services, forms, services, toxicity_derive
from adverse_events.models import (
    AdverseEvent,
    CrsAssessment,
    CrsEpisode,
    GvhdStaging,
    HospitalStay,
    IcansAssessment,
    IcansEpisode,
    IecHsAssessment,
    Infection,
)
from crf.declarations import Dependants, declare

declare(
    AdverseEvent,
    api_resource="adverse-events",
    derive=derive.derive_adverse_event,
    save_service=services.record_adverse_event,
    form_base=forms.AdverseEventFormBase,
    checks=(checks.outside_collection_period, checks.screen_failure_non_serious),
    dependants=(
        Dependants(through=checks._ae_changed_lab_checks, forms=("labs.LabResult",)),
        Dependants(through=alert_services._sae_recorded),
        Dependants(through=dlt_services._inputs_changed),
    ),
)

declare(
    CrsAssessment,
    api_resource="crs-assessments",
    live_grade_url_name="adverse_events:crs_live_grade",
    derive=derive.derive_crs_assessment,
    save_service=services.record_crs_assessment,
    form_base=forms.CrsAssessmentFormBase,
    dependants=(
        # the course (assessments, episodes, their AEs) re-derives inside the save service
        Dependants(
            through=services.rederive_crs_course, forms=(CrsAssessment, CrsEpisode, AdverseEvent), on_save=False
        ),
        Dependants(through=alert_services._crs_severe),
        Dependants(through=services._crs_assessment_removed),
        Dependants(through=dlt_services._inputs_changed),
    ),
)

declare(
    IcansAssessment,
    api_resource="icans-assessments",
    live_grade_url_name="adverse_events:icans_live_grade",
    derive=derive.derive_icans_assessment,
    save_service=services.record_icans_assessment,
    form_base=forms.IcansAssessmentFormBase,
    dependants=(
        Dependants(
            through=services.rederive_icans_course, forms=(IcansAssessment, IcansEpisode, AdverseEvent), on_save=False
        ),
        Dependants(through=alert_services._icans_severe),
        Dependants(through=services._icans_assessment_removed),
        Dependants(through=dlt_services._inputs_changed),
    ),
)

declare(
    IecHsAssessment,
    api_resource="iec-hs-assessments",
    derive=toxicity_derive.derive_iec_hs,
    derived_from_protocol_settings=False,
    form_base=forms.IecHsFormBase,
)

declare(
    GvhdStaging,
    api_resource="gvhd-stagings",
    live_grade_url_name="adverse_events:gvhd_live_grade",
    derive=toxicity_derive.derive_gvhd_staging,
    form_base=forms.GvhdStagingFormBase,
    dependants=(Dependants(through=dlt_services._inputs_changed),),
)

declare(
    Infection,
    api_resource="infections",
    derive=toxicity_derive.derive_infection,
    derived_from_protocol_settings=False,
    form_base=forms.InfectionFormBase,
)

declare(
    HospitalStay,
    api_resource="hospital-stays",
    derive=toxicity_derive.derive_hospital_stay,
    derived_from_protocol_settings=False,
)

# Not forms: the episodes carry the grade-in-source checks; an adjudication re-derives the AE.
declare(
    CrsEpisode,
    checks=(checks.crs_source_grade_differs,),
    dependants=(Dependants(through=services.adjudicate_episode, forms=(AdverseEvent,), on_save=False),),
)
declare(IcansEpisode, checks=(checks.icans_source_grade_differs,))
