"""Issue 24 "Done when" (item 1): in real Chromium at 1440×900, in English and Chinese, the
casebook of a subject lists at each visit only the forms the schedule of assessments expects
(CLINICAL_SPEC §7.1), fits the width without horizontal scrolling, and a visit turns complete
when its last expected form is saved. Screenshots land in docs/screenshots/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from subjects import assessments
from subjects.models import Visit
from subjects.services import subject as services
from subjects.services import visits
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import demo_schedule, protocol_v1
from tests.subjects.conftest import ASSESSED, CONSENTED, ELIGIBLE, ENROLLED

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-24")]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LANG = {
    "en": ("en-US", "Username", "Password", "Sign in", "Complete"),
    "zh-hans": ("zh-CN", "用户名", "密码", "登录", "已完成"),
}


@pytest.fixture
def seeded(transactional_db, study, site_a, users_a):
    site_a.time_zone = "Asia/Shanghai"
    site_a.save()
    protocol_v1(study)
    demo_schedule(study)
    return site_a


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_casebook_shows_expected_forms_fits_1440_and_a_visit_completes(
    browser,
    live_server,
    seeded,
    users_a,
    screenshot,
    language,
):
    locale, username, password, sign_in, complete = LANG[language]
    coordinator = users_a["coordinator"]
    coordinator.language = language
    coordinator.save()
    subject = services.record_consent(user=coordinator, site=seeded, consent_version="1.0", consent_date=CONSENTED)
    services.record_eligibility(
        user=coordinator, subject=subject, protocol_version="2.1", assessment_date=ASSESSED, criteria=ELIGIBLE
    )
    today = visits.site_today(subject)
    subject = services.enrol(
        user=coordinator, subject=subject, on=ENROLLED, dose_level="DL2", planned_infusion_date=today - timedelta(3)
    )
    d1 = Visit.objects.get(subject=subject, definition__code="D1")
    for code in ("CRS", "ICANS", "LB"):  # everything D1 expects but its vital signs
        assessments.mark_not_done(user=coordinator, visit=d1, crf_code=code, reason="not assessed")

    context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    _sign_in(page, live_server.url, "coordinator_a", username, password, sign_in)
    page.wait_for_url(f"{live_server.url}/tasks/")  # a coordinator's home (issue 31)
    page.goto(f"{live_server.url}/subjects/{subject.pk}/casebook/")

    # only the forms §7.1 expects at each visit
    forms_at = page.eval_on_selector_all(
        '[data-visit="D1"] [data-form]', "items => items.map(i => i.dataset.form + ':' + i.dataset.mark)"
    )
    assert forms_at == ["VS:missing", "CRS:not_done", "ICANS:not_done", "LB:not_done"]
    collection = page.eval_on_selector_all('[data-visit="COL"] [data-form]', "items => items.map(i => i.dataset.form)")
    assert collection == ["CC"]
    assert page.locator('[data-visit="D1"]').get_attribute("data-progress") == "some"
    assert page.locator('[data-log="AE"]').count() == 1
    assert page.locator("[data-glance] [data-missing]").count() == 1
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1440, width
    short = "en" if language == "en" else "zh"
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / f"casebook-schedule-{short}.png"), full_page=True)

    # saving the last expected form completes the visit
    page.locator('[data-visit="D1"] [data-form="VS"] a.chip').click()
    page.locator("[name=assessment_date]").fill(d1.planned_date.isoformat())
    page.locator("[name=temperature_c]").fill("37.2")
    page.locator("[name=systolic_bp]").fill("118")
    page.locator("[name=mark_complete]").check()
    page.locator("button.primary[type=submit]").first.click()
    page.wait_for_url("**/forms/VS/*/")
    page.goto(f"{live_server.url}/subjects/{subject.pk}/casebook/")
    row = page.locator('[data-visit="D1"]')
    assert row.get_attribute("data-progress") == "all"
    assert complete in row.locator("[data-state]").inner_text()
    d1.refresh_from_db()
    assert d1.forms_state == "all"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1440, width
    screenshot(page, f"casebook-schedule-after-{short}")
    context.close()
