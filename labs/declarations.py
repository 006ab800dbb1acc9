"""The declarations of the labs forms (crf.declarations): one per form, everything the form
framework reads about it besides its fields."""

from __future__ import annotations

from adverse_events import checks as safety_checks
from adverse_events import dlt_services, icaht_services
from adverse_events import services as safety_services
from crf.declarations import Dependants, declare
from labs import checks, derive, services
from labs.models import LabResult, ReferenceRange, VitalSigns

declare(
    VitalSigns,
    derive=derive.derive_vital_signs,
    checks=(
        checks.diastolic_not_below_systolic,
        checks.temperature_implausible,
        checks.flow_on_room_air,
        checks.cannula_without_flow,
        checks.vital_signs_before_consent,
    ),
    dependants=(
        Dependants(through=services.rederive_fever_course, forms=(VitalSigns,)),
        Dependants(through=safety_services._copied_vitals_corrected, forms=("adverse_events.CrsAssessment",)),
    ),
)

declare(
    LabResult,
    derive=derive.derive_lab_result,
    # derived from clinical.units and the site's reference ranges, not the protocol settings
    derived_from_protocol_settings=False,
    checks=(checks.lab_value_implausible, safety_checks.lab_grade_without_ae),
    dependants=(
        Dependants(through=dlt_services._inputs_changed),
        Dependants(through=icaht_services._anc_changed, forms=("adverse_events.IcahtDerivation",)),
    ),
)

# Not a form: a changed range re-derives the results it judges, in its own service.
declare(
    ReferenceRange,
    dependants=(Dependants(through=services.record_reference_range, forms=(LabResult,), on_save=False),),
)
