"""The walk at 1440×900 (both languages): the dose-level tables of the DLT monitor and of the
safety dashboard's DLT widget stayed wider than their cards in English (the nowrap "decision
last changed" instant, the cell padding of the two-column widget grid) and spilled past the
card's edge. Every table on these pages now ends inside its card."""

from __future__ import annotations

import pytest

from adverse_events.models import DltCandidate
from adverse_events.services import dlt as dlt_services
from tests.adverse_events.conftest import LD_START, day, infused  # noqa: F401  (fixture)
from tests.adverse_events.test_adverse_events import record_ae
from tests.browser.test_dlt_monitor import more_infused
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.subjects.conftest import ENROLLED, consent, coordinator, protocol, screened  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser]

SIGN_IN = {"en": ("en-GB", ("Username", "Password", "Sign in")), "zh-hans": ("zh-CN", ("用户名", "密码", "登录"))}

#: px each table reaches past the content box of its card (negative: inside it)
SPILL = """() => Array.from(document.querySelectorAll('section.card table')).map(t => {
  const card = t.closest('section.card');
  const inner = card.getBoundingClientRect().right - parseFloat(getComputedStyle(card).paddingRight);
  return Math.round(t.getBoundingClientRect().right - inner);
})"""


def test_dose_level_tables_end_inside_their_cards_in_both_languages(
    browser,
    live_server,
    transactional_db,
    study,
    infused,  # noqa: F811
    users_a,
    screened,  # noqa: F811
):
    coordinator = users_a["coordinator"]  # noqa: F811
    investigator = users_a["investigator"]
    first = infused()
    second = more_infused(coordinator, screened)
    more_infused(coordinator, screened)
    record_ae(coordinator, first, ctcae_term="Sepsis", grade=4, onset_date=day(6), serious_life_threatening=True)
    record_ae(coordinator, second, ctcae_term="Hypertension", grade=3, onset_date=day(5))
    for subject in (first, second):
        dlt_services.recompute_candidates(subject=subject)
    confirmed = DltCandidate.objects.get(subject=first)
    dlt_services.adjudicate_candidate(
        user=investigator, candidate=confirmed, confirm=True, reason="Septic shock", expected_version=confirmed.version
    )
    for language in ("en", "zh-hans"):
        investigator.language = language
        investigator.save(update_fields=["language"])
        locale, labels = SIGN_IN[language]
        context = browser.new_context(
            locale=locale, extra_http_headers={"Accept-Language": locale}, viewport={"width": 1440, "height": 900}
        )
        page = context.new_page()
        _sign_in(page, live_server.url, "investigator_a", *labels)
        page.wait_for_url(f"{live_server.url}/")
        for path in ("/safety/dlt/", "/safety/dashboard/"):
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("networkidle")
            assert page.locator('tr[data-level="DL2"]').count() >= 1, path
            spills = page.evaluate(SPILL)
            assert spills and max(spills) <= 1, (language, path, spills)
            assert page.evaluate("document.documentElement.scrollWidth") <= 1440
        context.close()
