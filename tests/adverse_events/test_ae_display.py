"""How an AE's derived and structured values read on the form page, the casebook, the history and
the PDF (crf.display.field_text): the dated course of the grade (issue 30) as dates, study days
and grades, never the stored keys ("from: …; grade: …"); the system organ class in the reader's
language beside the CTCAE term (CLINICAL_SPEC §3, the project's working translation)."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import translation

from adverse_events.models import AdverseEvent
from crf.display import field_text

pytestmark = pytest.mark.req("CLINICAL_SPEC-3")

DAY0 = date(2026, 3, 20)


def ae(**fields: object) -> AdverseEvent:
    values: dict[str, object] = {
        "ctcae_term": "Anemia",
        "soc": "Blood and lymphatic system disorders",
        "grade": 3,
        "onset_date": date(2026, 3, 19),
        "grade_course": [{"from": "2026-03-19", "grade": 2}, {"from": "2026-03-25", "grade": 3}],
    }
    return AdverseEvent(**{**values, **fields})


def test_the_grade_course_reads_as_dated_grades_with_study_days():
    with translation.override("en"):
        assert field_text(ae(), "grade_course", day0=DAY0) == (
            "2026-03-19 (day \u22121): grade 2 → 2026-03-25 (day 5): grade 3"
        )
        assert field_text(ae(), "grade_course") == "2026-03-19: grade 2 → 2026-03-25: grade 3"
    with translation.override("zh-hans"):
        assert field_text(ae(), "grade_course", day0=DAY0) == (
            "2026-03-19 (第 \u22121 天)：2 级 → 2026-03-25 (第 5 天)：3 级"
        )


def test_a_course_not_in_the_stored_shape_is_shown_as_stored_not_hidden():
    odd = ae(grade_course=[{"when": "2026-03-19"}])
    assert field_text(odd, "grade_course") == "[{'when': '2026-03-19'}]"


def test_the_system_organ_class_reads_in_the_readers_language():
    with translation.override("zh-hans"):
        assert field_text(ae(), "soc") == "血液及淋巴系统疾病"
        assert field_text(ae(), "ctcae_term") == "Anemia 贫血"
    with translation.override("en"):
        assert field_text(ae(), "soc") == "Blood and lymphatic system disorders"
