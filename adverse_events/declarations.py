"""The declarations of the safety forms (crf.declarations): one per form, everything the form
framework reads about it besides its fields; then, with `extend`, what the safety forms derive
from the forms of the apps below (a lab result, an infusion, a death…), which those apps cannot
name (issue 23: imports run down the layers)."""

from __future__ import annotations

from adverse_events import checks, day0, derive, forms, toxicity_derive
from adverse_events.models import (
    AdverseEvent,
    CrsAssessment,
    CrsEpisode,
    DltCandidate,
    GvhdStaging,
    HospitalStay,
    IcahtDerivation,
    IcansAssessment,
    IcansEpisode,
    IecHsAssessment,
    Infection,
)
from adverse_events.services import ae_crs_icans as services
from adverse_events.services import alerts as alert_services
from adverse_events.services import dlt as dlt_services
from adverse_events.services import icaht as icaht_services
from crf.declarations import Dependants, declare, extend
from labs.models import LabResult, VitalSigns
from response.models import MarrowAssessment, Relapse
from subjects.models import ConcomitantMedication, Infusion
from survival.models import Death, SubsequentTherapy

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
    rederived_by_course=True,
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
    rederived_by_course=True,
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

# What the safety forms derive from the forms below them, run after each save of those forms
# (their own dependants first). The DLT candidates (§3.1) read labs, marrow responses, deaths and
# subsequent therapies; ICAHT (§4.1) the ANC results, day 0 and relapses; the CRS course (§1.2 b,
# §1.3) the fever-masking con-meds, the vital signs its forms copied, and a death from CRS/ICANS.
extend(
    LabResult,
    checks=(checks.lab_grade_without_ae,),
    dependants=(
        Dependants(through=dlt_services._inputs_changed),
        Dependants(through=icaht_services._anc_changed, forms=(IcahtDerivation,)),
    ),
)
extend(
    VitalSigns,
    dependants=(Dependants(through=services._copied_vitals_corrected, forms=(CrsAssessment,)),),
)
extend(
    ConcomitantMedication,
    dependants=(Dependants(through=services._conmed_changed, forms=(CrsAssessment, CrsEpisode, AdverseEvent)),),
)
extend(
    Infusion,
    dependants=(
        # day 0 moved: the courses, ICAHT and the DLT candidates, inside the infusion's save
        # service (subjects.services.treatment.reanchor_day0 → subjects.hooks.day0_moved)
        Dependants(
            through=day0.rederive_from_day0,
            forms=(
                CrsAssessment,
                CrsEpisode,
                IcansAssessment,
                IcansEpisode,
                AdverseEvent,
                IcahtDerivation,
                DltCandidate,
            ),
            on_save=False,
        ),
        Dependants(through=dlt_services._inputs_changed),
        Dependants(through=icaht_services._icaht_input_changed, forms=(IcahtDerivation,)),
    ),
)
extend(MarrowAssessment, dependants=(Dependants(through=dlt_services._inputs_changed),))
extend(Relapse, dependants=(Dependants(through=icaht_services._icaht_input_changed, forms=(IcahtDerivation,)),))
extend(
    Death,
    dependants=(
        Dependants(through=services._death_changed, forms=(CrsEpisode, IcansEpisode, AdverseEvent)),
        Dependants(through=dlt_services._inputs_changed),
    ),
)
extend(SubsequentTherapy, dependants=(Dependants(through=dlt_services._inputs_changed),))
