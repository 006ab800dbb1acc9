"""The `subjects` and `visits` resources: created and changed only through the subject services
(consent opens a subject; dose level and planned infusion date with their reasons; the visit
date), with content ETags and If-Match (200, 412, 428), the gate (404) and roles (403)."""

from __future__ import annotations

import pytest

from subjects.models import InformedConsent, Subject, Visit
from tests.api.conftest import send, token_client

pytestmark = pytest.mark.req("ISSUE-6")


def test_consent_creates_a_subject(coordinator, users_a, protocol):
    client = token_client(coordinator)
    made = send(
        client, "POST", "/api/v1/subjects/", {"site": "01", "consent_version": "1.0", "consent_date": "2026-03-01"}
    )
    assert made.status_code == 201, made.content[:500]
    body = made.json()
    assert body["screening_number"] == "A-S001"
    assert body["status"] == "screening"
    assert made["ETag"].startswith(f'"subjects.subject-{body["id"]}-')
    assert InformedConsent.objects.filter(subject_id=body["id"], consent_version="1.0").count() == 1
    assert (
        send(
            client, "POST", "/api/v1/subjects/", {"site": "02", "consent_version": "1", "consent_date": "2026-03-01"}
        ).status_code
        == 400
    )
    monitor = token_client(users_a["monitor"])
    assert (
        send(
            monitor, "POST", "/api/v1/subjects/", {"site": "01", "consent_version": "1", "consent_date": "2026-03-01"}
        ).status_code
        == 403
    )
    assert Subject.objects.count() == 1


def test_subject_if_match(coordinator, subject_at, site_a):
    subject = subject_at("enrolled", user=coordinator, site=site_a)
    client = token_client(coordinator)
    url = f"/api/v1/subjects/{subject.pk}/"
    read = send(client, "GET", url)
    assert read.status_code == 200
    etag = read["ETag"]
    assert send(client, "PATCH", url, {"planned_infusion_date": "2026-03-20"}).status_code == 428
    planned = send(client, "PATCH", url, {"planned_infusion_date": "2026-03-20"}, **{"If-Match": etag})
    assert planned.status_code == 200, planned.content[:500]
    assert planned.json()["planned_infusion_date"] == "2026-03-20"
    assert planned["ETag"] != etag
    stale = send(client, "PATCH", url, {"dose_level": "DL2", "reason": "SRC decision"}, **{"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["current"]["planned_infusion_date"] == "2026-03-20"
    assert stale.json()["etag"] == planned["ETag"]
    no_reason = send(client, "PATCH", url, {"dose_level": "DL2"}, **{"If-Match": planned["ETag"]})
    assert no_reason.status_code == 400
    assert list(no_reason.json()) == ["reason"]
    changed = send(
        client, "PATCH", url, {"dose_level": "DL2", "reason": "SRC decision"}, **{"If-Match": planned["ETag"]}
    )
    assert changed.status_code == 200
    assert Subject.objects.get(pk=subject.pk).dose_level == "DL2"


def test_visit_if_match(coordinator, subject_at, site_a, users_a, coordinator_b, site_b):
    subject = subject_at("enrolled", user=coordinator, site=site_a)
    visit = Visit.objects.filter(subject=subject, planned_date__isnull=False).order_by("definition__order").first()
    client = token_client(coordinator)
    url = f"/api/v1/visits/{visit.pk}/"
    read = send(client, "GET", url)
    assert read.status_code == 200
    etag = read["ETag"]
    assert send(client, "PATCH", url, {"visit_date": visit.planned_date.isoformat()}).status_code == 428
    dated = send(client, "PATCH", url, {"visit_date": visit.planned_date.isoformat()}, **{"If-Match": etag})
    assert dated.status_code == 200, dated.content[:500]
    assert dated.json()["visit_date"] == visit.planned_date.isoformat()
    stale = send(client, "PATCH", url, {"visit_date": None, "reason": "x"}, **{"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["current"]["visit_date"] == visit.planned_date.isoformat()
    no_reason = send(client, "PATCH", url, {"visit_date": None}, **{"If-Match": dated["ETag"]})
    assert no_reason.status_code == 400
    assert list(no_reason.json()) == ["reason"]
    monitor = token_client(users_a["monitor"])
    assert (
        send(monitor, "PATCH", url, {"visit_date": None, "reason": "x"}, **{"If-Match": dated["ETag"]}).status_code
        == 403
    )
    assert send(token_client(users_a["statistician"]), "GET", url).status_code == 403
    assert send(token_client(coordinator_b), "GET", url).status_code == 404
    listed = send(client, "GET", f"/api/v1/visits/?subject={subject.pk}").json()
    assert listed["count"] == Visit.objects.filter(subject=subject).count()
    assert send(client, "POST", "/api/v1/visits/", {}).status_code == 405
