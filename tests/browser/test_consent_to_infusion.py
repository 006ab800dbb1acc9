"""Issue 4 "Done when": in real Chromium, driven only by visible labels and roles, a coordinator
consents, screens, enrols, records lymphodepletion and an infusion — in Chinese and in English.
Screenshots of the casebook and the infusion form land in artifacts/screenshots/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from subjects.models import Infusion, Subject
from subjects.services.visits import site_today
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import demo_schedule, protocol_v1

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-4")]

WORDS = {
    "zh-hans": {
        "short": "zh",
        "locale": "zh-CN",
        "accept": "zh-CN,zh;q=0.9",
        "username": "用户名",
        "password": "密码",
        "sign_in": "登录",
        "subjects": "受试者",
        "new_subject": "新受试者（知情同意）",
        "consent_version": "知情同意书版本",
        "consent_date": "知情同意日期",
        "record_consent": "记录知情同意",
        "checklist": "入选/排除标准核查表",
        "protocol_version": "方案版本",
        "assessment_date": "评估日期",
        "inclusion": "入选标准",
        "yes": "是",
        "no": "否",
        "save_checklist": "保存核查表",
        "enrolment_date": "入组日期",
        "dose_level": "剂量组",
        "planned_infusion": "计划回输日期",
        "enrol": "入组",
        "casebook": "病例记录",
        "enter_ld": "清淋预处理",
        "enter_inf": "CAR-T 产品与回输",
        "fludarabine": "氟达拉滨（mg/m²/天）",
        "cyclophosphamide": "环磷酰胺（mg/m²/天）",
        "bsa": "计算所用体表面积（m²）",
        "start_date": "开始日期",
        "end_date": "结束日期",
        "complete": "将此病例报告表标记为已完成",
        "save": "保存",
        "product_id": "产品编号",
        "lot": "批号",
        "source": "产品来源",
        "autologous": "自体",
        "state": "新鲜或复苏",
        "thawed": "复苏（冻存）",
        "thaw_time": "复苏时间",
        "bag_id": "细胞袋编号",
        "bag_matches": "细胞袋编号与受试者身份一致（床旁核对）",
        "checker_1": "核对人（第一人）",
        "checker_2": "核对人（第二人）",
        "start": "回输开始时间",
        "end": "回输结束时间",
        "volume": "回输体积（mL）",
        "viable": "活细胞总数（×10⁶）",
        "car_pct": "CAR+ 细胞比例（%）",
        "weight": "计算所用体重（kg）",
        "status_infused": "已回输",
        "day0": "第 0 天",
    },
    "en": {
        "short": "en",
        "locale": "en-US",
        "accept": "en-US,en;q=0.9",
        "username": "Username",
        "password": "Password",
        "sign_in": "Sign in",
        "subjects": "Subjects",
        "new_subject": "New subject (consent)",
        "consent_version": "Consent form version",
        "consent_date": "Consent date",
        "record_consent": "Record consent",
        "checklist": "Eligibility checklist",
        "protocol_version": "Protocol version",
        "assessment_date": "Assessment date",
        "inclusion": "Inclusion",
        "yes": "Yes",
        "no": "No",
        "save_checklist": "Save checklist",
        "enrolment_date": "Enrolment date",
        "dose_level": "Dose level",
        "planned_infusion": "Planned infusion date",
        "enrol": "Enrol",
        "casebook": "Casebook",
        "enter_ld": "Lymphodepletion",
        "enter_inf": "CAR-T product and infusion",
        "fludarabine": "Fludarabine (mg/m² per day)",
        "cyclophosphamide": "Cyclophosphamide (mg/m² per day)",
        "bsa": "Body surface area used (m²)",
        "start_date": "Start date",
        "end_date": "End date",
        "complete": "Mark this form complete",
        "save": "Save",
        "product_id": "Product ID",
        "lot": "Lot number",
        "source": "Product source",
        "autologous": "Autologous",
        "state": "Fresh or thawed",
        "thawed": "Thawed (cryopreserved)",
        "thaw_time": "Thaw time",
        "bag_id": "Bag ID",
        "bag_matches": "Bag ID and subject identity match (bedside check)",
        "checker_1": "Checked by (first person)",
        "checker_2": "Checked by (second person)",
        "start": "Infusion start",
        "end": "Infusion end",
        "volume": "Volume infused (mL)",
        "viable": "Total viable cells (×10⁶)",
        "car_pct": "CAR+ cells (%)",
        "weight": "Weight used (kg)",
        "status_infused": "Infused",
        "day0": "day 0",
    },
}


@pytest.fixture
def seeded(transactional_db, study, site_a, users_a):
    site_a.name_zh = "测试医院"
    site_a.time_zone = "Asia/Shanghai"
    site_a.save()
    protocol_v1(study)
    demo_schedule(study)
    return site_a


def field(page, label: str):
    """The control whose visible label is exactly `label` (a required field's label ends in *)."""
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))


