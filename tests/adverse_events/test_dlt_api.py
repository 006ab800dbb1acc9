"""API `dlt-candidates` (list, read, adjudicate with If-Match; gate 404, role 403) and
`dlt-monitor` (DESIGN §6; CLINICAL_SPEC §3.1)."""

from __future__ import annotations

import pytest

from adverse_events.models import DltCandidate
from adverse_events.services.dlt import recompute_candidates
from tests.adverse_events.conftest import day
from tests.adverse_events.test_adverse_events import record_ae
from tests.api.conftest import send, token_client

pytestmark = pytest.mark.req("CLINICAL_SPEC-3.1")


@pytest.fixture
def candidate(infused, coordinator):
    """A grade-3 AE from day 5 never back to grade ≤ 1: flagged by the rules (§3.1)."""
    subject = infused()
    record_ae(coordinator, subject, ctcae_term="Hypertension", grade=3, onset_date=day(5))
    recompute_candidates(subject=subject)
    return DltCandidate.objects.get(subject=subject)


def test_candidates_read_and_adjudicate_with_if_match(candidate, users_a):
    url = f"/api/v1/dlt-candidates/{candidate.pk}/"
    coordinator = token_client(users_a["coordinator"])
    listed = send(coordinator, "GET", "/api/v1/dlt-candidates/")
    assert [row["key"] for row in listed.json()["results"]] == [candidate.key]
    read = send(coordinator, "GET", url)
    etag = read["ETag"]
    assert read.json()["status"] == "awaiting"
    body = {"decision": "confirm", "reason": "grade 3 hypertension for 3 weeks despite treatment"}
    # coordinator: may view, may not adjudicate
    assert send(coordinator, "POST", f"{url}adjudicate/", body, **{"If-Match": etag}).status_code == 403
    investigator = token_client(users_a["investigator"])
    assert send(investigator, "POST", f"{url}adjudicate/", body).status_code == 428
    missing = send(investigator, "POST", f"{url}adjudicate/", {"decision": "confirm"}, **{"If-Match": etag})
    assert missing.status_code == 400 and "reason" in missing.json()
    done = send(investigator, "POST", f"{url}adjudicate/", body, **{"If-Match": etag})
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["version"]) == ("confirmed", 2)
    stale = send(investigator, "POST", f"{url}adjudicate/", {**body, "decision": "reject"}, **{"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["current"]["status"] == "confirmed"
    # statistician: views safety data (DESIGN §4a) but may not adjudicate
    statistician = token_client(users_a["statistician"])
    assert send(statistician, "GET", url).status_code == 200
    fresh = send(statistician, "GET", url)["ETag"]
    assert send(statistician, "POST", f"{url}adjudicate/", body, **{"If-Match": fresh}).status_code == 403


def test_other_sites_candidates_are_404(candidate, other_coordinator):
    client = token_client(other_coordinator)
    assert send(client, "GET", f"/api/v1/dlt-candidates/{candidate.pk}/").status_code == 404
    assert send(client, "GET", "/api/v1/dlt-candidates/").json()["results"] == []


def test_monitor_rows_per_dose_level(candidate, users_a):
    rows = send(token_client(users_a["investigator"]), "GET", "/api/v1/dlt-monitor/").json()
    assert [row["dose_level"] for row in rows] == ["DL1", "DL2", "DL3"]
    dl2 = rows[1]
    assert (dl2["enrolled"], dl2["infused"], dl2["awaiting_adjudication"], dl2["pending"]) == (1, 1, 1, True)
    # issue 30: d/n with its exact CI in percent (0/1: the window is long past, the candidate not
    # yet confirmed), the recommended dose, and why enrolling there needs the investigator's
    # acknowledgement (§3.1); DL1 has no evaluable subject, so no rate
    rate = (dl2["dlt_rate_percent"], dl2["ci_lower_percent"], dl2["ci_upper_percent"], dl2["recommended_dose"])
    assert rate == ("0.0", "0.0", "97.5", False)
    assert (rows[0]["dlt_rate_percent"], rows[0]["acknowledgement_needed"]) == (None, [])
    assert dl2["acknowledgement_needed"] == ["awaiting_adjudication"]
    assert send(token_client(users_a["study_admin"]), "GET", "/api/v1/dlt-monitor/").status_code == 403


@pytest.mark.req("ISSUE-25")
def test_monitor_rows_carry_the_stored_code_and_both_names(candidate, users_a, study):
    """Issue 25 item 4: the API keeps the stored code and gives both names (not the reader's)."""
    from study.models import DoseLevelName

    DoseLevelName.objects.create(study=study, code="DL2", name="Level 2", name_zh="剂量组 2")
    rows = send(token_client(users_a["investigator"]), "GET", "/api/v1/dlt-monitor/").json()
    names = [(row["dose_level"], row["dose_level_name"], row["dose_level_name_zh"]) for row in rows]
    assert names == [("DL1", "DL1", ""), ("DL2", "Level 2", "剂量组 2"), ("DL3", "DL3", "")]
