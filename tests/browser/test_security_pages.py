"""Pages issue 21 changed, in real Chromium at 1440×900, in English and Chinese, kept as
docs-style screenshots (artifacts/screenshots/, copied to docs/screenshots/):

- the CSV import preview of an update that clears stored values (`<clear>`): every value it
  would clear is listed by the field's label, read through the display layer, before anything
  is saved;
- a study without protocol settings: the protocol settings page offers the first version, the
  safety dashboard and the DLT monitor open and say what is missing (they used to answer 500).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from labs.models import VitalSigns
from tests.conftest import PASSWORD
from tests.factories import identity, protocol_v1, vital_signs

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-21")]

VIEWPORT = {"width": 1440, "height": 900}


def _page(browser, live_server, user, language: str):
    user.language = language
    user.save(update_fields=["language"])
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("input[name=username]").fill(user.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(re.escape(live_server.url) + r"/(tasks/)?$"))  # a coordinator lands on My tasks
    return context, page


def _no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize(
    ("language", "caption", "label", "value", "button"),
    [
        ("en", "Stored values this import clears", "Heart rate (/min)", "72 /min", "Import 1 row"),
        ("zh-hans", "本次导入将清除的已存值", "心率（次/分）", "72 次/分", "导入 1 行"),
    ],
)
def test_import_preview_lists_the_values_an_update_would_clear(
    transactional_db,
    browser,
    live_server,
    study,
    users_a,
    subject_a,
    screenshot,
    tmp_path,
    language,
    caption,
    label,
    value,
    button,
):
    protocol_v1(study)
    identity(subject_a)
    coordinator = users_a["coordinator"]
    vs = vital_signs(coordinator, subject_a, heart_rate=72)
    upload = tmp_path / "vitals-update.csv"
    upload.write_text(f"subject,id,version,heart_rate,systolic_bp,reason\nA-001,{vs.pk},1,<clear>,,wrong form\n")
    context, page = _page(browser, live_server, coordinator, language)
    page.goto(f"{live_server.url}/subjects/import/")
    page.locator("select[name=crf_code]").select_option("VS")
    page.locator("input[name=file]").set_input_files(str(upload))
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url("**/subjects/import/*/")
    table = page.locator("table", has=page.locator("caption", has_text=caption))
    cells = [" ".join(c.split()) for c in table.locator("tbody td").all_inner_texts()]
    assert cells == ["2", f"{label} heart_rate", value]
    assert page.get_by_role("button", name=button).is_visible()
    assert _no_horizontal_scroll(page)
    screenshot(page, f"csv-import-clears-{language[:2]}")
    context.close()
    vs.refresh_from_db()
    assert (vs.heart_rate, vs.systolic_bp, vs.temperature_c) == (72, 120, Decimal("37.0"))  # nothing saved
    assert VitalSigns.objects.count() == 1


@pytest.mark.parametrize(
    ("language", "settings_heading", "missing"),
    [
        ("en", "Protocol settings", "no protocol settings"),
        ("zh-hans", "方案设置", "方案设置"),
    ],
)
def test_a_study_without_protocol_settings_opens_its_pages(
    transactional_db, browser, live_server, study, users_a, screenshot, language, settings_heading, missing
):
    short = language[:2]
    context, page = _page(browser, live_server, users_a["study_admin"], language)
    response = page.goto(f"{live_server.url}/admin/protocol-settings/")
    assert response.status == 200
    assert settings_heading in page.locator("h1").inner_text()
    assert _no_horizontal_scroll(page)
    screenshot(page, f"protocol-settings-none-{short}")
    context.close()

    context, page = _page(browser, live_server, users_a["investigator"], language)
    for path, name in (
        ("/safety/dashboard/", "safety-dashboard-no-settings"),
        ("/safety/dlt/", "dlt-monitor-no-settings"),
    ):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200
        assert missing in page.locator("main").inner_text()
        assert _no_horizontal_scroll(page)
        screenshot(page, f"{name}-{short}")
    context.close()
