"""Issue 13 "Done when", in real Chromium: the DEMO study (loaded by `load_demo_study` as of
DEMO_TODAY, restored from the run's one load: tests/conftest.py `demo_study_committed`; an endpoint
run computed synchronously as the worker would) seen by the demo investigator on the safety
dashboard, the response and survival page and the study overview, in English and Chinese.
Screenshots in artifacts/screenshots/ (copies in docs/screenshots/): safety-dashboard-en/zh,
survival-en/zh, overview-zh."""

from __future__ import annotations

import pytest
from django.utils import timezone

from demo.definition import DEMO_PASSWORD
from endpoints import services
from endpoints.models import RunStatus
from study.models import Study, User

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-13")]


def _sign_in(page, base: str, username: str, labels: tuple[str, str, str]) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label(labels[0]).fill(username)
    page.get_by_label(labels[1]).fill(DEMO_PASSWORD)
    page.get_by_role("button", name=labels[2]).click()
    page.wait_for_url(f"{base}/")


@pytest.mark.timeout(900)  # the first test to need the demo loads it (~2,500 form saves): slow on a loaded box
def test_demo_dashboards_in_english_and_chinese(browser, live_server, demo_study_committed, screenshot):
    study = Study.objects.get()
    run = services.request_run(
        actor=User.objects.get(username="statistician"), study=study, cutoff_date=timezone.localdate()
    )
    run = services.compute_run(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error

    investigator = User.objects.get(username="investigator")
    for language, locale, labels in (
        ("en", "en-GB", ("Username", "Password", "Sign in")),
        ("zh-hans", "zh-CN", ("用户名", "密码", "登录")),
    ):
        investigator.language = language
        investigator.save(update_fields=["language"])
        context = browser.new_context(
            locale=locale, extra_http_headers={"Accept-Language": locale}, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        _sign_in(page, live_server.url, "investigator", labels)
        suffix = "en" if language == "en" else "zh"

        page.get_by_role("link", name="Safety dashboard" if language == "en" else "安全性仪表板").first.click()
        page.wait_for_url(f"{live_server.url}/safety/dashboard/")
        page.wait_for_load_state("networkidle")
        heading = page.get_by_role("heading", level=1).inner_text()
        assert heading.startswith("Safety dashboard" if language == "en" else "安全性仪表板")
        swimmer = page.locator("figure.plot img")
        assert swimmer.evaluate("img => img.complete && img.naturalWidth > 0")
        assert page.locator("table.heat tbody tr").count() >= 2
        screenshot(page, f"safety-dashboard-{suffix}")

        page.goto(f"{live_server.url}/endpoints/efficacy/")
        page.wait_for_load_state("networkidle")
        for image in page.locator("figure.plot img").all():
            assert image.evaluate("img => img.complete && img.naturalWidth > 0")
        screenshot(page, f"survival-{suffix}")

        if language != "en":
            page.goto(f"{live_server.url}/overview/")
            page.wait_for_load_state("networkidle")
            assert page.get_by_role("heading", name="入组随时间变化").is_visible()
            assert page.locator("figure.plot img").evaluate("img => img.complete && img.naturalWidth > 0")
            screenshot(page, "overview-zh")
        context.close()


def test_survival_page_with_the_contract_tables(browser, live_server, transactional_db, screenshot):
    """The page drawn from a run holding the contract tables (os_km, os_at_risk, os_summary,
    relapse_cif, best_response, day28_response) as literals — what the demo shows once the engine
    of issue 12 computes them. Screenshot survival-sample-en."""
    from study.roles import Role
    from tests.conftest import PASSWORD, make_user
    from tests.endpoints.conftest import make_world
    from tests.endpoints.test_dashboards import make_run

    world = make_world("NCT-SAMPLE")
    make_run(world.study)
    investigator = make_user("investigator_sample", site=world.site, role=Role.INVESTIGATOR, language="en")
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(investigator.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("link", name="Response and survival").click()
    page.wait_for_load_state("networkidle")
    images = page.locator("figure.plot img").all()
    assert len(images) == 3
    for image in images:
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert " ".join(page.locator("[data-survival-365]").inner_text().split()) == "57.1% (95% CI 21.2–81.5%)"
    screenshot(page, "survival-sample-en")
    context.close()
