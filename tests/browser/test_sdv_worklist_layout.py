"""The walk at 1440×900: on the SDV worklist the subject number and the date broke across lines
("YD-/001", "2025-10-/07") and the Chinese SDV badge stood on three lines, in both languages.
They now keep to one line and the page does not scroll sideways. The demo's long visit names
cramped the table at 1440 px; these short test rows cramp it in a 760 px window."""

from __future__ import annotations

from datetime import date

import pytest

from crf import sdv
from subjects.models import Subject
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.browser.test_tables_fit_their_cards import SIGN_IN
from tests.crf.conftest import crf_ready, save_vs  # noqa: F401  (fixtures)
from tests.factories import identity

pytestmark = [pytest.mark.browser]

WIDTH = 760  #: px: narrow enough that the short test rows cramp the table as the demo's did

#: the rendered line count of each cell in a column: distinct tops of its text's line boxes
LINES = """(n) => Array.from(document.querySelectorAll(`table.sdv-worklist tbody tr td:nth-child(${n})`)).map(td => {
  const tops = new Set();
  const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
  }
  return tops.size;
})"""


def test_subject_date_and_sdv_state_stay_on_one_line(
    browser,
    live_server,
    transactional_db,
    crf_ready,  # noqa: F811
    save_vs,  # noqa: F811
    users_a,
    study,
    site_a,
):
    other = Subject.objects.create(site=site_a, subject_id="A-002")
    identity(other)
    for d in (2, 3):
        save_vs(subject=crf_ready, assessment_date=date(2026, 3, d), heart_rate=60 + d)
    save_vs(subject=other, assessment_date=date(2026, 3, 1), heart_rate=70)
    sdv.save_plan(
        user=users_a["data_manager"], study=study, full_forms=["VS"], sample_percent=0, seed=1, reason="start"
    )
    monitor = users_a["monitor"]
    for language in ("en", "zh-hans"):
        monitor.language = language
        monitor.save(update_fields=["language"])
        locale, labels = SIGN_IN[language]
        context = browser.new_context(
            locale=locale, extra_http_headers={"Accept-Language": locale}, viewport={"width": WIDTH, "height": 900}
        )
        page = context.new_page()
        _sign_in(page, live_server.url, "monitor_a", *labels)
        page.wait_for_url(f"{live_server.url}/")
        page.goto(f"{live_server.url}/data/sdv/")
        page.wait_for_load_state("networkidle")
        assert page.locator("table.sdv-worklist tbody tr").count() == 3
        for column in (1, 4, 7):  # subject, date, SDV state
            assert page.evaluate(LINES, column) == [1, 1, 1], (language, column)
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        context.close()
