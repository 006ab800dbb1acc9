"""DLT findings as message codes (issue 25 item 3): the rules store a finding's message id and
parameters on the candidate (the audited truth), and each reader sees it in their own language —
whatever language the request that produced it was in. Nothing is matched back from the English
sentence at read time; the data migration reads rows written before codes were stored, once."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.utils import translation

from adverse_events.dlt_text import FINDINGS, finding_text
from adverse_events.models import DltCandidate, SafetyAlert
from clinical import dlt as rules
from crf import display
from tests.adverse_events.test_dlt_adjudication import GRADE3, crs_course

pytestmark = pytest.mark.req("ISSUE-25")


def _row(code: str, **params) -> DltCandidate:
    return DltCandidate(description_code=code, description_params=params, description=code % params)


@pytest.mark.parametrize(
    ("code", "params", "english", "chinese"),
    [
        (rules.FINDING_SYNDROME_G4, {"what": "CRS", "day": 3}, "CRS grade 4 on day 3", "CRS 4 级，第 3 天"),
        (
            rules.FINDING_SYNDROME_G3_RUN,
            {"what": "CRS", "run": 4, "start": 3},
            "CRS grade 3 on 4 consecutive days from day 3",
            "CRS 3 级，自第 3 天起连续 4 天",
        ),
        (rules.FINDING_GVHD, {"roman": "III"}, "Acute GvHD overall grade III", "急性 GvHD 总体 III 度"),
        (
            rules.FINDING_CYTOPENIA_AWAITING,
            {"term": "Neutrophil count decreased", "window": 28},
            "Neutrophil count decreased grade 4 at the day-28 assessment (awaiting marrow)",
            "Neutrophil count decreased 中性粒细胞计数降低 在第 28 天评估时为 4 级（等待骨髓结果）",
        ),
        (
            rules.FINDING_CYTOPENIA,
            {"term": "Platelet count decreased", "window": 28, "blasts": "2.5"},
            "Platelet count decreased grade 4 at the day-28 assessment, marrow blasts 2.5%",
            "Platelet count decreased 血小板计数降低 在第 28 天评估时为 4 级，骨髓原始细胞 2.5%",
        ),
        (
            rules.FINDING_OTHER_AE,
            {"term": "Lung infection", "grade": 3, "day": 6, "days": 7},
            "Lung infection grade 3 from day 6, not back to grade ≤ 1 within 7 days",
            "Lung infection 肺部感染 3 级，始于第 6 天，7 天内未恢复至 ≤ 1 级",
        ),
        (rules.FINDING_DEATH, {"day": 12}, "Death on day 12, not from progression", "第 12 天死亡，非疾病进展所致"),
    ],
)
def test_each_finding_reads_in_the_reader_language(code, params, english, chinese):
    row = _row(code, **params)
    with translation.override("zh-hans"):
        assert finding_text(row) == chinese
    with translation.override("en"):
        assert finding_text(row) == english


def test_the_rules_write_only_the_findings_marked_for_translation():
    assert rules.FINDINGS == FINDINGS


def test_a_stored_sentence_is_not_matched_back_at_read_time():
    """Only the stored code renders: an English sentence without a code shows as written."""
    row = DltCandidate(description="CRS grade 4 on day 3", description_code="", description_params={})
    with translation.override("zh-hans"):
        assert finding_text(row) == "CRS grade 4 on day 3"


def _crs_candidate(client, login, coordinator, infused, language: str) -> DltCandidate:
    subject = infused()
    coordinator.language = language
    coordinator.save(update_fields=["language"])
    login(coordinator)
    crs_course(client, subject, {2: GRADE3, 3: GRADE3, 4: GRADE3, 5: GRADE3})
    (candidate,) = DltCandidate.objects.filter(subject=subject)
    return candidate


@pytest.mark.parametrize(
    ("written_in", "read_in", "expected", "absent"),
    [
        ("en", "zh-hans", "CRS 3 级，自第 2 天起连续 4 天", "CRS grade 3 on 4 consecutive days from day 2"),
        ("zh-hans", "en", "CRS grade 3 on 4 consecutive days from day 2", "CRS 3 级，自第 2 天起连续 4 天"),
    ],
)
def test_a_finding_produced_in_one_language_reads_in_the_other(
    written_in, read_in, expected, absent, infused, coordinator, investigator, login, client
):
    candidate = _crs_candidate(client, login, coordinator, infused, written_in)
    assert (candidate.description_code, candidate.description_params) == (
        rules.FINDING_SYNDROME_G3_RUN,
        {"what": "CRS", "run": 4, "start": 2},
    )
    assert candidate.description == "CRS grade 3 on 4 consecutive days from day 2"
    client.logout()
    investigator.language = read_in
    investigator.save(update_fields=["language"])
    login(investigator)
    for url in (f"/safety/dlt/candidates/{candidate.pk}/", "/safety/dlt/"):
        page = client.get(url).content.decode()
        assert expected in page, url
        assert absent not in page, url


def test_a_confirmed_dlt_alert_carries_the_finding_as_a_code_and_reads_in_each_language(
    infused, coordinator, investigator, login, client
):
    candidate = _crs_candidate(client, login, coordinator, infused, "en")
    client.logout()
    investigator.language = "zh-hans"
    investigator.save(update_fields=["language"])
    login(investigator)
    url = f"/safety/dlt/candidates/{candidate.pk}/"
    assert (
        client.post(url, {"version": candidate.version, "decision": "confirm", "reason": "持续升压"}).status_code == 302
    )
    alert = SafetyAlert.objects.get(kind="dlt", subject=candidate.subject)
    assert alert.summary_params["finding"] == {
        "code": rules.FINDING_SYNDROME_G3_RUN,
        "params": {"what": "CRS", "run": 4, "start": 2},
    }
    assert (
        alert.summary
        == f"Confirmed DLT, subject {candidate.subject.subject_id}: CRS grade 3 on 4 consecutive days from day 2"
    )
    with translation.override("zh-hans"):
        chinese = display.system_message(alert, "summary")
    with translation.override("en"):
        english = display.system_message(alert, "summary")
    assert chinese == f"已确认 DLT，受试者 {candidate.subject.subject_id}：CRS 3 级，自第 2 天起连续 4 天"
    assert english == alert.summary


def test_the_data_migration_gives_existing_rows_their_codes(infused):
    """Rows written before codes were stored (English or Chinese sentences) get code and
    parameters; a confirmed-DLT alert's finding becomes the nested message."""
    migration = importlib.import_module("adverse_events.migrations.0009_display_dlt_finding_codes_data")
    subject = infused()
    english = DltCandidate.objects.create(
        subject=subject,
        key="death",
        criterion="death",
        onset_day=12,
        description="Death on day 12, not from progression",
    )
    chinese = DltCandidate.objects.create(
        subject=subject, key="crs:g4", criterion="crs", onset_day=3, description="CRS 4 级，第 3 天"
    )
    unknown = DltCandidate.objects.create(
        subject=subject, key="gvhd", criterion="gvhd", onset_day=20, description="written by hand"
    )
    alert = SafetyAlert.objects.create(
        kind="dlt",
        site=subject.site,
        subject=subject,
        source_key="dlt:old",
        summary="Confirmed DLT, subject A-001: Death on day 12, not from progression",
        summary_code="Confirmed DLT, subject %(subject)s: %(finding)s",
        summary_params={"subject": "A-001", "finding": "Death on day 12, not from progression"},
    )
    migration.forwards(apps, None)
    for row in (english, chinese, unknown):
        row.refresh_from_db()
    assert (english.description_code, english.description_params) == (rules.FINDING_DEATH, {"day": 12})
    assert (chinese.description_code, chinese.description_params) == (
        rules.FINDING_SYNDROME_G4,
        {"what": "CRS", "day": 3},
    )
    assert (unknown.description_code, unknown.description_params) == ("", {})
    alert.refresh_from_db()
    assert alert.summary_params["finding"] == {"code": rules.FINDING_DEATH, "params": {"day": 12}}
    with translation.override("zh-hans"):
        assert display.system_message(alert, "summary") == "已确认 DLT，受试者 A-001：第 12 天死亡，非疾病进展所致"
