"""The project's Chinese names for CTCAE terms and SOCs (issue 25 item 4; docs/ctcae-chinese-
synonyms.md): every listed term is a CTCAE v5.0 term, at least 80 of them, every SOC has a
Chinese label, and the search finds terms by Chinese name or synonym. No database."""

from __future__ import annotations

import pytest

from clinical import ctcae, ctcae_zh

pytestmark = pytest.mark.req("ISSUE-25")


def test_every_listed_term_is_a_ctcae_term_and_there_are_at_least_80():
    listed = ctcae_zh.terms_with_chinese()
    assert len(listed) == 117
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
    ],
)
def test_search_by_chinese_name_or_synonym(query, first, also):
    found = ctcae_zh.search_chinese(query)
    assert found[0] == first
    assert also <= set(found)


def test_nothing_for_blank_or_unknown():
    assert ctcae_zh.search_chinese("  ") == ()
    assert ctcae_zh.search_chinese("不存在的词") == ()
