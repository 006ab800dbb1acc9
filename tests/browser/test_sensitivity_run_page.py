"""The run page with its sensitivity analysis (issue 30 item 4) in real Chromium, English and
Chinese, at 1440×900: the section and its tables are marked, nothing scrolls sideways.
Screenshots run-sensitivity-en / run-sensitivity-zh."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.req("ISSUE-30")


@pytest.mark.timeout(600)
def test_run_page_with_the_sensitivity_analysis(browser, live_server, transactional_db, screenshot):
    from tests.endpoints.test_sensitivity import amended_run

    world, run = amended_run("NCT-SENS")
    for language, labels, heading in (
        ("en", ("Username", "Password", "Sign in"), "Sensitivity analysis"),
        ("zh-hans", ("用户名", "密码", "登录"), "敏感性分析"),
    ):
        world.statistician.language = language
        world.statistician.save(update_fields=["language"])
        context = browser.new_context(locale="en-GB", viewport={"width": 1440, "height": 900})
        context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label(labels[0]).fill(world.statistician.username)
        page.get_by_label(labels[1]).fill(PASSWORD)
        page.get_by_role("button", name=labels[2]).click()
        page.wait_for_url(f"{live_server.url}/")
        page.goto(f"{live_server.url}/endpoints/{run.pk}/")
        section = page.locator("[data-sensitivity]")
        assert heading in section.locator("h2").inner_text()
        assert page.locator("table[data-analysis=sensitivity]").count() == len(page.locator("table").all()) // 2
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.locator("#sensitivity-table-day28_response").scroll_into_view_if_needed()
        screenshot(page, f"run-sensitivity-{'en' if language == 'en' else 'zh'}")
        context.close()
