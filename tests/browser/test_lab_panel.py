"""Issue 6 item 1 in real Chromium, in Chinese: a coordinator enters a blood count on the panel
page with the keyboard only (Tab runs down the result column), an impossible platelet count is
refused on its field with nothing saved, the corrected panel saves every row, and the saved
collection shows the standard-unit values and flags. Screenshot: lab-panel-zh."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from labs.models import LabResult, ReferenceRange
from subjects.models import Subject
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import identity
from tests.labs.conftest import ensure_compiled_catalogue

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-6")]


@pytest.fixture
def lab_subject(transactional_db, site_a, users_a):
    ensure_compiled_catalogue()
    site_a.time_zone = "Asia/Shanghai"
    site_a.save()
    coordinator = users_a["coordinator"]
    coordinator.language = "zh-hans"
    coordinator.save(update_fields=["language"])
    subject = Subject.objects.create(site=site_a, subject_id="A-001")
    identity(subject, born=date(1990, 5, 1))
    ReferenceRange.objects.create(
        site=site_a, analyte="HGB", sex="F", unit="g/L", lln=Decimal("115"), uln=Decimal("150")
    )
    ReferenceRange.objects.create(site=site_a, analyte="PLT", unit="10^9/L", lln=Decimal("125"), uln=Decimal("350"))
    return subject


def test_blood_count_entered_by_keyboard_in_chinese(browser, live_server, lab_subject, screenshot):
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    page = context.new_page()
    _sign_in(page, live_server.url, "coordinator_a", "用户名", "密码", "登录")
    page.wait_for_url(f"{live_server.url}/tasks/")  # a coordinator's home (issue 31)
    page.goto(f"{live_server.url}/subjects/{lab_subject.pk}/labs/new/")
    page.get_by_role("link", name="血常规").click()
    page.wait_for_url("**/labs/CBC/new/")

    page.get_by_label("采集日期").fill("2026-03-02")
    page.get_by_label("采集时间（中心当地时间）").fill("08:15")
    page.get_by_label("性别（用于参考范围）").select_option("F")
    # Tab from one result goes to the next analyte's result, down the column
    page.get_by_label("白细胞计数（WBC）：结果").focus()
    for value in ("3.1", "1.4", "0.9", "98", "-20"):
        page.keyboard.type(value)
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "BLAST__value"
    page.keyboard.type("2")
    page.get_by_role("button", name="保存").click()
    page.wait_for_load_state()
    errors = page.locator("p.error").all_inner_texts()
    assert errors == ["数值不可能：血小板计数（PLT）不能低于 0 ×10⁹/L。"], errors
    assert LabResult.objects.count() == 0
    assert page.get_by_label("白细胞计数（WBC）：结果").input_value() == "3.1"  # typed values kept

    page.get_by_label("血小板计数（PLT）：结果").fill("20")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url("**/labs/collections/*/")
    assert LabResult.objects.count() == 6
    hgb = LabResult.objects.get(analyte="HGB")
    assert (hgb.standard_value, hgb.standard_lln, hgb.flag, hgb.range_source) == (
        Decimal("98"),
        Decimal("115"),
        "L",
        "site_table",
    )
    assert page.get_by_role("row", name="血小板计数（PLT）").get_by_text("偏低").is_visible()
    screenshot(page, "lab-panel-zh")
    context.close()
