"""Issue 31 §3 in real Chromium at 1440×900, in English and Chinese: the query report (DCF) and
the screening and enrolment log fit the page without horizontal scrolling, and their headings
and labels are in the reader's language. Screenshots: artifacts/screenshots/report-*.png
(copies in docs/screenshots/)."""

from __future__ import annotations

from datetime import date

import pytest

from crf.queries import raise_query
from subjects.models import InformedConsent
from subjects.services import subject as services
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import protocol_v1
from tests.subjects.conftest import ELIGIBLE

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-31")]


@pytest.fixture
def seeded(transactional_db, study, site_a, users_a):
    site_a.name_zh = "测试医院"
    site_a.time_zone = "Asia/Shanghai"
    site_a.save()
    protocol_v1(study, effective_from=date(2020, 1, 1))
    coordinator = users_a["coordinator"]
    for n, on in enumerate((date(2026, 3, 1), date(2026, 3, 9), date(2026, 4, 2))):
        subject = services.record_consent(user=coordinator, site=site_a, consent_version="1.0", consent_date=on)
        services.record_eligibility(
            user=coordinator, subject=subject, protocol_version="2.1", assessment_date=on, criteria=ELIGIBLE
        )
        subject = services.enrol(user=coordinator, subject=subject, on=on, dose_level=f"DL{n + 1}")
        consent = InformedConsent.objects.get(subject=subject)
        raise_query(
            user=users_a["monitor"],
            form=consent,
            field_name="consent_date",
            text="The consent date differs from the signed form in the site file; please check the source document.",
        )


@pytest.mark.parametrize(
    ("language", "locale", "heading"), [("en", "en-GB", "Query report (DCF)"), ("zh-hans", "zh-CN", "质疑报告（DCF）")]
)
def test_reports_fit_the_page_in_both_languages(
    browser, live_server, seeded, users_a, screenshot, language, locale, heading
):
    monitor = users_a["monitor"]
    monitor.language = language
    monitor.save(update_fields=["language"])
    context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    labels = ("Username", "Password", "Sign in") if language == "en" else ("用户名", "密码", "登录")
    _sign_in(page, live_server.url, "monitor_a", *labels)
    page.wait_for_url(f"{live_server.url}/")
    for key, name in (("queries", heading), ("screening", None)):
        page.goto(f"{live_server.url}/data/reports/{key}/")
        if name:
            assert page.get_by_role("heading", level=1).inner_text() == name
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1440, f"{key} in {language}: {width}px wide"
        screenshot(page, f"report-{key}-{language[:2]}")
    context.close()
