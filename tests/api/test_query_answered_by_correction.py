"""A corrected value answers its open queries whichever way the correction comes (issue 7
item 1): the page, the API and the CSV import all save through crf.services.save_form."""

from __future__ import annotations

from datetime import date

import pytest

from crf import csvfiles
from crf.imports import import_forms
from crf.models import Query
from crf.queries import raise_query
from labs.models import VitalSigns
from labs.services import record_vital_signs
from tests.api.conftest import send, token_client

pytestmark = pytest.mark.req("ISSUE-7")


@pytest.fixture
def queried(subject_at, users_a, site_a):
    coordinator = users_a["coordinator"]
    subject = subject_at("lymphodepleted", user=coordinator, site=site_a)
    vs = record_vital_signs(
        user=coordinator,
        vital_signs=VitalSigns(subject=subject, assessment_date=date(2026, 3, 12), systolic_bp=210, heart_rate=80),
    )
    query = raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="210 mmHg? Please check.")
    return coordinator, vs, query


def test_api_correction_answers_the_query(queried):
    coordinator, vs, query = queried
    client = token_client(coordinator)
    url = f"/api/v1/vital-signs/{vs.pk}/"
    etag = send(client, "GET", url)["ETag"]
    response = send(
        client, "PATCH", url, {"systolic_bp": 120, "reason": "transcription error 转录错误"}, **{"If-Match": etag}
    )
    assert response.status_code == 200, response.content
    query.refresh_from_db()
    assert query.status == "answered"
    assert query.answer == Query.Answer.CORRECTED
    assert query.answer_text == "transcription error 转录错误"
    assert query.answered_by == coordinator


def test_api_change_to_another_field_leaves_the_query_open(queried):
    coordinator, vs, query = queried
    client = token_client(coordinator)
    url = f"/api/v1/vital-signs/{vs.pk}/"
    etag = send(client, "GET", url)["ETag"]
    response = send(client, "PATCH", url, {"heart_rate": 82, "reason": "typo"}, **{"If-Match": etag})
    assert response.status_code == 200, response.content
    query.refresh_from_db()
    assert query.status == "open"


def test_import_correction_answers_the_query(queried):
    coordinator, vs, query = queried
    vs.refresh_from_db()
    raw = (
        "id,version,subject,assessment_date,systolic_bp,heart_rate,reason\n"
        f"{vs.pk},{vs.version},{vs.subject.screening_number},2026-03-12,118,80,source re-checked\n"
    ).encode()
    csv_file = csvfiles.read_csv(raw, file_name="fix.csv")
    result = import_forms(user=coordinator, model=VitalSigns, csv_file=csv_file, channel="command")
    assert result.ok, result.errors
    query.refresh_from_db()
    assert query.answer == Query.Answer.CORRECTED
    assert query.answer_text == "source re-checked"
    assert VitalSigns.objects.get(pk=vs.pk).systolic_bp == 118
