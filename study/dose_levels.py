"""Study build, dose levels and the expected-toxicity list (issue 27 item 1; CLINICAL_SPEC §3.1):
both live in the versioned protocol settings (`ProtocolChoices.dose_levels`,
`.expected_toxicities`); this page edits them on that one mechanism — a new settings version
with an effective date through `study.protocol.publish_settings`, whose re-derivation (the dose
check of infusions, DLT candidates) runs through `crf.rederive.rederive_for_settings`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from clinical import ctcae
from clinical.protocol import DoseLevel
from clinical.units import decimal_text
from study.build import require_admin
from study.models import ProtocolSettings, Site, Study
from study.protocol import publish_settings

if TYPE_CHECKING:
    from study.models import User

MILLION = Decimal("1E6")


def levels_text(levels: Iterable[DoseLevel]) -> str:
    """Dose levels as a reader reads them: "DL1 0.5 (±30%) · DL2 1 (±30%)" (×10⁶ CAR+ cells/kg)."""
    return " · ".join(
        f"{level.code} {decimal_text(level.target_cells_per_kg / MILLION)} (±{decimal_text(level.range_pct)}%)"
        for level in levels
    )


@dataclass(frozen=True)
class LevelPlan:
    """One dose level as typed: its order, code, target in ×10⁶ CAR+ cells/kg and range ± %."""

    order: int
    code: str
    target_millions: Decimal
    range_pct: Decimal


def publish_dose_levels(
    *,
    actor: User,
    study: Study,
    effective_from: date,
    levels: list[LevelPlan],
    expected_toxicities: list[str],
    reason: str,
) -> ProtocolSettings:
    """A new protocol settings version holding these dose levels (in their order) and this
    expected-toxicity list. Refuses (ValidationError by field) no level, a code twice, two
    levels at one order, a target not above zero, a range outside 0–100 %, a term that is not a
    CTCAE v5.0 term, dropping a level subjects are enrolled at, and a missing reason."""
    require_admin(actor, study)
    errors: dict[str, list[str]] = {}
    codes = [level.code.strip() for level in levels]
    if not levels:
        errors["levels"] = [_("Give at least one dose level.")]
    if len(set(codes)) != len(codes):
        errors.setdefault("levels", []).append(_("Each dose level needs its own code."))
    if len({level.order for level in levels}) != len(levels):
        errors.setdefault("levels", []).append(_("Two dose levels have the same order."))
    for level in levels:
        if level.target_millions <= 0:
            errors.setdefault("levels", []).append(
                _("%(code)s: the target dose must be above zero.") % {"code": level.code}
            )
        if not Decimal("0") <= level.range_pct < Decimal("100"):
            errors.setdefault("levels", []).append(
                _("%(code)s: the acceptable range is between 0 and 100 percent.") % {"code": level.code}
            )
    # the enrolled subjects' levels through the sites' reverse relation: subjects/ sits above study/
    enrolled = Site.objects.filter(study=study, subjects__isnull=False).values_list("subjects__dose_level", flat=True)
    in_use = {code for code in enrolled if code}
    dropped = sorted(in_use - set(codes))
    if dropped:
        errors.setdefault("levels", []).append(
            _("Subjects are enrolled at %(codes)s: keep these dose levels.") % {"codes": ", ".join(dropped)}
        )
    terms = []
    for term in expected_toxicities:
        try:
            terms.append(ctcae.term_by_name(term).name)
        except ctcae.UnknownTermError:
            errors.setdefault("expected_toxicities", []).append(
                _("“%(term)s” is not a CTCAE v5.0 term.") % {"term": term}
            )
    if errors:
        raise ValidationError(errors)
    ordered = sorted(levels, key=lambda level: level.order)
    values = {
        "dose_levels": [
            {
                "code": level.code.strip(),
                "target_cells_per_kg": str((level.target_millions * MILLION).normalize()),
                "range_pct": str(level.range_pct.normalize()),
            }
            for level in ordered
        ],
        "expected_toxicities": terms,
    }
    return publish_settings(actor=actor, study=study, effective_from=effective_from, values=values, reason=reason)
