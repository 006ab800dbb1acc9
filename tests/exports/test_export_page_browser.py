"""The export page in real Chromium, in English and Chinese (issues 28, 29): it says SDTM and
ADaM, offers Dataset-JSON beside CSV and XPT, and an export requested with Dataset-JSON lists its
.json/.ndjson files and define.xml. Screenshots: artifacts/screenshots/exports-page-{en,zh}.png,
exports-detail-en.png (copies in docs/screenshots/)."""

from __future__ import annotations

import pytest

from exports import services
from exports.models import Export
from tests.browser.conftest import browser, screenshot  # noqa: F401  (fixtures)
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.exports.conftest import make_world, populate_for_export

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-29")]


@pytest.mark.parametrize(
    ("language", "locale", "labels", "expected"),
    [
        ("en", "en-US", ("Username", "Password", "Sign in"), ("SDTM (SDTMIG 3.4) and ADaM", "Dataset-JSON 1.1")),
        (
            "zh-hans",
            "zh-CN",
            ("用户名", "密码", "登录"),
            ("SDTM（SDTMIG 3.4）和 ADaM", "Dataset-JSON 1.1（JSON 与 NDJSON）"),
        ),
    ],
)
def test_the_export_page_offers_dataset_json(
    browser,  # noqa: F811
    live_server,
    transactional_db,
    screenshot,  # noqa: F811
    language,
    locale,
    labels,
    expected,
):
    world = make_world("trial7")
    populate_for_export(world)
    world.statistician.language = language
    world.statistician.save(update_fields=["language"])
    context = browser.new_context(
        locale=locale, extra_http_headers={"Accept-Language": locale}, viewport={"width": 1440, "height": 900}
    )
    page = context.new_page()
    _sign_in(page, live_server.url, world.statistician.username, *labels)
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/exports/")
    content = page.content()
    assert all(text in content for text in expected)
    short = "en" if language == "en" else "zh"
    screenshot(page, f"exports-page-{short}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    if language != "en":
        return
    page.get_by_label("Clinical cut-off date").fill("2026-06-30")
    page.get_by_label("Dataset-JSON 1.1 (JSON and NDJSON)").check()
    page.get_by_role("button", name="Start the export").click()
    export = Export.objects.get()
    page.wait_for_url(f"{live_server.url}/exports/{export.pk}/")
    assert export.formats == ["csv", "xpt", "json"]
    services.compute_export(export_id=export.pk)  # what the worker does (test_worker.py runs a real one)
    page.reload()
    content = page.content()
    assert all(name in content for name in ("ae.ndjson", "ae.json", "define.xml", "define.html", "adsl.json"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    screenshot(page, "exports-detail-en")
