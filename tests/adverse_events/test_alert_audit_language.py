"""The Chinese walk of 2026-12-07 (issue 25 item 3): the audit review and a record's history show a
safety alert's summary and a DLT finding rendered from their message codes in the reader's language,
never the stored English sentence; the alert's de-duplication key ("sae:162") and link path are not
shown; roles by their names; a referenced record by its type and term, not its developer's text
("A-001 AE Sepsis G4"); a derivation's criteria by their name ("ASTCT-2019")."""

from __future__ import annotations

import pytest
from django.utils import translation

from tests.adverse_events.test_alert_languages import sae_alert  # noqa: F401

pytestmark = pytest.mark.req("ISSUE-25")

SUMMARY_ZH_START = "SAE，受试者 "


def _reader(user, language):
    user.language = language
    user.save(update_fields=["language"])
    return user


def test_the_audit_review_shows_an_alert_summary_in_chinese(sae_alert, users_a, login, client):  # noqa: F811
    login(_reader(users_a["monitor"], "zh-hans"))
    page = client.get(f"/data/audit/?subject_id={sae_alert.subject.subject_id}").content.decode()
    with translation.override("zh-hans"):
        chinese = translation.gettext(sae_alert.summary_code) % {**sae_alert.summary_params, "term": "Sepsis 脓毒症"}
    assert chinese.startswith(SUMMARY_ZH_START)
    assert f"<small><code>summary</code></small>: – → {chinese}" in page
    assert sae_alert.summary not in page  # the stored English sentence
    assert "<code>summary_code</code>" not in page and "<code>summary_params</code>" not in page
    assert "<code>source_key</code>" not in page and sae_alert.source_key not in page
    assert "<code>url</code>" not in page
    assert "研究协调员 · " in page and ">coordinator · " not in page  # the role by its name


def test_the_audit_review_shows_an_alert_summary_in_english(sae_alert, users_a, login, client):  # noqa: F811
    login(_reader(users_a["monitor"], "en"))
    page = client.get(f"/data/audit/?subject_id={sae_alert.subject.subject_id}").content.decode()
    assert f"<small><code>summary</code></small>: – → {sae_alert.summary}" in page
    assert "Research coordinator · " in page


def test_an_alert_history_reads_in_chinese(sae_alert, users_a, login, client):  # noqa: F811
    login(_reader(users_a["data_manager"], "zh-hans"))
    page = client.get(f"/history/adverse_events.SafetyAlert/{sae_alert.pk}/").content.decode()
    assert f"<td>→ {SUMMARY_ZH_START}" in page and "Sepsis 脓毒症 4 级" in page
    assert sae_alert.summary not in page and "消息代码" not in page
    assert sae_alert.source_key not in page and "/safety/subjects/" not in page


def test_a_dlt_finding_and_its_adverse_event_read_in_chinese(sae_alert, users_a, login, client):  # noqa: F811
    """A grade-4 sepsis on day 6 is a DLT candidate: its finding from its code, its adverse event
    by its type, number and term."""
    from adverse_events.models import DltCandidate

    candidate = DltCandidate.objects.get(subject=sae_alert.subject)
    login(_reader(users_a["data_manager"], "zh-hans"))
    page = client.get(f"/history/adverse_events.DltCandidate/{candidate.pk}/").content.decode()
    assert candidate.description not in page
    with translation.override("zh-hans"):
        from crf.display import system_message

        finding = system_message(candidate, "description")
    assert finding != candidate.description and f"<td>→ {finding}</td>" in page
    assert f"<td>→ 不良事件 #{candidate.adverse_event_id} · Sepsis 脓毒症</td>" in page
    assert " AE Sepsis G4" not in page


def test_a_derivations_criteria_by_their_name():
    from crf.display import criteria_text

    with translation.override("zh-hans"):
        assert criteria_text("ASTCT-2019") == "ASTCT 2019 共识"
        assert criteria_text("EHA-EBMT-2023") == "EHA/EBMT 2023 共识"
        assert criteria_text("SOMETHING-NEW") == "SOMETHING-NEW"
    with translation.override("en"):
        assert criteria_text("ASTCT-2019") == "ASTCT 2019 consensus"


def test_the_anc_values_of_an_icaht_derivation_by_date_and_day():
    from crf.display import anc_values_text

    values = [{"result": 7, "date": "2026-10-29", "day": -14, "anc": "2"}, {"result": 8, "date": "2026-11-13"}]
    with translation.override("zh-hans"):
        assert anc_values_text(values) == "2026-10-29 (第 \u221214 天): 2 ×10⁹/L; 2026-11-13: — ×10⁹/L"
