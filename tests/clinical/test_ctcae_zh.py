"""The project's Chinese names for CTCAE terms and SOCs (issue 25 item 4; docs/ctcae-chinese-
synonyms.md): every listed term is a CTCAE v5.0 term, at least 80 of them, every SOC has a
Chinese label, and the search finds terms by Chinese name or synonym. No database."""

from __future__ import annotations

import pytest

from clinical import ctcae, ctcae_zh

pytestmark = pytest.mark.req("ISSUE-25")


def test_every_listed_term_is_a_ctcae_term_and_there_are_at_least_80():
    listed = ctcae_zh.terms_with_chinese()
    assert len(listed) == 119
    for name in listed:
        assert ctcae.term_by_name(name).name == name
        assert ctcae_zh.chinese_name(name)


def test_every_soc_has_a_chinese_label():
    socs = {term.soc for term in ctcae.all_terms()}
    assert len(socs) == 26
    assert socs == set(ctcae_zh.SOC_ZH)


@pytest.mark.parametrize(
    ("query", "first", "also"),
    [
        ("发热", "Fever", {"Febrile neutropenia"}),
        ("发热性中性", "Febrile neutropenia", set()),
        ("粒缺", "Neutrophil count decreased", {"Febrile neutropenia"}),
        ("转氨酶升高", "Alanine aminotransferase increased", {"Aspartate aminotransferase increased"}),
        ("CRS", "Cytokine release syndrome", set()),
        # ICANS is coded "Nervous system disorders - Other, specify" (CLINICAL_SPEC §2.3)
        ("ICANS", "Nervous system disorders - Other, specify", set()),
        ("神经毒性", "Nervous system disorders - Other, specify", set()),
    ],
)
def test_search_by_chinese_name_or_synonym(query, first, also):
    found = ctcae_zh.search_chinese(query)
    assert found[0] == first
    assert also <= set(found)


def test_nothing_for_blank_or_unknown():
    assert ctcae_zh.search_chinese("  ") == ()
    assert ctcae_zh.search_chinese("不存在的词") == ()


def test_the_other_specify_terms_of_icans_and_iec_hs_read_in_chinese():
    """The ICANS episode page shows the AE's term; a Chinese reader saw it in English only."""
    assert ctcae_zh.chinese_name("Nervous system disorders - Other, specify") == "各类神经系统疾病-其他（请注明）"
    # and the one the demo codes acute GvHD under (demo/safety.py), on the safety dashboard's AE table
    assert ctcae_zh.chinese_name("Immune system disorders - Other, specify") == "免疫系统疾病-其他（请注明）"
