"""Clinical dates (issue 21): vital signs dated 0001-01-01, 9999-12-31 or next year were saved
without a word. A recorded clinical date in the future (after today at the subject's site, read
through the one seam `subjects.services.visits.site_today`) or before 1900 is refused with a field-level
reason in English and Chinese, through the form page, the API (400 naming the field) and the CSV
import alike, with nothing saved. Planned dates are not recorded events and stay free; a partial
history date is in the future when its first possible day is."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation

from clinical.dates import before_consent, implausible
from crf import csvfiles
from crf.imports import import_forms
from crf.registry import crf_models
from labs.models import VitalSigns
from subjects.models import MedicalHistory, Visit
from subjects.services.visits import record_visit_date
from tests.factories import demo_schedule, vital_signs

pytestmark = pytest.mark.req("ISSUE-21")


def test_pure_rule():
    today = date(2026, 12, 6)
    assert implausible(date(2026, 12, 6), today=today) is None
    assert implausible(date(2026, 12, 7), today=today) == "future"
    assert implausible(date(9999, 12, 31), today=today) == "future"
    assert implausible(date(1, 1, 1), today=today) == "before_1900"
    assert implausible(date(1900, 1, 1), today=today) is None
    assert before_consent(date(2026, 3, 1), date(2026, 3, 2)) is True
    assert before_consent(date(2026, 3, 2), date(2026, 3, 2)) is False
    assert before_consent(None, date(2026, 3, 2)) is False


@pytest.mark.parametrize("day", [date(1, 1, 1), date(1899, 12, 31)])
def test_vital_signs_dated_before_1900_are_refused(crf_ready, users_a, day):
    with pytest.raises(ValidationError) as refused:
        vital_signs(users_a["coordinator"], crf_ready, assessment_date=day)
    assert refused.value.message_dict == {"assessment_date": ["This date is before 1900: check it."]}
    assert not VitalSigns.objects.exists()


def test_the_api_answers_400_with_the_field(crf_ready, users_a, api_token):
    client = Client(HTTP_AUTHORIZATION=f"Token {api_token(users_a['coordinator'])}")
    response = client.post(
        "/api/v1/vital-signs/",
        {"subject": crf_ready.pk, "assessment_date": "0001-01-01", "systolic_bp": 120},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["assessment_date"] == ["This date is before 1900: check it."]
    assert not VitalSigns.objects.exists()


TODAY = date(2026, 6, 30)
FUTURE_EN = "This date is in the future (today at the site is 2026-06-30)."
FUTURE_ZH = "该日期晚于今天（中心当日为 2026-06-30）。"


@pytest.fixture
def site_today(monkeypatch):
    """Today at the site, through the one seam every clinical-date check reads."""
    monkeypatch.setattr("subjects.services.visits.site_today", lambda subject, now=None: TODAY)
    return TODAY


@pytest.mark.parametrize("day", [date(2026, 7, 1), date(9999, 12, 31)])
def test_vital_signs_dated_after_the_sites_today_are_refused(crf_ready, users_a, site_today, day):
    with pytest.raises(ValidationError) as refused:
        vital_signs(users_a["coordinator"], crf_ready, assessment_date=day)
    assert refused.value.message_dict == {"assessment_date": [FUTURE_EN]}
    assert not VitalSigns.objects.exists()
    vital_signs(users_a["coordinator"], crf_ready, assessment_date=TODAY)  # today itself is fine
    assert VitalSigns.objects.count() == 1


def test_the_message_is_in_chinese_for_a_chinese_reader(crf_ready, users_a, site_today):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        vital_signs(users_a["coordinator"], crf_ready, assessment_date=date(2026, 7, 1))
    assert refused.value.message_dict == {"assessment_date": [FUTURE_ZH]}


def test_the_form_page_shows_the_field_error_and_saves_nothing(crf_ready, users_a, site_today, login, client):
    login(users_a["coordinator"])
    response = client.post(
        f"/subjects/{crf_ready.pk}/forms/VS/new/",
        {"assessment_date": "2026-07-01", "temperature_c": "37.2", "oxygen_device": "room_air"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["assessment_date"] == [FUTURE_EN]
    assert not VitalSigns.objects.exists()


def test_the_api_answers_400_naming_the_future_field(crf_ready, users_a, api_token, site_today):
    client = Client(HTTP_AUTHORIZATION=f"Token {api_token(users_a['coordinator'])}")
    response = client.post(
        "/api/v1/vital-signs/",
        {"subject": crf_ready.pk, "assessment_date": "2026-07-01", "systolic_bp": 120},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["assessment_date"] == [FUTURE_EN]
    assert not VitalSigns.objects.exists()


def test_the_csv_import_refuses_the_row_and_saves_nothing(crf_ready, users_a, site_today):
    text = "subject,assessment_date,temperature_c,systolic_bp\nA-001,2026-06-29,37.0,120\nA-001,2026-07-01,37.1,118\n"
    csv_file = csvfiles.read_csv(text.encode(), file_name="vitals.csv")
    result = import_forms(user=users_a["coordinator"], model=crf_models()["VS"], csv_file=csv_file, channel="command")
    assert result.outcome != "imported"
    assert [(e.row, e.field, e.message) for e in result.errors] == [(3, "assessment_date", FUTURE_EN)]
    assert not VitalSigns.objects.exists()


def test_a_partial_history_date_is_future_when_its_first_day_is(crf_ready, users_a, site_today):
    from crf.services import save_form

    coordinator = users_a["coordinator"]
    with pytest.raises(ValidationError) as refused:
        save_form(
            user=coordinator,
            instance=MedicalHistory(subject=crf_ready, condition="Hypertension", ongoing=True, onset_date="2026-07"),
            expected_version=None,
        )
    assert refused.value.message_dict == {"onset_date": [FUTURE_EN]}
    saved = save_form(
        user=coordinator,
        instance=MedicalHistory(
            subject=crf_ready, condition="Hypertension", ongoing=True, onset_date="2026"
        ),  # may be before today
        expected_version=None,
    )
    assert saved.onset_date_imputed == date(2026, 1, 1)


def test_a_visit_date_in_the_future_is_refused_and_planned_dates_stay_free(crf_ready, users_a, study, site_today):
    definitions = {d.code: d for d in demo_schedule(study)}
    visit = Visit.objects.create(subject=crf_ready, definition=definitions["D1"], planned_date=date(2027, 1, 1))
    with pytest.raises(ValidationError) as refused:
        record_visit_date(user=users_a["coordinator"], visit=visit, visit_date=date(2026, 7, 1))
    assert refused.value.message_dict == {"visit_date": [FUTURE_EN]}
    visit.refresh_from_db()
    assert (visit.visit_date, visit.planned_date) == (None, date(2027, 1, 1))
