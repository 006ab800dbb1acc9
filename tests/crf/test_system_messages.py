"""System messages stored as a code plus parameters, rendered in the reader's language
(issue 25 item 3): an automatic query raised while working in English reads in Chinese for a
Chinese reader; the stored code and parameters are the audited truth."""

from __future__ import annotations

import pytest
from django.utils import translation

from crf.models import Query, QueryStep
from study import system_text

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


def test_a_system_audit_reason_is_stored_as_code_and_read_in_each_language(study):
    """Issue 25 item 3: a reason the system writes is stored as its code and parameters beside
    its English text; the history renders it in the reader's language, nested messages and
    choice labels included, whatever the language of the request that wrote it."""
    from crf.display import reason_text
    from study.audit_context import audit_context
    from subjects.models import ConcomitantMedication

    category = dict(ConcomitantMedication._meta.get_field("category").flatchoices)["antipyretic"]
    with translation.override("zh-hans"):  # written while working in Chinese
        reason = system_text.message(
            "re-derived: %(what)s",
            what=system_text.message(
                "concomitant medication %(category)s from %(date)s %(change)s",
                category=category,
                date="2026-03-20",
                change=system_text.message("saved"),
            ),
        )
        with audit_context(user=None, reason=reason):
            study.phase = "I/II"
            study.save()
    (event,) = study.events.filter(pgh_label="update")
    context = event.pgh_context
    assert (
        context["reason"] == "re-derived: concomitant medication Antipyretic (paracetamol, NSAID) from 2026-03-20 saved"
    )
    assert context["reason_code"] == "re-derived: %(what)s"
    assert context["reason_params"] == {
        "what": {
            "code": "concomitant medication %(category)s from %(date)s %(change)s",
            "params": {
                "category": {"code": "Antipyretic (paracetamol, NSAID)", "params": {}},
                "date": "2026-03-20",
                "change": {"code": "saved", "params": {}},
            },
        }
    }
    with translation.override("zh-hans"):
        assert (
            reason_text(context) == "重新推导：合并用药（解热药（对乙酰氨基酚、非甾体抗炎药），自 2026-03-20 起）已保存"
        )
    with translation.override("en"):
        assert (
            reason_text(context)
            == "re-derived: concomitant medication Antipyretic (paracetamol, NSAID) from 2026-03-20 saved"
        )


def test_a_person_reason_inside_a_system_one_is_not_given_the_system_code(study):
    from crf.display import reason_text
    from study.audit_context import audit_context

    system = audit_context(user=None, reason=system_text.message("re-derived: MRD test"))
    person = audit_context(user=None, reason="corrected from the chart")
    with system, person:
        study.phase = "II"
        study.save()
    (event,) = study.events.filter(pgh_label="update")
    assert (event.pgh_context["reason"], event.pgh_context["reason_code"]) == ("corrected from the chart", "")
    with translation.override("zh-hans"):
        assert reason_text(event.pgh_context) == "corrected from the chart"


def test_a_system_message_survives_the_services_strip():
    reason = system_text.message("re-derived: first infusion")
    assert reason.strip() is reason and reason.strip().code == "re-derived: first infusion"
    assert " x ".strip() == "x"
