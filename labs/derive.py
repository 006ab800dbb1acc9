"""Derived values on lab and vital-sign forms, computed by `clinical/` with the protocol
settings in force on the form's date (DESIGN §4)."""

from __future__ import annotations

from typing import Any

from clinical.crs import hypotension_sbp_threshold
from clinical.schedule import age_in_completed_years
from crf.derivations import register
from labs.models import VitalSigns
from study.protocol import choices_in_force


@register(VitalSigns)
def derive_vital_signs(vs: VitalSigns) -> dict[str, Any]:
    """CLINICAL_SPEC §1.2 h: hypotension is SBP below the protocol's threshold for the age."""
    row, choices = choices_in_force(vs.subject.site.study_id, vs.assessment_date)
    identity = getattr(vs.subject, "identity", None)
    if vs.systolic_bp is None or identity is None:
        return {"hypotension": None, "hypotension_threshold": None, "settings_version": row.version}
    age = age_in_completed_years(identity.date_of_birth, vs.assessment_date)
    threshold = hypotension_sbp_threshold(age_years=age, settings=choices.crs_settings())
    return {
        "hypotension": vs.systolic_bp < threshold,
        "hypotension_threshold": threshold,
        "settings_version": row.version,
    }
