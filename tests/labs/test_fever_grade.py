"""The CTCAE fever grade of each vital-signs record (issue 27 item 5; CLINICAL_SPEC §3): derived
and stored on the record, shown on its page and read-only in the API, re-derived on the
neighbouring readings above 40.0 °C when a reading changes, and absent from the VS export (SDTM
VS has no toxicity grade)."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal as D

import pytest

from crf.services import mark_entered_in_error, save
from labs.models import VitalSigns
from tests.api.conftest import send, token_client
from tests.factories import protocol_v1, vital_signs

pytestmark = pytest.mark.req("ISSUE-27")


@pytest.fixture(autouse=True)
def protocol(study):
    return protocol_v1(study)


@pytest.mark.parametrize(
    ("celsius", "grade"),
    [("37.9", 0), ("38.0", 1), ("39.0", 1), ("39.1", 2), ("40.0", 2), ("40.1", None)],
)
def test_each_record_stores_its_fever_grade(users_a, subject_a, celsius, grade):
    vs = vital_signs(users_a["coordinator"], subject_a, temperature_c=D(celsius))
    assert VitalSigns.objects.get(pk=vs.pk).fever_grade == grade


def test_no_temperature_no_grade(users_a, subject_a):
    vs = vital_signs(users_a["coordinator"], subject_a, temperature_c=None)
    assert VitalSigns.objects.get(pk=vs.pk).fever_grade is None


def record(user, subject, on: date, at: time, celsius: str) -> VitalSigns:
    return save(
        user=user,
        instance=VitalSigns(subject=subject, assessment_date=on, assessment_time=at, temperature_c=D(celsius)),
        expected_version=None,
    )


def test_a_later_reading_re_derives_the_fever_above_40(users_a, subject_a):
    user = users_a["coordinator"]
    record(user, subject_a, date(2026, 3, 20), time(8, 0), "39.5")
    high = record(user, subject_a, date(2026, 3, 20), time(14, 0), "40.6")
    assert VitalSigns.objects.get(pk=high.pk).fever_grade is None  # no reading after it yet
    low = record(user, subject_a, date(2026, 3, 21), time(7, 0), "38.4")  # 23 h after 39.5: ≤ 24 h
    high.refresh_from_db()
    assert (high.fever_grade, high.version) == (3, 2)
    # the bounding reading entered in error: the fever may have lasted longer, no grade again
    mark_entered_in_error(user=user, instance=low, expected_version=low.version, reason="wrong subject")
    high.refresh_from_db()
    assert high.fever_grade is None
    # still above 40.0 °C 25 h later: grade 4 for both readings of the fever
    later = record(user, subject_a, date(2026, 3, 21), time(15, 0), "40.2")
    high.refresh_from_db()
    assert (high.fever_grade, VitalSigns.objects.get(pk=later.pk).fever_grade) == (4, 4)


def test_page_and_api_show_the_grade(users_a, subject_a, client, login):
    user = users_a["coordinator"]
    vs = vital_signs(user, subject_a, temperature_c=D("39.1"))
    login(user)
    page = client.get(f"/subjects/{subject_a.pk}/forms/VS/{vs.pk}/").content.decode()
    assert "fever grade (CTCAE v5.0)" in page
    assert "grade 2 (above 39.0–40.0 °C)" in page
    api = token_client(user)
    body = send(api, "GET", f"/api/v1/vital-signs/{vs.pk}/").json()
    assert body["fever_grade"] == 2
    # read-only: a client cannot set it
    response = send(
        api,
        "PATCH",
        f"/api/v1/vital-signs/{vs.pk}/",
        {"fever_grade": 4},
        if_match=send(api, "GET", f"/api/v1/vital-signs/{vs.pk}/")["ETag"],
    )
    assert response.status_code == 200, response.content
    assert VitalSigns.objects.get(pk=vs.pk).fever_grade == 2


def test_chinese_page_names_the_grade(users_a, subject_a, client, login):
    user = users_a["coordinator"]
    user.language = "zh-hans"
    user.save()
    vs = vital_signs(user, subject_a, temperature_c=D("40.5"))
    login(user)
    page = client.get(f"/subjects/{subject_a.pk}/forms/VS/{vs.pk}/").content.decode()
    assert "发热分级（CTCAE v5.0）" in page
    assert "记录的时间无法显示持续多久" in page
