"""Issue 24 (Casebook IV) in real Chromium at 1440×900, in English and Chinese: the DLT
adjudication page shows the finding with its supporting values (the AE and its grades, the ALT
series); the SDV worklist with its filters and forms named by subject and date; the infusion form
showing CAR+ cells/kg and DL2's range as the numbers are typed; the SDV plan and exports pages
without horizontal scroll. Screenshots: artifacts/screenshots/casebook-iv-*-{en,zh}.png (copies
in docs/screenshots/)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from adverse_events.models import DltCandidate
from adverse_events.services import dlt as dlt_services
from crf import sdv
from crf.services import save
from labs.models import LabResult
from tests.adverse_events.conftest import day, infused  # noqa: F401  (fixture)
from tests.adverse_events.test_adverse_events import record_ae
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.subjects.conftest import consent, coordinator, protocol, screened  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-24")]

LANGUAGES = [
    ("en", "en-US", ("Username", "Password", "Sign in")),
    ("zh-hans", "zh-CN", ("用户名", "密码", "登录")),
]


def _alt(user, subject, on, value):
    return save(
        user=user,
        instance=LabResult(
            subject=subject, collected_on=on, panel="CHEM", analyte="ALT", value=Decimal(value), unit="U/L", uln=40
        ),
        expected_version=None,
    )


def _page(browser, live_server, user, language, locale, labels):
    user.language = language
    user.save(update_fields=["language"])
    context = browser.new_context(
        locale=locale, extra_http_headers={"Accept-Language": locale}, viewport={"width": 1440, "height": 900}
    )
    page = context.new_page()
    _sign_in(page, live_server.url, user.username, *labels)
    page.wait_for_url(re.compile(re.escape(live_server.url) + r"/(tasks/)?$"))  # a coordinator lands on My tasks
    return context, page


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440


@pytest.mark.parametrize(("language", "locale", "labels"), LANGUAGES)
def test_casebook_iv_pages(
    browser,
    live_server,
    transactional_db,
    infused,  # noqa: F811
    users_a,
    study,
    screenshot,
    language,
    locale,
    labels,
):
    short = "en" if language == "en" else "zh"
    coordinator = users_a["coordinator"]  # noqa: F811
    subject = infused()
    for n, value in ((4, "35"), (5, "260"), (8, "230"), (12, "150")):
        _alt(coordinator, subject, day(n), value)
    record_ae(
        coordinator,
        subject,
        ctcae_term="Alanine aminotransferase increased",
        grade=3,
        onset_date=day(5),
        grade_course=[
            {"from": day(5).isoformat(), "grade": 3},
            {"from": day(14).isoformat(), "grade": 2},
        ],
    )
    dlt_services.recompute_candidates(subject=subject)
    candidate = DltCandidate.objects.get(subject=subject)

    # the investigator adjudicates with the supporting values in view
    context, page = _page(browser, live_server, users_a["investigator"], language, locale, labels)
    page.goto(f"{live_server.url}/safety/dlt/candidates/{candidate.pk}/")
    supporting = page.locator("section[aria-labelledby=supporting]")
    text = supporting.inner_text()
    assert "260" in text and "230" in text and "U/L" in text  # the ALT series in the window
    assert day(5).isoformat() in text and day(14).isoformat() in text  # the AE's grade course
    _fits(page)
    screenshot(page, f"casebook-iv-dlt-candidate-{short}")
    context.close()

    # the monitor's SDV worklist: forms named by subject and date, filtered
    sdv.save_plan(
        user=users_a["data_manager"], study=study, full_forms=["AE", "INF"], sample_percent=0, seed=1, reason="plan"
    )
    context, page = _page(browser, live_server, users_a["monitor"], language, locale, labels)
    page.goto(f"{live_server.url}/data/sdv/")
    links = page.locator("table.sdv-worklist a").all_inner_texts()
    assert f"· {subject.subject_id} · {day(5).isoformat()}" in " | ".join(links)
    assert all("#" not in link for link in links)
    page.locator("#sdv-form").select_option("AE")
    page.locator("form.filters button").click()
    page.wait_for_url("**form=AE**")
    assert len(page.locator("table.sdv-worklist tbody a").all()) == 1
    _fits(page)
    screenshot(page, f"casebook-iv-sdv-worklist-{short}")
    context.close()

    # the data manager's SDV plan page fits
    context, page = _page(browser, live_server, users_a["data_manager"], language, locale, labels)
    page.goto(f"{live_server.url}/data/sdv/plan/")
    _fits(page)
    screenshot(page, f"casebook-iv-sdv-plan-{short}")
    context.close()

    # the statistician's exports page fits
    context, page = _page(browser, live_server, users_a["statistician"], language, locale, labels)
    page.goto(f"{live_server.url}/exports/")
    _fits(page)
    context.close()

    # the coordinator sees CAR+ cells/kg and DL2's range as the numbers are typed
    context, page = _page(browser, live_server, coordinator, language, locale, labels)
    page.goto(f"{live_server.url}/subjects/{subject.pk}/forms/INF/new/")
    page.locator('[name="viable_cells_e6"]').fill("100")
    page.locator('[name="car_positive_pct"]').fill("30")
    page.locator('[name="weight_kg"]').fill("20")
    page.locator('[data-live-dose="1.5000"]').wait_for()
    assert page.locator("[data-dose-in-range]").get_attribute("data-dose-in-range") == "no"
    page.locator('[name="weight_kg"]').fill("30")
    page.locator('[data-live-dose="1.0000"]').wait_for()
    assert page.locator("[data-dose-in-range]").get_attribute("data-dose-in-range") == "yes"
    _fits(page)
    page.locator("#live-dose-heading").scroll_into_view_if_needed()
    page.screenshot(path=str(_shot(f"casebook-iv-infusion-{short}")))  # the screen with the live box

    # the ICANS form shows one instrument's items: ICE for this adult, CAPD once chosen (§2.1, §2.3)
    page.goto(f"{live_server.url}/subjects/{subject.pk}/forms/ICANS/new/")
    assert page.locator('[name="ice_orientation"]').is_visible()
    assert page.locator('[name="capd_1"]').is_hidden()
    page.locator('[name="instrument"]').select_option("capd")
    assert page.locator('[name="capd_8"]').is_visible()
    assert page.locator('[name="ice_orientation"]').is_hidden()
    context.close()


def _shot(name: str):
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
