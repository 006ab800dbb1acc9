"""System messages stored as a code plus parameters, rendered in the reader's language
(issue 25 item 3): an automatic query raised while working in English reads in Chinese for a
Chinese reader; the stored code and parameters are the audited truth."""

from __future__ import annotations

import pytest
from django.utils import translation

from crf.models import Query, QueryStep
from trialsite import system_text

pytestmark = pytest.mark.req("ISSUE-25")

DBP_EN = "Diastolic pressure is not below systolic pressure. Please check both values."
DBP_ZH = "舒张压不低于收缩压，请核对这两项数值。"


def test_an_automatic_query_raised_in_english_reads_in_chinese(crf_ready, save_vs, users_a, login, client):
    with translation.override("en"):
        save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    query = Query.objects.get()
    assert (query.text_code, query.text_params, query.text) == (DBP_EN, {}, DBP_EN)
    assert QueryStep.objects.get(query=query).text_code == DBP_EN

    monitor = users_a["monitor"]
    monitor.language = "zh-hans"
    monitor.save(update_fields=["language"])
    login(monitor)
    for url in (f"/data/queries/{query.pk}/", "/data/queries/"):
        page = client.get(url).content.decode()
        assert DBP_ZH in page, url
        assert DBP_EN not in page, url


def test_raised_in_chinese_stored_as_the_same_code(crf_ready, save_vs):
    with translation.override("zh-hans"):
        save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    assert Query.objects.get().text_code == DBP_EN


def test_codes_render_with_parameters_in_each_language():
    code, params = system_text.compose(
        "SAE, subject %(subject)s: %(term)s grade %(grade)s, onset %(onset)s",
        subject="A-001",
        term="Fever",
        grade=3,
        onset="2026-12-05",
    )
    with translation.override("en"):
        assert system_text.render(code, params) == "SAE, subject A-001: Fever grade 3, onset 2026-12-05"
    with translation.override("zh-hans"):
        chinese = system_text.render(code, params)
    assert chinese != system_text.render(code, params) and "A-001" in chinese and "Fever" in chinese


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_text_written_before_codes_reads_back_to_its_code(language):
    """What the data migrations rely on: a stored text, English or Chinese, gives its code."""
    msgid = "SAE, subject %(subject)s: %(term)s grade %(grade)s, onset %(onset)s"
    params = {"subject": "A-001", "term": "Febrile neutropenia", "grade": 3, "onset": "2026-12-05"}
    with translation.override(language):
        written = system_text.render(msgid, params)
    assert system_text.parse(written, candidates=(msgid,)) == (msgid, params)
    with translation.override(language):
        assert system_text.code_of(translation.gettext(DBP_EN)) == DBP_EN


def test_a_system_reason_reads_in_the_reader_language_a_person_reason_as_written():
    with translation.override("zh-hans"):
        assert system_text.in_reader_language("Source data verified") == "源数据已核查"
        assert system_text.in_reader_language("源数据已核查") == "源数据已核查"
    with translation.override("en"):
        assert system_text.in_reader_language("Source data verified") == "Source data verified"
        assert system_text.in_reader_language("源数据已核查") in ("Source data verified", "Source-verified")
    assert system_text.in_reader_language("corrected from chart") == "corrected from chart"
