"""Derived values on lab and vital-sign forms, computed by `clinical/` with the protocol
settings in force on the form's date (DESIGN §4)."""

from __future__ import annotations

from datetime import date
from typing import Any

from clinical.protocol import hypotension_threshold
from crf.derivations import register
from labs.models import VitalSigns
from study.protocol import choices_in_force


def age_in_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@register(VitalSigns)
def derive_vital_signs(vs: VitalSigns) -> dict[str, Any]:
    """CLINICAL_SPEC §1.2 h: hypotension is SBP below the protocol's threshold for the age."""
    row, choices = choices_in_force(vs.subject.site.study_id, vs.assessment_date)
    identity = getattr(vs.subject, "identity", None)
    if vs.systolic_bp is None or identity is None:
        return {"hypotension": None, "hypotension_threshold": None, "settings_version": row.version}
    threshold = hypotension_threshold(choices, age_in_years(identity.date_of_birth, vs.assessment_date))
    return {
        "hypotension": vs.systolic_bp < threshold,
        "hypotension_threshold": threshold,
        "settings_version": row.version,
    }
