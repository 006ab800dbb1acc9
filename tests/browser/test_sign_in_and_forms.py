"""A person's path in real Chromium: sign in (Chinese and English), the study home, a form and
its history (issues 2 and 3). Screenshots land in artifacts/screenshots/."""

from __future__ import annotations

from datetime import date

import pytest

from subjects.models import Subject
from tests.conftest import PASSWORD
from tests.factories import identity, protocol_v1

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-2")]


@pytest.fixture
def seeded(transactional_db, study, site_a, users_a):
    site_a.name_zh = "测试医院"
    site_a.default_language = "zh-hans"
    site_a.save()
    protocol_v1(study, effective_from=date(2020, 1, 1))
    subject = Subject.objects.create(site=site_a, subject_id="A-001")
    identity(subject)
    return subject


def _sign_in(page, base, username, user_label, password_label, button):
    page.goto(f"{base}/accounts/login/")
    page.get_by_label(user_label).fill(username)
    page.get_by_label(password_label).fill(PASSWORD)
    page.get_by_role("button", name=button).click()


@pytest.mark.req("DESIGN-1")
def test_coordinator_signs_in_in_chinese_and_records_vital_signs(browser, live_server, seeded, screenshot):
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.get_by_role("heading").first.inner_text() == "登录 TrialSite"
    screenshot(page, "login-zh")
    _sign_in(page, live_server.url, "coordinator_a", "用户名", "密码", "登录")
    page.wait_for_url(f"{live_server.url}/tasks/")  # a coordinator's home (issue 31)
    assert page.get_by_role("heading", name="我的任务", exact=True).is_visible()
    page.goto(f"{live_server.url}/")
    assert page.get_by_role("heading", name="研究首页").is_visible()
    screenshot(page, "home-zh")
    page.locator("main").get_by_role("link", name="受试者", exact=True).click()
    page.get_by_role("link", name="A-001").click()
    vital_signs = page.locator("section", has=page.get_by_role("heading", name="生命体征", exact=True))
    vital_signs.get_by_role("link", name="新建病例报告表").click()
    page.get_by_label("体温（°C）", exact=True).fill("38.6")
    page.locator("input[name=assessment_date]").fill("2026-03-02")
    page.locator("input[name=systolic_bp]").fill("118")
    page.locator("button[type=submit].primary").click()
    page.wait_for_url("**/forms/VS/*/")
    assert page.locator("input[name=temperature_c]").input_value() == "38.6"
    screenshot(page, "vital-signs-zh")
    # a second save, then the record's history shows both steps
    page.get_by_label("体温（°C）", exact=True).fill("39.1")
    page.locator("input[name=mark_complete]").check()
    page.locator("button[type=submit].primary").click()
    page.wait_for_load_state()
    assert page.locator("input[name=temperature_c]").input_value() == "39.1"
    page.get_by_label("体温（°C）", exact=True).fill("39.4")
    page.locator("input[name=reason]").fill("抄录错误，已核对原始病历")
    page.locator("button[type=submit].primary").click()
    page.wait_for_load_state()
    page.locator("a[href*='/history/labs.vitalsigns/']").click()
    history = page.locator("table.history").inner_text()
    assert "抄录错误，已核对原始病历" in history
    assert "38.6" in history and "39.1" in history and "39.4" in history
    screenshot(page, "history-zh")
    context.close()


def test_english_sign_in_and_wrong_password_message(browser, live_server, seeded, users_a, screenshot):
    users_a["coordinator"].language = "en"
    users_a["coordinator"].save()
    context = browser.new_context(locale="en-US", extra_http_headers={"Accept-Language": "en-US,en;q=0.9"})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("coordinator_a")
    page.get_by_label("Password").fill("wrong-password-1A!")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").first.is_visible()
    screenshot(page, "login-error-en")
    _sign_in(page, live_server.url, "coordinator_a", "Username", "Password", "Sign in")
    page.wait_for_url(f"{live_server.url}/tasks/")  # a coordinator's home (issue 31)
    assert page.get_by_role("heading", name="My tasks", exact=True).is_visible()
    page.goto(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Study home").is_visible()
    screenshot(page, "home-en")
    context.close()


def test_idle_warning_appears_and_stay_signed_in_keeps_the_session(
    browser, live_server, seeded, users_a, settings, screenshot
):
    users_a["coordinator"].language = "en"
    users_a["coordinator"].save()
    settings.SESSION_IDLE_TIMEOUT = 8
    settings.SESSION_EXPIRY_WARNING = 6
    context = browser.new_context(locale="en-US", extra_http_headers={"Accept-Language": "en-US"})
    page = context.new_page()
    _sign_in(page, live_server.url, "coordinator_a", "Username", "Password", "Sign in")
    page.wait_for_url(f"{live_server.url}/tasks/")  # a coordinator's home (issue 31)
    warning = page.locator("#session-warning")
    warning.wait_for(state="visible", timeout=8000)
    screenshot(page, "session-warning-en")
    page.get_by_role("button", name="Stay signed in").click()
    warning.wait_for(state="hidden", timeout=5000)
    page.reload()
    assert page.get_by_role("heading", name="My tasks", exact=True).is_visible()
    context.close()
