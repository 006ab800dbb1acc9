"""DLT findings in the reader's language (issue 25 item 3): each sentence clinical.dlt writes
reads back to its message and parameters and is shown in Chinese for a Chinese reader; a
sentence that matches none shows as written. No database."""

from __future__ import annotations

import pytest
from django.utils import translation

from adverse_events.dlt_text import finding_text

pytestmark = pytest.mark.req("ISSUE-25")


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        ("CRS grade 4 on day 3", "CRS 4 级，第 3 天"),
        ("CRS grade 3 on 4 consecutive days from day 3", "CRS 3 级，自第 3 天起连续 4 天"),
        ("Acute GvHD overall grade III", "急性 GvHD 总体 III 度"),
        (
            "Neutrophil count decreased grade 4 at the day-28 assessment (awaiting marrow)",
            "Neutrophil count decreased 在第 28 天评估时为 4 级（等待骨髓结果）",
        ),
        (
            "Platelet count decreased grade 4 at the day-28 assessment, marrow blasts 2.5%",
            "Platelet count decreased 在第 28 天评估时为 4 级，骨髓原始细胞 2.5%",
        ),
        (
            "Lung infection grade 3 from day 6, not back to grade ≤ 1 within 7 days",
            "Lung infection 3 级，始于第 6 天，7 天内未恢复至 ≤ 1 级",
        ),
        ("Death on day 12, not from progression", "第 12 天死亡，非疾病进展所致"),
    ],
)
def test_each_finding_reads_in_the_reader_language(english, chinese):
    with translation.override("zh-hans"):
        assert finding_text(english) == chinese
    with translation.override("en"):
        assert finding_text(english) == english


def test_an_unknown_sentence_shows_as_written():
    with translation.override("zh-hans"):
        assert finding_text("something else") == "something else"


def test_a_confirmed_dlt_alert_shows_its_finding_in_the_same_language():
    from adverse_events.alerts import SafetyAlert
    from crf import display

    alert = SafetyAlert(
        summary_code="Confirmed DLT, subject %(subject)s: %(finding)s",
        summary_params={"subject": "YD-006", "finding": "CRS grade 3 on 4 consecutive days from day 3"},
    )
    with translation.override("zh-hans"):
        shown = display.system_message(alert, "summary")
    assert "YD-006" in shown and "CRS 3 级，自第 3 天起连续 4 天" in shown and "consecutive" not in shown
