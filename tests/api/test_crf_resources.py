"""Every CRF resource of the registry (DESIGN §6, issue 6 item 2): conditional requests (ETag,
If-Match: 200, 412, 428), reason for change once complete, field-level 400s with nothing saved,
the entered-in-error action instead of DELETE, and the audit context of API writes.
Parametrised over `crf.api.crf_resources()`, so a newly registered form is covered too."""

from __future__ import annotations

import pytest
from django.apps import apps

from crf.api import crf_resources
from crf.declarations import declaration_for
from tests.api.conftest import RESOURCES, example_for, send

pytestmark = pytest.mark.req("ISSUE-6")


def test_every_resource_named_by_design_is_registered():
    """DESIGN §6 names; the forms built so far all have their resource."""
    assert {"consents", "eligibility", "lymphodepletions", "infusions", "vital-signs"} <= set(crf_resources())
    for resource, model in crf_resources().items():
        assert resource == resource.lower() and " " not in resource and "_" not in resource, resource
        assert declaration_for(model).api_resource == resource


@pytest.mark.req("DESIGN-6")
@pytest.mark.parametrize("resource", RESOURCES)
def test_etag_and_if_match(resource, created, coordinator, site_a):
    client, subject, response = created(resource, user=coordinator, site=site_a)
    model = crf_resources()[resource]
    body = response.json()
    pk = body["id"]
    url = f"/api/v1/{resource}/{pk}/"
    label = model._meta.label_lower
    v1 = f'"{label}-{pk}-v1"'
    assert body["version"] == 1
    assert response["ETag"] == v1

    read = send(client, "GET", url)
    assert read.status_code == 200
    assert read["ETag"] == v1
    assert read.json()["subject"] == subject.pk

    # 428: no If-Match (nor `*`), nothing saved
    for headers in ({}, {"If-Match": "*"}):
        refused = send(client, "PATCH", url, {"entry_status": "complete"}, **headers)
        assert refused.status_code == 428, refused.content[:300]
        assert refused.json()["code"] == "precondition_required"
    assert model.objects.get(pk=pk).version == 1

    # 200: the ETag read; the version moves on
    saved = send(client, "PATCH", url, {"entry_status": "complete"}, **{"If-Match": v1})
    assert saved.status_code == 200, saved.content[:1000]
    v2 = f'"{label}-{pk}-v2"'
    assert saved["ETag"] == v2
    assert saved.json()["entry_status"] == "complete"
    assert saved.json()["version"] == 2

    # 412: the old ETag (and a weak one) is stale; the body holds the current values and ETag
    for stale_tag in (v1, f"W/{v2}"):
        stale = send(client, "PATCH", url, {"entry_status": "in_progress", "reason": "x"}, **{"If-Match": stale_tag})
        assert stale.status_code == 412, stale.content[:300]
        assert stale["ETag"] == v2
        assert stale.json()["etag"] == v2
        assert stale.json()["current"]["version"] == 2
        assert stale.json()["current"]["entry_status"] == "complete"
    assert model.objects.get(pk=pk).entry_status == "complete"

    # complete: a change needs a reason (400, field `reason`), then the header carries it
    no_reason = send(client, "PATCH", url, {"entry_status": "in_progress"}, **{"If-Match": v2})
    assert no_reason.status_code == 400
    assert list(no_reason.json()) == ["reason"]
    assert model.objects.get(pk=pk).version == 2
    reasoned = send(
        client,
        "PATCH",
        url,
        {"entry_status": "in_progress"},
        **{"If-Match": v2, "X-Reason-For-Change": "%E8%AF%AF%E6%A0%87%E5%AE%8C%E6%88%90"},  # 误标完成
    )
    assert reasoned.status_code == 200, reasoned.content[:500]
    assert reasoned["ETag"] == f'"{label}-{pk}-v3"'

    # the history row of the API change carries user, reason and "via API"
    event_model = apps.get_model(model._meta.app_label, f"{model.__name__}Event")
    event = event_model.objects.filter(pgh_obj_id=pk).order_by("-pgh_id").first()
    assert event.pgh_label == "update"
    assert event.pgh_context["reason"] == "误标完成"
    assert event.pgh_context["via"] == "api"
    assert event.pgh_context["username"] == "coordinator_a"
    assert event.pgh_context["method"] == "PATCH"


