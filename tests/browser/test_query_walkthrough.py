"""Issue 7 "Done when": in real Chromium, in Chinese, a monitor raises a query on one field of a
form (opening the field's panel from the keyboard) and a coordinator answers it beside the field.
Screenshots: artifacts/screenshots/query-raise-monitor-zh.png and query-answer-coordinator-zh.png
(copies in docs/screenshots/)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from crf.models import Query, QueryStep
from labs.models import VitalSigns
from subjects.models import Subject
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import identity, protocol_v1, vital_signs

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-7")]

SYSTOLIC = "收缩压（mmHg）"


@pytest.fixture
def seeded(transactional_db, study, site_a, users_a):
    site_a.name_zh = "测试医院"
    site_a.time_zone = "Asia/Shanghai"
    site_a.save()
    for user in users_a.values():
        user.language = "zh-hans"
        user.save()
    protocol_v1(study, effective_from=date(2020, 1, 1))
    subject = Subject.objects.create(site=site_a, subject_id="A-001")
    identity(subject)
    return vital_signs(users_a["coordinator"], subject, systolic_bp=120, diastolic_bp=80)


def _page(browser, live_server, username):
    context = browser.new_context(
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    _sign_in(page, live_server.url, username, "用户名", "密码", "登录")
    page.wait_for_url(re.compile(re.escape(live_server.url) + r"/(tasks/)?$"))  # a coordinator lands on My tasks
    return context, page


@pytest.mark.req("DESIGN-1")
def test_monitor_raises_a_query_on_a_field_and_the_coordinator_answers_it(
    browser, live_server, seeded: VitalSigns, users_a, screenshot
):
    form_url = f"{live_server.url}/subjects/{seeded.subject_id}/forms/VS/{seeded.pk}/"

    # the monitor opens the systolic pressure's panel from the keyboard and raises a query
    context, page = _page(browser, live_server, "monitor_a")
    page.goto(form_url)
    panel = page.locator("details.query-raise").filter(has=page.get_by_label(f"对“{SYSTOLIC}”的质疑"))
    panel.locator("summary").focus()
    page.keyboard.press("Enter")
    page.get_by_label(f"对“{SYSTOLIC}”的质疑").fill("收缩压 120 与护理记录单（118）不一致，请核实。")
    panel.get_by_role("button", name="发起质疑").click()
    page.wait_for_url(f"**/forms/VS/{seeded.pk}/#q-*")
    assert page.get_by_text("质疑已发起。").is_visible()
    thread = page.locator("details.query-thread").filter(has_text="收缩压 120 与护理记录单（118）不一致")
    assert "1 个未关闭质疑" in thread.locator("summary").inner_text()
    assert thread.locator(".query .badge").first.inner_text() == "开放"
    screenshot(page, "query-raise-monitor-zh")
    context.close()

    query = Query.objects.get()
    assert (query.field_name, query.raised_by, query.status) == ("systolic_bp", users_a["monitor"], "open")

    # the coordinator sees the badge beside the field, reads the thread and confirms the value
    context, page = _page(browser, live_server, "coordinator_a")
    page.goto(form_url)
    thread = page.locator("details.query-thread").filter(has_text="收缩压 120 与护理记录单（118）不一致")
    assert thread.get_attribute("open") is not None  # an open query shows its thread
    thread.get_by_label("原录入数值正确的理由").fill("已核对护理记录单原件：120 为当日 08:00 测量值，118 为复测值。")
    thread.get_by_role("button", name="确认数值无误").click()
    page.wait_for_url(f"**/forms/VS/{seeded.pk}/#q-{query.pk}")
    assert page.get_by_text("回复已保存：数值已确认。").is_visible()
    assert page.locator(f"#q-{query.pk} .badge").first.inner_text() == "已回复"
    page.locator(f"#q-{query.pk}").scroll_into_view_if_needed()
    screenshot(page, "query-answer-coordinator-zh")
    context.close()

    query.refresh_from_db()
    assert (query.status, query.answer, query.answered_by) == ("answered", "confirmed", users_a["coordinator"])
    assert list(QueryStep.objects.filter(query=query).order_by("at", "pk").values_list("action", "by__username")) == [
        ("raised", "monitor_a"),
        ("answered", "coordinator_a"),
    ]
