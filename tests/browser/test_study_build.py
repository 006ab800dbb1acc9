"""Issue 27 item 1 in real Chromium: a study admin adds a site, a laboratory with reference
ranges (a second range effective from a later date) and a schedule change with an effective
date; a coordinator then sees a visit window and a lab grade following the version in force.
Screenshots of each study build page at 1440×900 in English and Chinese (docs/screenshots/)."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest

from clinical.units import Panel
from labs.models import Laboratory, LabResult
from labs.services import PanelRow, record_lab_panel
from study.models import Site
from subjects.services import subject as services
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import demo_schedule, identity, protocol_v1
from tests.labs.conftest import ensure_compiled_catalogue
from tests.subjects.conftest import ASSESSED, CONSENTED, ELIGIBLE

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-27")]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZE = {"width": 1440, "height": 900}


@pytest.fixture
def live_study(transactional_db, study, site_a, users_a):
    """Site 01 with one enrolled subject, infusion planned 2026-03-20 (D7 on 03-27, ±1)."""
    ensure_compiled_catalogue()
    protocol_v1(study)
    demo_schedule(study)
    coordinator = users_a["coordinator"]
    subject = services.record_consent(user=coordinator, site=site_a, consent_version="1.0", consent_date=CONSENTED)
    services.record_eligibility(
        user=coordinator, subject=subject, protocol_version="2.1", assessment_date=ASSESSED, criteria=ELIGIBLE
    )
    planned = date(2026, 3, 20)
    subject = services.enrol(
        user=coordinator, subject=subject, on=date(2026, 3, 5), dose_level="DL2", planned_infusion_date=planned
    )
    identity(subject)
    return subject


def _platelets(user, subject, on: date) -> LabResult:
    (row,) = record_lab_panel(
        user=user,
        subject=subject,
        panel=Panel.CBC,
        collected_on=on,
        collected_time=time(8, 0),
        visit=None,
        sex="",
        rows=[PanelRow(analyte="PLT", value=Decimal("110"), unit="10^9/L")],
        complete=True,
    )
    return row


def _shots(page, base: str, lab: Laboratory, lang: str) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, path in (
        ("sites", "/admin/sites/"),
        ("site-form", "/admin/sites/add/"),
        ("laboratories", "/admin/laboratories/"),
        ("laboratory", f"/admin/laboratories/{lab.pk}/"),
        ("schedule", "/admin/schedule/"),
        ("dose-levels", "/admin/dose-levels/"),
    ):
        page.goto(f"{base}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= SIZE["width"], (path, lang, width)  # no horizontal scroll
        page.screenshot(path=str(DOCS / f"study-build-{name}-{lang}.png"), full_page=True)


def test_admin_builds_a_site_a_laboratory_and_a_schedule_change(browser, live_server, live_study, users_a):
    base = live_server.url
    admin, coordinator = users_a["study_admin"], users_a["coordinator"]
    context = browser.new_context(viewport=SIZE, locale="en-GB")
    page = context.new_page()
    _sign_in(page, base, admin.username, "Username", "Password", "Sign in")
    page.wait_for_load_state()

    # a site
    page.goto(f"{base}/admin/sites/")
    page.get_by_role("link", name="Add a site").click()
    page.get_by_label("Site code").fill("02")
    page.get_by_label("Name (English)").fill("Beijing site")
    page.get_by_label("Name (Chinese)").fill("北京中心")
    page.get_by_label("Subject ID prefix").fill("B")
    page.get_by_label("Country").select_option("CN")
    page.get_by_label("Time zone").select_option("Asia/Shanghai")
    page.get_by_label("Active from").fill("2026-04-01")
    page.get_by_label("Reason for change").fill("second site opens")
    page.get_by_role("button", name="Save site").click()
    page.wait_for_url(f"{base}/admin/sites/")
    assert page.locator('tr[data-site="02"]').inner_text().split("\t")[:3] == ["02", "Beijing site", "China"]
    assert Site.objects.get(code="02").time_zone == "Asia/Shanghai"

    # a laboratory at site 01 with a platelet range from the start
    page.get_by_role("link", name="Laboratories and reference ranges").click()
    form = page.locator("#laboratory-form")
    form.get_by_label("Site").select_option(label="01 · Site A")
    form.get_by_label("Laboratory code").fill("CL")
    form.get_by_label("Name (English)").fill("Central laboratory")
    form.get_by_label("Name (Chinese)").fill("中心实验室")
    form.get_by_label("Reason for change").fill("laboratory set up")
    form.get_by_role("button", name="Save laboratory").click()
    page.wait_for_url("**/admin/laboratories/*/")
    lab = Laboratory.objects.get(code="CL")
    ranges = page.locator("#range-form")
    ranges.get_by_label("Analyte").select_option("PLT")
    ranges.get_by_label("Unit").select_option("10^9/L")
    ranges.get_by_label("LLN").fill("100")
    ranges.get_by_label("ULN").fill("350")
    ranges.get_by_label("Reason for change").fill("laboratory set up")
    ranges.get_by_role("button", name="Save reference range").click()
    page.wait_for_load_state()

    # the coordinator's platelet counts of 4 and 9 March, judged by that laboratory's range
    early = _platelets(coordinator, live_study, date(2026, 3, 4))
    late = _platelets(coordinator, live_study, date(2026, 3, 9))
    assert (early.laboratory, early.flag, early.ctcae_grade) == (lab, "N", 0)

    # a new analyser from 5 March: LLN 125
    ranges = page.locator("#range-form")
    ranges.get_by_label("Analyte").select_option("PLT")
    ranges.get_by_label("Unit").select_option("10^9/L")
    ranges.get_by_label("LLN").fill("125")
    ranges.get_by_label("ULN").fill("350")
    ranges.get_by_label("Effective from").fill("2026-03-05")
    ranges.get_by_label("Reason for change").fill("new analyser")
    ranges.get_by_role("button", name="Save reference range").click()
    page.wait_for_load_state()
    assert "1 results re-derived" in page.locator(".messages, [role=status], .message").first.inner_text()
    assert page.locator('tr[data-range="PLT-2026-03-05"]').get_by_text("In force").is_visible()
    assert page.locator('tr[data-range="PLT-start"]').get_by_text("In force").count() == 0

    # a schedule change: day 7's window after widens from 1 to 3 days, from 1 March
    page.goto(f"{base}/admin/schedule/")
    page.get_by_label("D7: window after (days)").fill("3")
    page.get_by_label("Effective from").fill("2026-03-01")
    page.get_by_label("Reason for change").fill("amendment 2")
    page.get_by_role("button", name="Save new version").click()
    page.wait_for_url(f"{base}/admin/schedule/")
    assert page.locator('#in-force tr[data-visit="D7"] td.window').inner_text() == "−1 / +3"
    assert page.locator('#in-force tr[data-visit="D6"] td.window').inner_text() == "−1 / +1"
    _shots(page, base, lab, "en")
    context.close()

    # the coordinator sees the window and the grades under the versions in force
    context = browser.new_context(viewport=SIZE, locale="en-GB")
    page = context.new_page()
    _sign_in(page, base, coordinator.username, "Username", "Password", "Sign in")
    page.wait_for_load_state()
    page.goto(f"{base}/subjects/{live_study.pk}/casebook/")
    d7 = page.get_by_role("row").filter(has_text="D7 · Day 7")
    assert "−1/+3 d" in d7.inner_text()
    d6 = page.get_by_role("row").filter(has_text="D6 · Day 6")
    assert "−1/+1 d" in d6.inner_text()
    page.goto(f"{base}/subjects/{live_study.pk}/labs/collections/{late.pk}/")
    assert page.get_by_role("row", name="Platelets (PLT)").get_by_text("CTCAE grade 1").is_visible()
    page.goto(f"{base}/subjects/{live_study.pk}/labs/collections/{early.pk}/")
    assert page.get_by_role("row", name="Platelets (PLT)").get_by_text("CTCAE grade").count() == 0
    context.close()

    # the pages in Chinese
    admin.language = "zh-hans"
    admin.save(update_fields=["language"])
    context = browser.new_context(
        viewport=SIZE, locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    page = context.new_page()
    _sign_in(page, base, admin.username, "用户名", "密码", "登录")
    page.wait_for_load_state()
    _shots(page, base, lab, "zh")
    page.goto(f"{base}/admin/schedule/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("访视计划")
    context.close()