def visit_row(page, code: str):
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=re.compile(rf"^{code} · ")))


@pytest.mark.req("DESIGN-1")
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_coordinator_consents_screens_enrols_and_records_lymphodepletion_and_infusion(
    browser, live_server, seeded, users_a, screenshot, language
):
    w = WORDS[language]
    coordinator = users_a["coordinator"]
    coordinator.language = language
    coordinator.save()
    today = site_today(Subject(site=seeded))
    day = {n: (today + timedelta(days=n)).isoformat() for n in range(-30, 1)}
    context = browser.new_context(
        locale=w["locale"], extra_http_headers={"Accept-Language": w["accept"]}, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    _sign_in(page, live_server.url, "coordinator_a", w["username"], w["password"], w["sign_in"])
    page.wait_for_url(f"{live_server.url}/tasks/")  # a coordinator's home (issue 31)
    page.goto(f"{live_server.url}/")

    # consent opens screening
    page.locator("main").get_by_role("link", name=w["subjects"], exact=True).click()
    page.get_by_role("link", name=w["new_subject"]).click()
    field(page, w["consent_version"]).fill("2.0")
    field(page, w["consent_date"]).fill(day[-20])
    page.get_by_role("button", name=w["record_consent"]).click()

    # eligibility: every inclusion criterion met, no exclusion criterion
    page.get_by_role("link", name=w["checklist"]).click()
    field(page, w["protocol_version"]).fill("2.1")
    field(page, w["assessment_date"]).fill(day[-18])
    groups = page.get_by_role("group")
    for i in range(groups.count()):
        group = groups.nth(i)
        answer = w["yes"] if group.inner_text().startswith(w["inclusion"]) else w["no"]
        group.get_by_label(answer, exact=True).check()
    page.get_by_role("button", name=w["save_checklist"]).click()

    # enrolment with the dose level and the planned infusion date
    field(page, w["enrolment_date"]).fill(day[-16])
    field(page, w["dose_level"]).select_option("DL2")
    field(page, w["planned_infusion"]).fill(day[-2])
    page.get_by_role("button", name=w["enrol"], exact=True).click()
    # the confirmation names subject and level (issue 24); no DLT candidate awaits: no acknowledgement
    assert "A-001" in page.locator("[data-confirm-summary]").inner_text()
    page.locator("button.primary[type=submit]").click()
    page.get_by_role("link", name=w["casebook"]).click()

    # the casebook's LD row: its expected lymphodepletion form, missing (issue 24)
    lymphodepletion = page.locator('[data-visit="LD"] [data-form="LD"] a')
    assert w["enter_ld"] in lymphodepletion.inner_text()
    lymphodepletion.click()
    field(page, w["fludarabine"]).fill("30")
    field(page, w["cyclophosphamide"]).fill("300")
    field(page, w["bsa"]).fill("1.72")
    field(page, w["start_date"]).fill(day[-7])
    field(page, w["end_date"]).fill(day[-5])
    field(page, w["complete"]).check()
    page.get_by_role("button", name=w["save"], exact=True).click()
    page.wait_for_url("**/forms/LD/*/")

    # the infusion from the casebook's D0 row, at 07:30 site time
    page.goto(f"{live_server.url}/subjects/")
    page.get_by_role("link", name=re.compile(r"^A-\d+$")).first.click()
    page.get_by_role("link", name=w["casebook"]).click()
    infusion_chip = page.locator('[data-visit="D0"] [data-form="INF"] a')
    assert w["enter_inf"] in infusion_chip.inner_text()
    infusion_chip.click()
    field(page, w["product_id"]).fill("CD7-CAR-0007")
    field(page, w["lot"]).fill("L260307")
    field(page, w["source"]).select_option(label=w["autologous"])
    field(page, w["state"]).select_option(label=w["thawed"])
    field(page, w["thaw_time"]).fill(f"{day[-2]}T07:05")
    field(page, w["bag_id"]).fill("BAG-0007-1")
    field(page, w["bag_matches"]).check()
    field(page, w["checker_1"]).fill("刘护士 Nurse Liu")
    field(page, w["checker_2"]).fill("王医生 Dr Wang")
    field(page, w["start"]).fill(f"{day[-2]}T07:30")
    field(page, w["end"]).fill(f"{day[-2]}T07:48")
    field(page, w["volume"]).fill("48")
    field(page, w["viable"]).fill("100")
    field(page, w["car_pct"]).fill("60")
    field(page, w["weight"]).fill("70")
    field(page, w["complete"]).check()
    page.get_by_role("button", name=w["save"], exact=True).click()
    page.wait_for_url("**/forms/INF/*/")
    derived = page.get_by_role("region", name=re.compile("Derived values|推导值")).inner_text()
    assert "0.8571" in derived and w["day0"] in derived
    screenshot(page, f"infusion-form-{w['short']}")

    infusion = Infusion.objects.get(product_id="CD7-CAR-0007")
    assert infusion.infusion_date.isoformat() == day[-2]
    assert infusion.dose_in_range is True
    subject = infusion.subject
    subject.refresh_from_db()
    assert subject.status == "infused"
    assert subject.infusion_date.isoformat() == day[-2]

    page.goto(f"{live_server.url}/subjects/{subject.pk}/casebook/")
    assert w["status_infused"] in page.locator("dl.facts").inner_text()
    # the two forms are complete; their visits still expect vital signs and more (§7.1)
    assert page.locator('[data-visit="LD"] [data-form="LD"]').get_attribute("data-mark") == "complete"
    assert page.locator('[data-visit="D0"] [data-form="INF"]').get_attribute("data-mark") == "complete"
    screenshot(page, f"casebook-{w['short']}")
    context.close()


def test_typed_entries_survive_the_end_of_a_session(browser, live_server, seeded, users_a, screenshot):
    from crf.models import FormDraft

    coordinator = users_a["coordinator"]
    coordinator.language = "en"
    coordinator.save()
    subject = Subject.objects.create(site=seeded, subject_id="A-009")
    context = browser.new_context(locale="en-US", extra_http_headers={"Accept-Language": "en-US"})
    page = context.new_page()
    _sign_in(page, live_server.url, "coordinator_a", "Username", "Password", "Sign in")
    page.wait_for_url(f"{live_server.url}/tasks/")  # a coordinator's home (issue 31)
    page.goto(f"{live_server.url}/subjects/{subject.pk}/forms/VS/new/")
    field(page, "Temperature (°C)").fill("38.6")
    field(page, "Assessment date").fill("2026-03-02")
    page.wait_for_timeout(2500)  # the page keeps the draft 1.5 s after the last keystroke
    assert FormDraft.objects.filter(user=coordinator).exists()
    context.clear_cookies()  # the session ends
    _sign_in(page, live_server.url, "coordinator_a", "Username", "Password", "Sign in")
    page.goto(f"{live_server.url}/subjects/{subject.pk}/forms/VS/new/")
    page.get_by_role("link", name="Restore my unsaved entries").click()
    assert field(page, "Temperature (°C)").input_value() == "38.6"
    screenshot(page, "draft-restored-en")
    context.close()
