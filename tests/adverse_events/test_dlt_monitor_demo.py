"""Issue 30 "done when": the DLT monitor page and API show the demo's DL3 expansion decision with
its exact CI (CLINICAL_SPEC §3.1): beyond six evaluable after clearing, 0/10 DLTs → "Expansion:
continue", 0.0% (0.0–30.8%), pending (one candidate awaits adjudication), the recommended dose —
in English and in Chinese."""

from __future__ import annotations

import re
from html import unescape

import pytest

from demo.definition import DEMO_PASSWORD
from study.models import User
from tests.api.conftest import send, token_client
from tests.conftest import DEMO_TODAY

pytestmark = pytest.mark.req("ISSUE-30")


def _row_text(page: str, code: str) -> tuple[str, str]:
    """The decision code and the visible text of the monitor's row of dose level `code`."""
    row = re.search(rf'<tr data-level="{code}">(.*?)</tr>', page, flags=re.S)
    assert row is not None, code
    decision = re.search(r'data-decision="([a-z_0-9]+)"', row.group(1))
    assert decision is not None
    text = unescape(re.sub(r"<[^>]+>", " ", row.group(1)))
    return decision.group(1), " ".join(text.split())


@pytest.mark.timeout(2400)
def test_the_monitor_shows_the_demo_dl3_expansion_decision_with_its_ci(demo_study, db, client, login, monkeypatch):
    # The demo is loaded as of DEMO_TODAY: the monitor's day (its DLT windows) is that day.
    monkeypatch.setattr("adverse_events.services.dlt._today", lambda: DEMO_TODAY)
    investigator = User.objects.get(username="investigator")
    login(investigator, password=DEMO_PASSWORD)
    expected = {
        "en": ("Expansion: continue", "pending", "recommended dose"),
        "zh-hans": ("扩展：继续", "待定", "推荐剂量"),
    }
    for language, words in expected.items():
        investigator.language = language
        investigator.save(update_fields=["language"])
        decision, text = _row_text(client.get("/safety/dlt/").content.decode(), "DL3")
        assert decision == "expansion_continue"
        assert "0/10" in text and "0.0% (0.0–30.8%)" in text, text
        for word in words:
            assert word in text, (language, word, text)

    rows = send(token_client(investigator), "GET", "/api/v1/dlt-monitor/").json()
    dl3 = next(row for row in rows if row["dose_level"] == "DL3")
    assert (dl3["evaluable"], dl3["confirmed_dlts"], dl3["decision"], dl3["pending"]) == (
        10,
        0,
        "expansion_continue",
        True,
    )
    assert (dl3["dlt_rate_percent"], dl3["ci_lower_percent"], dl3["ci_upper_percent"]) == ("0.0", "0.0", "30.8")
    assert (dl3["recommended_dose"], dl3["acknowledgement_needed"]) == (True, ["awaiting_adjudication"])
