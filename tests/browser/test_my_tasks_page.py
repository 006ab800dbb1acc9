"""Issue 31 item 2 in real Chromium at 1440×900: the demo study's coordinator (the demo as of
DEMO_TODAY, tests/conftest.py `demo_study_committed`) signs in, lands on
My tasks, and the page fits the width in English and in Chinese; the top bar's count equals the
items listed. Screenshots: artifacts/screenshots/my-tasks-en.png and my-tasks-zh.png (copies in
docs/screenshots/)."""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone

from demo.definition import DEMO_PASSWORD
from mytasks import selectors
from study.models import User

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-31")]


@pytest.mark.req("DESIGN-1")
@pytest.mark.timeout(2400)  # the first test to need the demo loads it (~2,500 form saves): > 300 s on a loaded box
def test_demo_coordinator_lands_on_my_tasks_in_english_and_chinese(
    browser, live_server, demo_study_committed, screenshot
):
    coordinator = User.objects.get(username="coordinator")
    for user in User.objects.filter(username__in=["coordinator", "monitor", "investigator"]).order_by("username"):
        started = time.perf_counter()
        counts = selectors.task_counts(user, now=timezone.now())
        counted = time.perf_counter() - started
        started = time.perf_counter()
        tasks = selectors.my_tasks(user, now=timezone.now())
        listed = time.perf_counter() - started
        assert counts is not None and counts.total == tasks.total
        timing = f"count {counted * 1000:.0f} ms, page lists {listed * 1000:.0f} ms"
        print(f"demo {user.username}: {counts.total} tasks, {timing}")
    for language, locale, labels, heading, bar in (
        ("en", "en-GB", ("Username", "Password", "Sign in"), "My tasks", r"My tasks \((\d+)\)"),
        ("zh-hans", "zh-CN", ("用户名", "密码", "登录"), "我的任务", r"我的任务（(\d+)）"),
    ):
        coordinator.language = language
        coordinator.save(update_fields=["language"])
        context = browser.new_context(
            locale=locale, extra_http_headers={"Accept-Language": locale}, viewport={"width": 1440, "height": 900}
        )
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label(labels[0]).fill("coordinator")
        page.get_by_label(labels[1]).fill(DEMO_PASSWORD)
        page.get_by_role("button", name=labels[2]).click()
        page.wait_for_url(f"{live_server.url}/tasks/")
        assert page.get_by_role("heading", level=1).inner_text() == heading
        count = int(re.fullmatch(bar, page.locator("[data-my-tasks]").inner_text().strip()).group(1))
        listed = page.locator("tr[data-task]").count()
        assert count == listed and listed > 0
        # the coordinator's four sections, and no one else's
        assert page.locator("section.card").count() == 4
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1440, f"My tasks in {language}: {width}px wide"
        screenshot(page, f"my-tasks-{language[:2]}")
        context.close()
