"""Issue 10 "Done when", in real Chromium and in Chinese: the investigator's DLT monitor (three
DL2 subjects, one confirmed DLT, one candidate awaiting adjudication → "expand to 6" with
"pending" beside it) and an SAE with its 24-hour reporting clock and alert delivery; the
investigator adjudicates the waiting candidate on its page. Screenshots in artifacts/screenshots/
(copies in docs/screenshots/)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import transaction

from adverse_events.models import DltCandidate, SafetyAlert, SafetyContacts
from adverse_events.services import alerts as alert_services
from adverse_events.services import dlt as dlt_services
from subjects.services import subject as services
from tests.adverse_events.conftest import LD_START, day, infused  # noqa: F401  (fixture)
from tests.adverse_events.test_adverse_events import record_ae
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import identity
from tests.subjects.conftest import ENROLLED, consent, coordinator, protocol, screened  # noqa: F401  (fixtures)
from tests.subjects.test_treatment_forms import PLANNED, infuse, lymphodeplete

pytestmark = [pytest.mark.browser, pytest.mark.req("CLINICAL_SPEC-3.1")]


def more_infused(coordinator, screened):  # noqa: F811
    """Another DL2 subject infused on the same day 0 (the schedule already exists)."""
    subject = services.enrol(
        user=coordinator, subject=screened(), on=ENROLLED, dose_level="DL2", planned_infusion_date=PLANNED
    )
    identity(subject, born=date(1985, 2, 1))
    lymphodeplete(coordinator, subject, start_date=LD_START, end_date=LD_START + timedelta(days=2))
    infuse(coordinator, subject)
    subject.refresh_from_db()
    return subject


@pytest.mark.req("DESIGN-1")
def test_dlt_monitor_and_sae_clock_in_chinese(
    browser,
    live_server,
    transactional_db,
    site_a,
    study,
    infused,  # noqa: F811
    users_a,
    screened,  # noqa: F811
    screenshot,
):
    site_a.name_zh = "测试医院"
    site_a.save()
    SafetyContacts.objects.create(study=study, sponsor_emails=["pv@sponsor.example"])
    coordinator = users_a["coordinator"]  # noqa: F811
    investigator = users_a["investigator"]
    investigator.language = "zh-hans"
    investigator.save()
    first = infused()
    second, _third = more_infused(coordinator, screened), more_infused(coordinator, screened)
    sae = record_ae(coordinator, first, ctcae_term="Sepsis", grade=4, onset_date=day(6), serious_life_threatening=True)
    record_ae(coordinator, second, ctcae_term="Hypertension", grade=3, onset_date=day(5))
    for subject in (first, second):
        dlt_services.recompute_candidates(subject=subject)
    confirmed = DltCandidate.objects.get(subject=first)
    dlt_services.adjudicate_candidate(
        user=investigator,
        candidate=confirmed,
        confirm=True,
        reason="脓毒性休克，14 天未恢复",
        expected_version=confirmed.version,
    )
    with transaction.atomic():
        alert_services.deliver_alert(alert_id=SafetyAlert.objects.get(source_key=f"sae:{sae.pk}").pk)

    context = browser.new_context(
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
        viewport={"width": 1400, "height": 900},
    )
    page = context.new_page()
    _sign_in(page, live_server.url, "investigator_a", "用户名", "密码", "登录")
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("link", name="DLT 监测").click()
    page.get_by_role("heading", name="DLT 监测", exact=True).wait_for()
    dl2 = page.locator('tr[data-level="DL2"]')
    assert dl2.locator("[data-decision]").get_attribute("data-decision") == "expand_to_6"
    assert "本剂量组扩展至 6 例" in dl2.inner_text()
    assert "待定" in dl2.inner_text()
    assert page.get_by_role("heading", name="待判定的疑似 DLT").is_visible()
    screenshot(page, "dlt-monitor-zh")

    page.goto(f"{live_server.url}/safety/subjects/{first.pk}/sae/{sae.pk}/")
    page.get_by_role("heading", name="24 小时上报时限").wait_for()
    assert "距上报截止还剩 23 小时" in page.locator("[data-clock]").inner_text()
    screenshot(page, "sae-clock-zh")
    page.get_by_role("button", name="标记为已上报申办方").click()
    page.get_by_text("已标记为已上报申办方。").wait_for()

    waiting = DltCandidate.objects.get(subject=second)
    page.goto(f"{live_server.url}/safety/dlt/candidates/{waiting.pk}/")
    page.get_by_label("否决：不是 DLT").check()  # radio buttons, nothing pre-selected (issue 24)
    page.locator("#id_reason").fill("高血压 3 级，第 9 天降压后恢复，与原始资料不符")
    page.get_by_role("button", name="保存").click()
    page.get_by_text("已否决").first.wait_for()
    waiting.refresh_from_db()
    assert (waiting.status, waiting.adjudicated_by) == ("rejected", investigator)
    context.close()
