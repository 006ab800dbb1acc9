"""The declarations of the labs forms (crf.declarations): one per form, everything the form
framework reads about it besides its fields."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from crf.declarations import Dependants, declare
from labs import checks, derive, services
from labs.models import LabResult, ReferenceRange, VitalSigns


def panel_entry_page(subject: Any, pk: int | None, visit: str) -> str:
    """Lab results are entered a panel at a time: the generic form URLs of LB lead here."""
    if pk is not None:
        return reverse("labs:panel_edit", kwargs={"subject_pk": subject.pk, "pk": pk})
    query = f"?visit={visit}" if visit.isdigit() else ""
    return reverse("labs:choose_panel", kwargs={"subject_pk": subject.pk}) + query


def panel_collection(result: LabResult) -> tuple[object, ...]:
    """The casebook shows one entry per collection of a panel, not one per analyte."""
    return (result.panel, result.collected_on, result.collected_time)


declare(
    VitalSigns,
    api_resource="vital-signs",
    derive=derive.derive_vital_signs,
    checks=(
        checks.diastolic_not_below_systolic,
        checks.temperature_implausible,
        checks.flow_on_room_air,
        checks.cannula_without_flow,
        checks.vital_signs_before_consent,
    ),
    dependants=(Dependants(through=services.rederive_fever_course, forms=(VitalSigns,)),),
)

declare(
    LabResult,
    api_resource="lab-results",
    entry_page=panel_entry_page,
    casebook_group=panel_collection,
    derive=derive.derive_lab_result,
    # derived from clinical.units and the site's reference ranges, not the protocol settings
    derived_from_protocol_settings=False,
    checks=(checks.lab_value_implausible,),
)

# Not a form: a changed range re-derives the results it judges, in its own service.
declare(
    ReferenceRange,
    dependants=(Dependants(through=services.record_reference_range, forms=(LabResult,), on_save=False),),
)