@pytest.mark.req("DESIGN-6")
@pytest.mark.parametrize("resource", RESOURCES)
def test_put_needs_if_match_and_replaces(resource, created, coordinator, site_a):
    client, subject, response = created(resource, user=coordinator, site=site_a)
    pk = response.json()["id"]
    url = f"/api/v1/{resource}/{pk}/"
    example = example_for(resource)
    full = {"subject": subject.pk, **example.payload, "entry_status": "complete"}
    if example.prepare:
        full.update({k: v for k, v in response.json().items() if k in ("assessment",)})
    assert send(client, "PUT", url, full).status_code == 428
    put = send(client, "PUT", url, full, **{"If-Match": response["ETag"]})
    assert put.status_code == 200, put.content[:500]
    assert put.json()["entry_status"] == "complete"


@pytest.mark.parametrize("resource", RESOURCES)
def test_bad_input_is_400_with_field_reasons_and_nothing_saved(resource, created, coordinator, site_a):
    client, subject, response = created(resource, user=coordinator, site=site_a)
    model = crf_resources()[resource]
    before = model.objects.count()
    empty = send(client, "POST", f"/api/v1/{resource}/", {})
    assert empty.status_code == 400
    assert "subject" in empty.json()
    malformed = client.post(f"/api/v1/{resource}/", data="{not json", content_type="application/json")
    assert malformed.status_code == 400
    wrong_status = send(client, "POST", f"/api/v1/{resource}/", {"subject": subject.pk, "entry_status": "bogus"})
    assert wrong_status.status_code == 400
    assert "entry_status" in wrong_status.json()
    refused = example_for(resource).refused
    if refused:
        url = f"/api/v1/{resource}/{response.json()['id']}/"
        bad = send(client, "PATCH", url, refused, **{"If-Match": response["ETag"]})
        assert bad.status_code == 400, bad.content[:500]
        assert set(bad.json()) == set(refused)
        assert model.objects.get(pk=response.json()["id"]).version == 1
    assert model.objects.count() == before


@pytest.mark.parametrize("resource", RESOURCES)
def test_entered_in_error_instead_of_delete(resource, created, coordinator, site_a):
    client, _subject, response = created(resource, user=coordinator, site=site_a)
    model = crf_resources()[resource]
    pk = response.json()["id"]
    url = f"/api/v1/{resource}/{pk}/"
    assert send(client, "DELETE", url).status_code == 405
    action = f"{url}entered-in-error/"
    assert send(client, "POST", action, {"reason": "wrong subject"}).status_code == 428
    no_reason = send(client, "POST", action, {}, **{"If-Match": response["ETag"]})
    assert no_reason.status_code == 400
    assert list(no_reason.json()) == ["reason"]
    done = send(client, "POST", action, {"reason": "wrong subject"}, **{"If-Match": response["ETag"]})
    assert done.status_code == 200, done.content[:500]
    assert done.json()["entered_in_error"] is True
    assert done.json()["error_reason"] == "wrong subject"
    assert done["ETag"].endswith('-v2"')
    assert model.objects.filter(pk=pk, entered_in_error=True).exists()
    listed = send(client, "GET", f"/api/v1/{resource}/?entered_in_error=false").json()
    assert pk not in [row["id"] for row in listed["results"]]


def test_service_refusal_is_a_field_error(created, coordinator, site_a):
    """A rule of the model's clean() (full_clean in save_form), not of the serializer: 400 on the
    field, nothing saved (the chain-of-identity check needs two different people)."""
    client, _subject, response = created("infusions", user=coordinator, site=site_a)
    url = f"/api/v1/infusions/{response.json()['id']}/"
    bad = send(client, "PATCH", url, {"checked_by_second": "nurse  liu"}, **{"If-Match": response["ETag"]})
    assert bad.status_code == 400
    assert list(bad.json()) == ["checked_by_second"]
    assert send(client, "GET", url).json()["checked_by_second"] == "Dr Wang"


def test_visit_of_another_subject_is_refused(created, coordinator, site_a, subject_at):
    client, _subject, response = created("vital-signs", user=coordinator, site=site_a)
    other = subject_at("enrolled", user=coordinator, site=site_a)
    visit = other.visits.first()
    url = f"/api/v1/vital-signs/{response.json()['id']}/"
    bad = send(client, "PATCH", url, {"visit": visit.pk}, **{"If-Match": response["ETag"]})
    assert bad.status_code == 400
    assert list(bad.json()) == ["visit"]
