"""Issue 6 item 3 in real Chromium, in Chinese: a coordinator reaches the CSV import from the
subject list, uploads a GB18030 file written by Excel on Chinese Windows, sees the detected
encoding, the delimiter, the row count and the first rows decoded, confirms by keyboard, and
reads the result. The preview is kept as docs/screenshots/csv-import-zh.png."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from crf.models import ImportRecord
from labs.models import VitalSigns
from subjects.models import Subject
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import identity, protocol_v1

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-6")]

VITALS = (
    "subject,assessment_date,assessment_time,temperature_c,systolic_bp,diastolic_bp,heart_rate,spo2,"
    "oxygen_device,oxygen_flow_l_min,entry_status\r\n"
    "YD-001,2026-03-20,08:00,38.6,112,70,104,97,鼻导管,2,complete\r\n"
    "YD-001,2026-03-20,14:00,39.2,88,52,118,93,鼻导管,4,complete\r\n"
    "YD-001,2026-03-21,08:00,37.4,118,74,92,98,不吸氧,,进行中\r\n"
)


@pytest.fixture
def seeded(transactional_db, study, site_a, users_a):
    site_a.default_language = "zh-hans"
    site_a.save()
    protocol_v1(study, effective_from=date(2020, 1, 1))
    subject = Subject.objects.create(site=site_a, subject_id="YD-001")
    identity(subject)
    return subject


def test_coordinator_imports_a_gb18030_file_in_chinese(browser, live_server, seeded, screenshot, tmp_path):
    # Excel's "不吸氧" is not our label for room air: it must be reported, then the corrected file imports.
    bad = tmp_path / "生命体征.csv"
    bad.write_bytes(VITALS.encode("gb18030"))
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    page = context.new_page()
    _sign_in(page, live_server.url, "coordinator_a", "用户名", "密码", "登录")
    page.wait_for_url(f"{live_server.url}/tasks/")  # a coordinator's home (issue 31)
    page.goto(f"{live_server.url}/subjects/")
    page.get_by_role("link", name="从 CSV 导入病例报告表数据").click()
    page.get_by_label("病例报告表").select_option("VS")
    page.get_by_label("CSV 文件").set_input_files(str(bad))
    page.get_by_role("button", name="读取文件").click()
    page.wait_for_url("**/subjects/import/*/")
    facts = page.locator("dl.facts").inner_text()
    assert "GB18030" in facts and "自动检测" in facts and "逗号" in facts
    assert page.locator("table.preview").inner_text().count("鼻导管") == 2
    errors = page.locator("table.import-errors").inner_text()
    assert "4" in errors and "oxygen_device" in errors and "不吸氧" in errors
    assert page.get_by_role("button", name="导入 3 行").count() == 0

    good = tmp_path / "生命体征-已更正.csv"
    good.write_bytes(VITALS.replace("不吸氧", "room_air").encode("gb18030"))
    page.goto(f"{live_server.url}/subjects/import/")
    page.get_by_label("病例报告表").select_option("VS")
    page.get_by_label("CSV 文件").set_input_files(str(good))
    page.get_by_role("button", name="读取文件").click()
    page.wait_for_url("**/subjects/import/*/")
    assert "所有行均通过检查：新建 3 份" in page.locator("main").inner_text()
    screenshot(page, "csv-import-zh")
    confirm = page.get_by_role("button", name="导入 3 行")
    confirm.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/subjects/import/records/*/")
    assert page.get_by_role("status").first.inner_text() == "已导入"
    screenshot(page, "csv-import-result-zh")
    context.close()

    saved = list(VitalSigns.objects.order_by("assessment_date", "assessment_time"))
    assert [v.temperature_c for v in saved] == [Decimal("38.6"), Decimal("39.2"), Decimal("37.4")]
    assert [v.oxygen_device for v in saved] == ["nasal_cannula", "nasal_cannula", "room_air"]
    assert [v.entry_status for v in saved] == ["complete", "complete", "in_progress"]
    assert saved[1].hypotension is True  # SBP 88 < 90 (CLINICAL_SPEC §1.2 h), derived on import
    assert list(ImportRecord.objects.order_by("pk").values_list("outcome", flat=True)) == ["imported"]
