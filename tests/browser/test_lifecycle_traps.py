"""Issue 24 "Done when" (item 2), in real Chromium, English and Chinese: a consent dated in the
future is refused; an existing wrong consent date is corrected on the consent form and the
subject then enrols normally; enrolment shows a confirmation naming subject and level with the
level's candidates awaiting adjudication; the coordinator's enrolment stays pending until an
investigator of the site acknowledges it under their own account (CLINICAL_SPEC §3.1)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from adverse_events.models import DltCandidate
from subjects.models import EnrolmentAcknowledgement, InformedConsent, Subject
from subjects.services import subject as services
from subjects.services import visits
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import demo_schedule, protocol_v1
from tests.subjects.conftest import ELIGIBLE

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-24")]

LANG = {
    "en": ("en-US", "Username", "Password", "Sign in", "in the future", "Enrol", "at DL3", "since"),
    "zh-hans": ("zh-CN", "用户名", "密码", "登录", "晚于今天", "入组", "入组到 DL3", "自"),
}


@pytest.fixture
def seeded(transactional_db, study, site_a, users_a):
    site_a.time_zone = "Asia/Shanghai"
    site_a.save()
    protocol_v1(study)
    demo_schedule(study)
    return site_a


def _as(browser, live_server, user, language):
    locale, username, password, sign_in, *_rest = LANG[language]
    user.language = language
    user.save()
    context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    _sign_in(page, live_server.url, user.username, username, password, sign_in)
    page.wait_for_url(re.compile(re.escape(live_server.url) + r"/(tasks/)?$"))  # a coordinator lands on My tasks
    return context, page


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_future_consent_refused_wrong_date_corrected_and_enrolment_acknowledged(
    browser, live_server, seeded, users_a, language
):
    *_login, future_words, _enrol, at_dl3, _since = LANG[language]
    coordinator, investigator = users_a["coordinator"], users_a["investigator"]
    today = visits.site_today(Subject(site=seeded))
    # a DL3 subject whose candidate DLT awaits adjudication
    earlier = services.record_consent(
        user=coordinator, site=seeded, consent_version="1.0", consent_date=today - timedelta(days=40)
    )
    services.record_eligibility(
        user=coordinator,
        subject=earlier,
        protocol_version="2.1",
        assessment_date=today - timedelta(days=39),
        criteria=ELIGIBLE,
    )
    earlier = services.enrol(user=coordinator, subject=earlier, on=today - timedelta(days=38), dose_level="DL3")
    DltCandidate.objects.create(
        subject=earlier, key="crs-g4", criterion="crs", onset_day=3, description="CRS grade 4 on day 3"
    )

    context, page = _as(browser, live_server, coordinator, language)
    # 1. a consent dated next month is refused, nothing saved
    page.goto(f"{live_server.url}/subjects/new/")
    page.locator("[name=consent_version]").fill("2.0")
    page.locator("[name=consent_date]").fill((today + timedelta(days=30)).isoformat())
    page.locator("main button[type=submit]").first.click()
    assert future_words in page.locator("main").inner_text()
    assert Subject.objects.count() == 1

    # 2. a wrong date stored before the rule existed is corrected on the consent form
    subject = services.record_consent(
        user=coordinator, site=seeded, consent_version="2.0", consent_date=today - timedelta(days=5)
    )
    wrong = today + timedelta(days=25)
    InformedConsent.objects.filter(subject=subject).update(consent_date=wrong)
    Subject.objects.filter(pk=subject.pk).update(status_date=wrong)
    consent = InformedConsent.objects.get(subject=subject)
    page.goto(f"{live_server.url}/subjects/{subject.pk}/forms/IC/{consent.pk}/")
    page.locator("[name=consent_date]").fill((today - timedelta(days=5)).isoformat())
    page.locator("[name=reason]").fill("month typed wrong")
    page.locator("button.primary[type=submit]").first.click()
    page.wait_for_load_state()
    subject.refresh_from_db()
    assert subject.status_date == today - timedelta(days=5)
    services.record_eligibility(
        user=coordinator,
        subject=subject,
        protocol_version="2.1",
        assessment_date=today - timedelta(days=4),
        criteria=ELIGIBLE,
    )

    # 3. enrolment at DL3: the confirmation names subject and level and shows the candidate
    page.goto(f"{live_server.url}/subjects/{subject.pk}/")
    assert (today - timedelta(days=5)).isoformat() in page.locator("dl.facts").inner_text()
    page.locator("[name=enrol-on]").fill((today - timedelta(days=3)).isoformat())
    page.locator("[name=enrol-dose_level]").select_option("DL3")
    page.locator("form[action$='/lifecycle/enrol/'] button[type=submit]").click()
    summary = page.locator("[data-confirm-summary]").inner_text()
    assert "A-002" in summary and at_dl3 in summary, summary
    assert "A-001" in page.locator("[data-awaiting]").inner_text()
    assert page.locator("[data-needs-acknowledgement]").count() == 1
    page.screenshot(path=f"artifacts/screenshots/enrol-confirm-{language[:2]}.png", full_page=True)
    page.locator("button.primary[type=submit]").click()
    page.wait_for_load_state()
    subject.refresh_from_db()
    assert subject.status == "screening"  # pending: a coordinator cannot acknowledge
    assert page.locator("[data-pending-enrolment]").count() == 1
    context.close()

    # 4. an investigator of the site acknowledges under their own account
    context, page = _as(browser, live_server, investigator, language)
    page.goto(f"{live_server.url}/subjects/{subject.pk}/")
    page.locator("[data-pending-enrolment] button[type=submit]").click()
    page.wait_for_load_state()
    subject.refresh_from_db()
    assert (subject.status, subject.dose_level, subject.subject_id) == ("enrolled", "DL3", "A-002")
    row = EnrolmentAcknowledgement.objects.get(subject=subject)
    assert (row.requested_by, row.acknowledged_by) == (coordinator, investigator)
    context.close()
