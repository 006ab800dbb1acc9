"""ATC code format and the category it pre-fills (CLINICAL_SPEC §1.2 b, issue 5 item 2)."""

from __future__ import annotations

import pytest

from clinical.conmeds import FEVER_MASKING, MedicationCategory, category_for_atc, is_valid_atc, normalise_atc

pytestmark = pytest.mark.req("CLINICAL_SPEC-1.2b")


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("N02BE01", "antipyretic"),  # paracetamol
        ("N02BE", "antipyretic"),  # the anilides group itself
        ("M01AE01", "antipyretic"),  # ibuprofen
        ("M01A", "antipyretic"),
        ("L04AC07", "tocilizumab"),
        ("H02AB02", "corticosteroid"),  # dexamethasone
        ("H02AB04", "corticosteroid"),  # methylprednisolone
        ("C01CA03", "vasopressor"),  # norepinephrine
        ("C01CA24", "vasopressor"),  # epinephrine
        ("n02be01", "antipyretic"),  # typed in lower case
        (" N02B E01 ", "antipyretic"),  # stray spaces
        ("L04AC", None),  # interleukin inhibitors: could be anakinra, no suggestion
        ("L04AC03", None),  # anakinra is not tocilizumab
        ("N02B", None),  # shorter than the listed prefix: may hold other analgesics
        ("N02BA01", None),  # aspirin (salicylates) is not in the list
        ("M01", None),  # not M01A
        ("H02AA02", None),  # fludrocortisone, a mineralocorticoid
        ("C01CX08", None),  # levosimendan: other cardiac stimulant
        ("J01DH02", None),  # meropenem: antimicrobials are not pre-filled
        ("", None),
        ("X02BE01", None),  # malformed: no such anatomical group
        ("N02BE011", None),  # too long
    ],
)
def test_category_for_atc(code, category):
    found = category_for_atc(code)
    assert (None if found is None else found.value) == category


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("N", True),
        ("N02", True),
        ("N02B", True),
        ("N02BE", True),
        ("N02BE01", True),
        ("n02be01", True),
        ("N2", False),
        ("N02B1", False),
        ("N02BE1", False),
        ("N02BE011", False),
        ("02BE01", False),
        ("Q02BE01", False),  # Q is veterinary ATCvet, not human ATC
        ("N02-BE01", False),
        ("", False),
    ],
)
def test_atc_format(code, valid):
    assert is_valid_atc(code) is valid


def test_normalise_removes_spaces_and_upper_cases():
    assert normalise_atc(" h02 ab02 ") == "H02AB02"


def test_only_antipyretics_tocilizumab_and_corticosteroids_mask_fever():
    """CLINICAL_SPEC §1.2 b names exactly these three."""
    assert {c.value for c in FEVER_MASKING} == {"antipyretic", "tocilizumab", "corticosteroid"}
    assert MedicationCategory.ANAKINRA not in FEVER_MASKING
