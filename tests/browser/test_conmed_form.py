"""Issue 5 "Done when": in real Chromium, in Chinese, a coordinator fills the concomitant
medication form; the category follows the ATC code as it is typed (CLINICAL_SPEC §1.2 b), a
category picked by hand is never overwritten, a stop date before the start is refused next to
the field with the typed values kept, and the corrected form saves. Screenshot:
artifacts/screenshots/conmed-form-zh.png (a copy is in docs/screenshots/)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from subjects.models import ConcomitantMedication
from subjects.services import subject as services
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import protocol_v1

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-5")]


@pytest.fixture
def consented(transactional_db, study, site_a, users_a):
    site_a.name_zh = "测试医院"
    site_a.time_zone = "Asia/Shanghai"
    site_a.save()
    protocol_v1(study)
    coordinator = users_a["coordinator"]
    coordinator.language = "zh-hans"
    coordinator.save()
    return services.record_consent(user=coordinator, site=site_a, consent_version="2.0", consent_date=date(2026, 3, 1))


def field(page, label: str):
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))


def test_coordinator_fills_the_conmed_form_in_chinese(browser, live_server, consented, screenshot):
    context = browser.new_context(
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    _sign_in(page, live_server.url, "coordinator_a", "用户名", "密码", "登录")
    page.wait_for_url(f"{live_server.url}/tasks/")  # a coordinator's home (issue 31)
    page.goto(f"{live_server.url}/subjects/{consented.pk}/")
    section = page.locator("section", has=page.get_by_role("heading", name="合并用药", exact=True))
    section.get_by_role("link", name="新建病例报告表").click()
    page.wait_for_url("**/forms/CM/new/")
    assert page.get_by_role("heading", name="合并用药", exact=True).is_visible()

    category = field(page, "类别")
    field(page, "药物名称（原文）").fill("雅美罗（托珠单抗注射液）")
    atc = field(page, "ATC 编码")
    atc.press_sequentially("n02be01")  # typed in lower case: the page pre-fills as it goes
    assert category.input_value() == "antipyretic"
    atc.fill("")
    atc.press_sequentially("L04AC07")  # the code changes: the suggestion follows
    assert category.input_value() == "tocilizumab"
    assert page.get_by_text("已根据 ATC 编码预填，您可以修改。").is_visible()
    field(page, "剂量").fill("8")
    field(page, "剂量单位").select_option(label="mg/kg")
    field(page, "给药途径").select_option(label="静脉")
    field(page, "开始日期").fill("2026-03-18")
    field(page, "停药日期").fill("2026-03-17")
    field(page, "适应证").fill("细胞因子释放综合征（CRS）2 级")
    screenshot(page, "conmed-form-zh")

    category.select_option(label="其他")  # picked by hand: the ATC code no longer changes it
    atc.fill("")
    atc.press_sequentially("H02AB02")
    assert category.input_value() == "other"
    assert not page.get_by_text("已根据 ATC 编码预填，您可以修改。").is_visible()
    category.select_option(label="托珠单抗")
    atc.fill("")
    atc.press_sequentially("L04AC07")

    page.get_by_role("button", name="保存", exact=True).click()
    error = page.get_by_role("alert").filter(has_text="停药日期不能早于开始日期。")
    assert error.is_visible()
    assert field(page, "药物名称（原文）").input_value() == "雅美罗（托珠单抗注射液）"
    assert ConcomitantMedication.objects.count() == 0
    screenshot(page, "conmed-form-error-zh")

    field(page, "停药日期").fill("2026-03-18")
    page.get_by_role("button", name="保存", exact=True).click()
    page.wait_for_url("**/forms/CM/*/")
    assert page.get_by_text("已保存。").is_visible()
    saved = ConcomitantMedication.objects.get()
    assert (saved.medication_name, saved.atc_code, saved.category, saved.dose, saved.route) == (
        "雅美罗（托珠单抗注射液）",
        "L04AC07",
        "tocilizumab",
        Decimal("8.000"),
        "iv",
    )
    assert (saved.start_date, saved.stop_date) == (date(2026, 3, 18), date(2026, 3, 18))
    context.close()
