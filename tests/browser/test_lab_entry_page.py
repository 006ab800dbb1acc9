"""The lab entry page changed by two branches at once (issue 27): the laboratory picker (several
laboratories per site) and the CRF-version badge every form page shows, in both languages at
1440×900 with no horizontal scroll. Screenshots docs/screenshots/lab-panel-{en,zh}.png."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from labs.models import Laboratory
from subjects.models import Subject
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.factories import identity
from tests.labs.conftest import ensure_compiled_catalogue

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-27")]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZE = {"width": 1440, "height": 900}


@pytest.fixture
def lab_subject(transactional_db, site_a, users_a):
    ensure_compiled_catalogue()
    site_a.time_zone = "Asia/Shanghai"
    site_a.save()
    subject = Subject.objects.create(site=site_a, subject_id="A-001")
    identity(subject, born=date(1990, 5, 1))
    Laboratory.objects.create(site=site_a, code="CL", name="Central laboratory", name_zh="中心实验室")
    Laboratory.objects.create(site=site_a, code="HEM", name="Haematology laboratory", name_zh="血液科实验室")
    return subject


@pytest.mark.parametrize(
    ("lang", "locale", "labels", "laboratory", "badge"),
    [
        ("en", "en-GB", ("Username", "Password", "Sign in"), "Laboratory", "CRF version 1.0"),
        ("zh", "zh-CN", ("用户名", "密码", "登录"), "实验室", "病例报告表版本 1.0"),
    ],
)
def test_lab_entry_page_with_its_laboratory_picker_and_crf_version(
    browser, live_server, lab_subject, users_a, lang, locale, labels, laboratory, badge
):
    coordinator = users_a["coordinator"]
    coordinator.language = "en" if lang == "en" else "zh-hans"
    coordinator.save(update_fields=["language"])
    context = browser.new_context(viewport=SIZE, locale=locale)
    page = context.new_page()
    _sign_in(page, live_server.url, coordinator.username, *labels)
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/subjects/{lab_subject.pk}/labs/CBC/new/")
    picker = page.get_by_label(laboratory, exact=True)
    options = picker.locator("option").all_inner_texts()
    assert options[1:] == (
        ["CL · Central laboratory", "HEM · Haematology laboratory"]
        if lang == "en"
        else ["CL · 中心实验室", "HEM · 血液科实验室"]
    ), options
    assert page.get_by_text(badge, exact=True).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZE["width"]
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / f"lab-panel-{lang}.png"), full_page=True)
    context.close()
