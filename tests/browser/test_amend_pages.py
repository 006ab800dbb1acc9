"""Issue 27 items 2, 3 and 5 (fever) in real Chromium at 1440×900, English and Chinese: the
vital-signs page of a record entered under CRF version 1.0 (no respiratory rate) and of a new
one (1.1: respiratory rate, fever grade), the protocol versions page and the study home with
the version in force. No horizontal scroll. Screenshots: artifacts/screenshots/amend-*-{en,zh}.png
(copies in docs/screenshots/)."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest
from django.utils import timezone

from labs.models import VitalSigns
from study import amendments
from study.models import AssessmentSchedule, VisitSchedule
from subjects.models import Subject
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import protocol_v1, vital_signs

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-27")]

LABELS = {"en": ("Username", "Password", "Sign in"), "zh": ("用户名", "密码", "登录")}


@pytest.fixture
def seeded(transactional_db, study, site_a, users_a):
    site_a.name_zh = "测试医院"
    site_a.time_zone = "Asia/Shanghai"
    site_a.save()
    v1 = protocol_v1(study)
    AssessmentSchedule.objects.create(
        study=study,
        version=1,
        effective_from=date(2020, 1, 1),
        matrix={"visits": {}, "logs": []},
        reason="CLINICAL_SPEC §7.1",
        created_at=timezone.now(),
    )
    VisitSchedule.objects.create(  # a visit schedule version, offered for grouping (study.amendments.AMENDABLE)
        study=study,
        version=1,
        effective_from=date(2026, 4, 1),
        visits={"D28": {"day": 28, "window_before": 3, "window_after": 7}},
        reason="amendment 2",
        created_at=timezone.now(),
    )
    amendments.record_amendment(
        actor=users_a["study_admin"],
        study=study,
        number="1.0",
        protocol_date=date(2025, 11, 1),
        approval_date=date(2025, 12, 20),
        summary="Original protocol.",
        reason="ethics approval",
        attach=[f"study.ProtocolSettings:{v1.pk}"],
    )
    subject = Subject.objects.create(site=site_a, subject_id="A-001")
    coordinator = users_a["coordinator"]
    old = vital_signs(coordinator, subject, heart_rate=88, temperature_c=Decimal("38.4"))
    VitalSigns.objects.filter(pk=old.pk).update(crf_version="1.0")
    new = vital_signs(
        coordinator,
        subject,
        assessment_date=date(2026, 3, 3),
        assessment_time=time(8, 30),
        temperature_c=Decimal("39.5"),
        heart_rate=104,
        respiratory_rate=22,
    )
    return {"subject": subject, "old": old, "new": new, "users": users_a}


def _page(browser, live_server, user, lang):
    user.language = "zh-hans" if lang == "zh" else "en"
    user.save()
    context = browser.new_context(locale="zh-CN" if lang == "zh" else "en-GB", viewport={"width": 1440, "height": 900})
    page = context.new_page()
    _sign_in(page, live_server.url, user.username, *LABELS[lang])
    page.wait_for_load_state()
    return page


def _no_horizontal_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_vital_signs_pages_follow_the_crf_version(browser, live_server, seeded, screenshot, lang):
    page = _page(browser, live_server, seeded["users"]["coordinator"], lang)
    subject = seeded["subject"]
    page.goto(f"{live_server.url}/subjects/{subject.pk}/forms/VS/{seeded['old'].pk}/")
    assert page.locator('[name="respiratory_rate"]').count() == 0
    assert page.locator('[name="heart_rate"]').count() == 1
    _no_horizontal_scroll(page)
    screenshot(page, f"amend-vs-crf-1-0-{lang}")
    page.goto(f"{live_server.url}/subjects/{subject.pk}/forms/VS/{seeded['new'].pk}/")
    assert page.locator('[name="respiratory_rate"]').input_value() == "22"
    grade = "grade 2 (above 39.0–40.0 °C)" if lang == "en" else "2 级（高于 39.0 至 40.0 °C）"
    assert page.get_by_text(grade).is_visible()
    _no_horizontal_scroll(page)
    screenshot(page, f"amend-vs-crf-1-1-fever-{lang}")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_protocol_versions_page_and_home(browser, live_server, seeded, screenshot, lang):
    page = _page(browser, live_server, seeded["users"]["study_admin"], lang)
    page.goto(f"{live_server.url}/admin/protocol-versions/")
    assert page.locator("#protocol-versions tbody tr").count() == 1
    assert page.locator("input[value^='study.VisitSchedule:']").count() == 2  # offered on both forms
    _no_horizontal_scroll(page)
    screenshot(page, f"amend-protocol-versions-{lang}")
    page.goto(f"{live_server.url}/")
    assert page.locator("[data-protocol-version]").first.inner_text().startswith("1.0")
    _no_horizontal_scroll(page)
    screenshot(page, f"amend-home-protocol-version-{lang}")
