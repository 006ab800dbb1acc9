"""Edit checks on marrow assessments: a value exactly at a §5.1 threshold raises an automatic
query on that field until an investigator adjudicates the response (CLINICAL_SPEC §5.1: "a value
exactly at a threshold is flagged for investigator adjudication whatever the setting")."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crf.checks import edit_check
from response.models import MarrowAssessment

BOUNDARY_RULE = "MA-AT-THRESHOLD"
BOUNDARY_MESSAGE = _(
    "This value is exactly at a response threshold: the derived response awaits an investigator's adjudication."
)


def _at_threshold(field: str):  # type: ignore[no-untyped-def]
    def fires(ma: MarrowAssessment) -> bool:
        return ma.needs_adjudication and any(b.get("field") == field for b in ma.boundary or [])

    return fires


#: one check per §5.1 threshold field, for the marrow assessment's declaration
AT_THRESHOLD = tuple(
    edit_check(code=BOUNDARY_RULE, field=field, message=BOUNDARY_MESSAGE)(_at_threshold(field))
    for field in ("marrow_blasts_pct", "peripheral_blasts_pct", "anc", "platelets")
)
