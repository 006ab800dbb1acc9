"""Issue 24 item 4: a new CRS assessment entered at a visit starts from that day's vital signs —
the highest temperature, hypotension from the lowest systolic pressure, the highest oxygen
support — each with its source time shown; a copy the coordinator can change."""

from __future__ import annotations

import re
from datetime import time
from decimal import Decimal

import pytest

from subjects.models import Visit
from tests.adverse_events.conftest import day
from tests.factories import vital_signs

pytestmark = pytest.mark.req("ISSUE-24")


def _day1_vitals(coordinator, subject):
    d1 = Visit.objects.get(subject=subject, definition__code="D1")
    on = day(1)
    vital_signs(
        coordinator,
        subject,
        visit=d1,
        assessment_date=on,
        assessment_time=time(8, 0),
        temperature_c=Decimal("38.2"),
        systolic_bp=118,
    )
    vital_signs(
        coordinator,
        subject,
        visit=d1,
        assessment_date=on,
        assessment_time=time(14, 0),
        temperature_c=Decimal("39.4"),
        systolic_bp=82,
        oxygen_device="hfnc",
        oxygen_flow_l_min=Decimal("30"),
        spo2=93,
    )
    vital_signs(
        coordinator,
        subject,
        visit=d1,
        assessment_date=on,
        assessment_time=time(20, 0),
        temperature_c=Decimal("38.8"),
        systolic_bp=96,
        oxygen_device="nasal_cannula",
        oxygen_flow_l_min=Decimal("4"),
        spo2=95,
    )
    return d1


def test_new_crs_form_is_prefilled_from_that_days_vitals(infused, coordinator, login):
    subject = infused()
    d1 = _day1_vitals(coordinator, subject)
    html = login(coordinator).get(f"/subjects/{subject.pk}/forms/CRS/new/?visit={d1.pk}").content.decode()
    assert 'name="tmax_c" value="39.4"' in html
    assert "From vital signs: 39.4 °C at 14:00 (Asia/Shanghai)." in html
    assert "From vital signs: lowest systolic pressure 82 mmHg at 14:00 (Asia/Shanghai)." in html
    assert "From vital signs: High-flow nasal cannula at 14:00 (Asia/Shanghai)." in html
    assert 'value="hfnc" selected' in html and 'name="oxygen_flow_l_min" value="30.0"' in html
    hypotension = html[html.index('name="hypotension"') - 200 : html.index('name="hypotension"') + 120]
    assert "checked" in hypotension
    date_input = re.search(r'<input[^>]*name="assessment_date"[^>]*>', html).group(0)
    assert f'value="{day(1).isoformat()}"' in date_input, date_input


def test_no_prefill_without_vitals_or_when_editing(infused, coordinator, login):
    subject = infused()
    d2 = Visit.objects.get(subject=subject, definition__code="D2")
    html = login(coordinator).get(f"/subjects/{subject.pk}/forms/CRS/new/?visit={d2.pk}").content.decode()
    assert "From vital signs" not in html
