"""Issue 31 item 1 in real Chromium at 1440×900, in English and Chinese: the coordinator's one
notifications list (a query raised by the monitor, the daily digest's visits and automatic
query, a safety alert), marking an item read, and the notification settings. Screenshots:
artifacts/screenshots/notifications-{en,zh}.png and notification-settings-{en,zh}.png (copies in
docs/screenshots/)."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.utils import timezone

from adverse_events.models import AlertKind, Notification, SafetyAlert
from crf.queries import raise_query
from datamanagement.models import NoticeMail
from datamanagement.notifications import build_digest, send_notice_mail
from study.models import VisitDefinition
from subjects.models import Subject, Visit
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import identity, protocol_v1, vital_signs

pytestmark = [pytest.mark.browser, pytest.mark.req("issue-31")]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LABELS = {"en": ("Username", "Password", "Sign in"), "zh-hans": ("用户名", "密码", "登录")}


@pytest.fixture
def seeded(transactional_db, study, site_a, users_a):
    site_a.name_zh = "测试医院"
    site_a.time_zone = "Asia/Shanghai"
    site_a.save()
    protocol_v1(study)
    subject = Subject.objects.create(site=site_a, subject_id="A-001")
    identity(subject)
    form = vital_signs(users_a["coordinator"], subject, systolic_bp=120, diastolic_bp=80)
    raise_query(user=users_a["monitor"], form=form, field_name="systolic_bp", text="Please check SBP.")
    vital_signs(users_a["investigator"], subject, systolic_bp=110, diastolic_bp=115)  # an edit check fires
    Subject.objects.filter(pk=subject.pk).update(status="infused", dose_level="DL1")
    now = timezone.now()
    today = now.astimezone(ZoneInfo(site_a.time_zone)).date()
    for order, (code, day, planned) in enumerate(
        [("D7", 7, today + timedelta(days=1)), ("D5", 5, today - timedelta(days=3))]
    ):
        definition = VisitDefinition.objects.create(
            study=study,
            code=code,
            name=f"Day {day}",
            name_zh=f"第 {day} 天",
            anchor="infusion",
            day=day,
            window_before=1,
            window_after=1,
            order=order + 10,
        )
        Visit.objects.create(subject=subject, definition=definition, planned_date=planned)
    alert = SafetyAlert.objects.create(
        site=site_a,
        subject=subject,
        kind=AlertKind.CRS_G3,
        source_key="crs_g3:browser",
        summary="CRS grade 3, subject A-001, episode 1 from study day 3",
        summary_code="%(what)s grade %(grade)s, subject %(subject)s, episode %(n)s from study day %(day)s",
        summary_params={"what": "CRS", "grade": 3, "subject": "A-001", "n": 1, "day": 3},
    )
    Notification.objects.create(user=users_a["coordinator"], alert=alert)
    digest_time = now if now.astimezone(ZoneInfo(site_a.time_zone)).hour >= 7 else now + timedelta(hours=8)
    with transaction.atomic():
        build_digest(user=users_a["coordinator"], now=digest_time)
    for mail_id in NoticeMail.objects.values_list("pk", flat=True):
        with transaction.atomic():
            send_notice_mail(mail_id=mail_id)
    return subject


@pytest.mark.parametrize(
    ("language", "suffix", "title", "settings_title"),
    [
        ("en", "en", "Notifications", "Notification settings"),
        ("zh-hans", "zh", "通知", "通知设置"),
    ],
)
def test_the_coordinator_reads_one_list_marks_an_item_read_and_chooses_deliveries(
    browser, live_server, seeded, users_a, screenshot, language, suffix, title, settings_title
):
    coordinator = users_a["coordinator"]
    coordinator.language = language
    coordinator.save(update_fields=["language"])
    accept = "zh-CN,zh;q=0.9" if language != "en" else "en"
    context = browser.new_context(
        locale="zh-CN" if language != "en" else "en-GB",
        extra_http_headers={"Accept-Language": accept},
        viewport={"width": 1440, "height": 900},
    )
    page = context.new_page()
    _sign_in(page, live_server.url, "coordinator_a", *LABELS[language])
    page.wait_for_url(re.compile(re.escape(live_server.url) + r"/(tasks/)?$"))  # a coordinator lands on My tasks

    # the top bar's one link counts every unread item: query raised, 2 visits, automatic query, alert
    badge = page.locator("header [data-unread]")
    assert badge.inner_text() == "5"
    page.locator("header nav a", has=page.locator("[data-unread]")).click()
    page.wait_for_url("**/data/notifications/")
    assert page.get_by_role("heading", level=1).inner_text() == title
    rows = page.locator("table.notifications tbody tr")
    assert rows.count() == 5
    assert page.locator('tr[data-read="0"]').count() == 5
    rows.first.get_by_role("button").click()
    page.wait_for_url("**/data/notifications/")
    assert page.locator('tr[data-read="1"]').count() == 1
    assert page.locator("header [data-unread]").inner_text() == "4"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    shot = screenshot(page, f"notifications-{suffix}")
    shutil.copy(shot, DOCS / shot.name)

    page.get_by_role("link", name=settings_title).click()
    page.wait_for_url("**/data/notifications/settings/")
    assert page.get_by_role("heading", level=1).inner_text() == settings_title
    assert page.locator('input[name="visit_due"][value="immediate"]').count() == 0
    page.locator('input[name="query_answered"][value="digest"]').check()
    page.locator("form button.primary").click()
    page.wait_for_url("**/data/notifications/settings/")
    assert page.locator('input[name="query_answered"][value="digest"]').is_checked()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    shot = screenshot(page, f"notification-settings-{suffix}")
    shutil.copy(shot, DOCS / shot.name)
    context.close()
