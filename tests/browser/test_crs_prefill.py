"""Issue 24 "Done when" (item 4), in real Chromium, English and Chinese: the CRS form opened
from a visit of the casebook is pre-filled from that day's vital signs, sources shown, editable."""

from __future__ import annotations

import re
from datetime import time
from decimal import Decimal

import pytest

from subjects.models import Visit
from tests.adverse_events.conftest import (  # noqa: F401 (fixtures)
    ENROLLED,
    consent,
    coordinator,
    day,
    infused,
    protocol,
    screened,
)
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import vital_signs

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-24")]

LANG = {
    "en": ("en-US", "Username", "Password", "Sign in", "From vital signs"),
    "zh-hans": ("zh-CN", "用户名", "密码", "登录", "取自生命体征"),
}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_crs_form_prefilled_from_the_days_vitals(browser, live_server, transactional_db, infused, users_a, language):  # noqa: F811
    locale, username, password, sign_in, source_words = LANG[language]
    user = users_a["coordinator"]
    user.language = language
    user.save()
    subject = infused()
    d1 = Visit.objects.get(subject=subject, definition__code="D1")
    vital_signs(
        user,
        subject,
        visit=d1,
        assessment_date=day(1),
        assessment_time=time(9, 0),
        temperature_c=Decimal("38.4"),
        systolic_bp=110,
    )
    vital_signs(
        user,
        subject,
        visit=d1,
        assessment_date=day(1),
        assessment_time=time(15, 30),
        temperature_c=Decimal("39.2"),
        systolic_bp=84,
        oxygen_device="nasal_cannula",
        oxygen_flow_l_min=Decimal("3"),
        spo2=94,
    )
    context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    _sign_in(page, live_server.url, user.username, username, password, sign_in)
    page.wait_for_url(re.compile(re.escape(live_server.url) + r"/(tasks/)?$"))  # a coordinator lands on My tasks
    page.goto(f"{live_server.url}/subjects/{subject.pk}/casebook/")
    page.locator('[data-visit="D1"] [data-form="CRS"] a').click()
    page.wait_for_url("**/forms/CRS/new/**")
    assert page.locator("[name=tmax_c]").input_value() == "39.2"
    assert page.locator("[name=oxygen_device]").input_value() == "nasal_cannula"
    assert page.locator("[name=oxygen_flow_l_min]").input_value() == "3.0"
    assert page.locator("[name=hypotension]").is_checked()
    text = page.locator("main").inner_text()
    assert f"{source_words}" in text and "15:30 (Asia/Shanghai)" in text
    page.locator("[name=tmax_c]").fill("39.0")  # a copy: editable
    assert page.locator("[name=tmax_c]").input_value() == "39.0"
    page.screenshot(path=f"docs/screenshots/crs-prefill-{language[:2]}.png", full_page=True)
    context.close()
