"""Concomitant medications: the ATC code's format and the medication category it suggests
(CLINICAL_SPEC §1.2 b).

The category decides CRS fever masking, so it is the coordinator's choice on the form. An ATC
code, when given, only pre-fills it (the coordinator may override); the verbatim medication
name is never read. Codes follow the WHO ATC levels: anatomical group (1 letter), therapeutic
subgroup (2 digits), pharmacological and chemical subgroups (1 letter each), substance
(2 digits); a code may stop at any level (e.g. `H02AB` for glucocorticoids).
"""

from __future__ import annotations

import re
from enum import StrEnum


class MedicationCategory(StrEnum):
    """The con-med categories (CLINICAL_SPEC §1.2 b, §4.2); the form's choices use these values."""

    ANTIPYRETIC = "antipyretic"
    TOCILIZUMAB = "tocilizumab"
    CORTICOSTEROID = "corticosteroid"
    ANAKINRA = "anakinra"
    VASOPRESSOR = "vasopressor"
    ANTIMICROBIAL = "antimicrobial"
    GCSF = "gcsf"
    TRANSFUSION = "transfusion"
    OTHER = "other"


#: Exposure to these ends the fever requirement of an ongoing CRS episode (CLINICAL_SPEC §1.2 b).
FEVER_MASKING = frozenset(
    {MedicationCategory.ANTIPYRETIC, MedicationCategory.TOCILIZUMAB, MedicationCategory.CORTICOSTEROID}
)

#: ATC prefixes that pre-fill a category (issue 5): N02BE anilides (paracetamol) and M01A
#: NSAIDs → antipyretic; L04AC07 tocilizumab; H02AB glucocorticoids; C01CA adrenergic and
#: dopaminergic agents (noradrenaline, adrenaline, dopamine, phenylephrine…) → vasopressor.
#: Longest prefix wins, so a more specific entry may be added without reordering.
ATC_PREFIXES: dict[str, MedicationCategory] = {
    "N02BE": MedicationCategory.ANTIPYRETIC,
    "M01A": MedicationCategory.ANTIPYRETIC,
    "L04AC07": MedicationCategory.TOCILIZUMAB,
    "H02AB": MedicationCategory.CORTICOSTEROID,
    "C01CA": MedicationCategory.VASOPRESSOR,
}

#: The 14 anatomical main groups of the WHO ATC classification.
ANATOMICAL_GROUPS = "ABCDGHJLMNPRSV"

_ATC = re.compile(rf"[{ANATOMICAL_GROUPS}](?:\d{{2}}(?:[A-Z](?:[A-Z](?:\d{{2}})?)?)?)?")


def normalise_atc(code: str) -> str:
    """Upper case, spaces removed: `n02be 01` → `N02BE01`."""
    return "".join(code.split()).upper()


def is_valid_atc(code: str) -> bool:
    """True for a well-formed ATC code of any level (`N`, `N02`, `N02B`, `N02BE`, `N02BE01`),
    after `normalise_atc`. Whether the code exists in the WHO index is not checked."""
    return _ATC.fullmatch(normalise_atc(code)) is not None


def category_for_atc(code: str) -> MedicationCategory | None:
    """The category an ATC code suggests (longest matching prefix), or None: no suggestion for
    an empty, malformed or unlisted code. A code shorter than a listed prefix (`N02B`) does not
    match it: it may hold other substances."""
    normalised = normalise_atc(code)
    if not is_valid_atc(normalised):
        return None
    matches = [prefix for prefix in ATC_PREFIXES if normalised.startswith(prefix)]
    if not matches:
        return None
    return ATC_PREFIXES[max(matches, key=len)]
