"""The visibility gate and DESIGN §4a in the API, for every resource: another site's records are
404 (read, update, entered-in-error, as a body reference 400 "does not exist"), a role without
the action at the record's site 403. Expectations from the DESIGN §4a table, not from the code:
"view CRF pages" — coordinator, investigator, monitor, data manager; "create/edit CRF data" —
coordinator, investigator."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crf.api import crf_resources
from tests.api.conftest import RESOURCES, example_for, send, token_client

pytestmark = pytest.mark.req("ISSUE-6")

READ = {
    "coordinator": 200,
    "investigator": 200,
    "monitor": 200,
    "data_manager": 200,
    "statistician": 403,
    "study_admin": 403,
}
WRITE = {
    "coordinator": 200,
    "investigator": 200,
    "monitor": 403,
    "data_manager": 403,
    "statistician": 403,
    "study_admin": 403,
}


@pytest.mark.parametrize("resource", RESOURCES)
def test_other_sites_records_are_404(resource, created, coordinator_b, site_b, users_a):
    _client_b, subject_b, response = created(resource, user=coordinator_b, site=site_b)
    url = f"/api/v1/{resource}/{response.json()['id']}/"
    etag = response["ETag"]
    for role, user in users_a.items():
        client = token_client(user)
        assert send(client, "GET", url).status_code == 404, role
        assert send(client, "PATCH", url, {"entry_status": "complete"}, **{"If-Match": etag}).status_code == 404, role
        assert send(client, "PUT", url, {}, **{"If-Match": etag}).status_code == 404, role
        assert send(client, "POST", f"{url}entered-in-error/", {"reason": "x"}, **{"If-Match": etag}).status_code == 404
        listed = send(client, "GET", f"/api/v1/{resource}/")
        if listed.status_code == 200:
            assert listed.json()["results"] == [], role
    # a body reference to another site's subject reads as "no such subject"
    coordinator = token_client(users_a["coordinator"])
    bad = send(coordinator, "POST", f"/api/v1/{resource}/", {"subject": subject_b.pk, **example_for(resource).payload})
    assert bad.status_code == 400
    assert "subject" in bad.json()
    assert str(subject_b) not in bad.content.decode()


@pytest.mark.parametrize("resource", RESOURCES)
def test_roles_per_design_4a(resource, created, coordinator, site_a, users_a):
    _client, subject, response = created(resource, user=coordinator, site=site_a)
    pk = response.json()["id"]
    url = f"/api/v1/{resource}/{pk}/"
    for role, user in users_a.items():
        client = token_client(user)
        read = send(client, "GET", url)
        assert read.status_code == READ[role], (role, read.status_code)
        assert send(client, "GET", f"/api/v1/{resource}/").status_code == READ[role], role
        if READ[role] == 403:
            continue
        etag = read["ETag"]
        patch = send(
            client, "PATCH", url, {"entry_status": "in_progress", "reason": f"by {role}"}, **{"If-Match": etag}
        )
        assert patch.status_code == WRITE[role], (role, patch.content[:300])
        created_again = send(client, "POST", f"/api/v1/{resource}/", {"subject": subject.pk})
        assert created_again.status_code in ((400, 201) if WRITE[role] == 200 else (403,)), role


@pytest.mark.parametrize("resource", RESOURCES)
def test_list_filters_paging_and_bounded_queries(resource, created, coordinator, site_a):
    """The list is in a stable order, pages, filters by subject and entry status, and costs
    the same number of queries for 1 or 3 records (no N+1)."""
    model = crf_resources()[resource]
    client, subject, first = created(resource, user=coordinator, site=site_a)
    with CaptureQueriesContext(connection) as few:
        page = send(client, "GET", f"/api/v1/{resource}/")
    assert page.status_code == 200
    assert [row["id"] for row in page.json()["results"]] == list(
        model.objects.order_by("pk").values_list("pk", flat=True)
    )
    for _ in range(2):
        created(resource, user=coordinator, site=site_a)
    with CaptureQueriesContext(connection) as more:
        page = send(client, "GET", f"/api/v1/{resource}/")
    ids = [row["id"] for row in page.json()["results"]]
    assert ids == list(model.objects.order_by("pk").values_list("pk", flat=True))
    assert len(ids) >= 3
    assert len(more) == len(few)
    assert len(more) <= 10
    paged = send(client, "GET", f"/api/v1/{resource}/?limit=2&offset=1").json()
    assert paged["count"] == len(ids)
    assert [row["id"] for row in paged["results"]] == ids[1:3]
    only = send(client, "GET", f"/api/v1/{resource}/?subject={subject.pk}").json()
    assert [row["id"] for row in only["results"]] == list(
        model.objects.filter(subject=subject).order_by("pk").values_list("pk", flat=True)
    )
    assert first.json()["id"] in [row["id"] for row in only["results"]]
    # the API creates in progress; only a subject's first consent (POST /subjects/, the lifecycle
    # service, as on the page) is complete
    complete = send(client, "GET", f"/api/v1/{resource}/?entry_status=complete").json()["results"]
    assert [row["id"] for row in complete] == list(
        model.objects.filter(entry_status="complete").order_by("pk").values_list("pk", flat=True)
    )
    assert first.json()["id"] not in [row["id"] for row in complete]
    assert len(complete) == (3 if resource == "consents" else 0)
    assert send(client, "GET", f"/api/v1/{resource}/?entry_status=bogus").status_code == 400
    assert send(client, "GET", f"/api/v1/{resource}/?date_from=2026-13-01").status_code == 400
    assert send(client, "GET", f"/api/v1/{resource}/?subject=abc").status_code == 400


def test_date_range_filter(created, coordinator, site_a):
    client, _subject, response = created("vital-signs", user=coordinator, site=site_a)  # assessed 2026-03-12
    pk = response.json()["id"]
    hits = lambda query: [row["id"] for row in send(client, "GET", f"/api/v1/vital-signs/?{query}").json()["results"]]  # noqa: E731
    assert hits("date_from=2026-03-12&date_to=2026-03-12") == [pk]
    assert hits("date_from=2026-03-13") == []
    assert hits("date_to=2026-03-11") == []
