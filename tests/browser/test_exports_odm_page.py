"""The export page offers CDISC ODM 1.3.2 (issue 29 item 2) in English and Chinese, and an export
requested with it lists `clinical_odm.xml`. Screenshots: artifacts/screenshots/exports-odm-{en,zh}.png,
exports-odm-detail-en.png (copies in docs/screenshots/)."""

from __future__ import annotations

import pytest

from exports import services
from exports.models import Export
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.exports.conftest import make_world, populate_for_export

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-29")]


@pytest.mark.parametrize(
    ("language", "locale", "labels", "option"),
    [
        (
            "en",
            "en-US",
            ("Username", "Password", "Sign in"),
            "CDISC ODM 1.3.2 (captured data, metadata and audit trail)",
        ),
        ("zh-hans", "zh-CN", ("用户名", "密码", "登录"), "CDISC ODM 1.3.2（采集数据、元数据和稽查轨迹）"),
    ],
)
def test_the_export_page_offers_odm(
    browser, live_server, transactional_db, screenshot, language, locale, labels, option
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
    assert option in page.content()
    page.get_by_label(option).check()
    short = "en" if language == "en" else "zh"
    screenshot(page, f"exports-odm-{short}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    if language != "en":
        return
    page.get_by_label("Clinical cut-off date").fill("2026-06-30")
    page.get_by_role("button", name="Start the export").click()
    export = Export.objects.get()
    page.wait_for_url(f"{live_server.url}/exports/{export.pk}/")
    assert export.formats == ["csv", "xpt", "odm"]
    services.compute_export(export_id=export.pk)  # what the worker does
    page.reload()
    assert "clinical_odm.xml" in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    screenshot(page, "exports-odm-detail-en")
