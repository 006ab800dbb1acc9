"""The data-management API (issue 7 item 4; DESIGN §6 `queries`, `sdv-marks`, `locks`): a manual
and an automatic query through their whole life, SDV marks cleared by a later API change, and
freezes and locks through the API and the CSV import — a freeze refuses data edits but allows a
query answer and SDV, a lock refuses both — each step audited. Role expectations come from the
DESIGN §4a table, not from the code."""

from __future__ import annotations

from datetime import date

import pytest

from crf import csvfiles
from crf.imports import import_forms
from crf.models import DataLock, Query, QueryEvent, SdvMark
from labs.models import VitalSigns
from labs.services import record_vital_signs
from tests.api.conftest import send, token_client
from tests.conftest import make_user

pytestmark = pytest.mark.req("ISSUE-7")

ROLES = ("coordinator", "investigator", "monitor", "data_manager", "statistician", "study_admin")
#: DESIGN §4a, row by row
VIEW_CRF = {"coordinator", "investigator", "monitor", "data_manager"}
MANAGE_QUERIES = {"monitor", "data_manager"}
MARK_SDV = {"monitor"}
FREEZE_LOCK = {"data_manager"}

FROZEN = "This form is frozen: data cannot be changed."
LOCKED = "This form is locked: no changes are possible."


@pytest.fixture
def vs(subject_at, users_a, site_a):
    coordinator = users_a["coordinator"]
    subject = subject_at("lymphodepleted", user=coordinator, site=site_a)
    return record_vital_signs(
        user=coordinator,
        vital_signs=VitalSigns(
            subject=subject, assessment_date=date(2026, 3, 12), systolic_bp=210, diastolic_bp=80, heart_rate=80
        ),
    )


@pytest.fixture
def clients(users_a):
    return {role: token_client(user) for role, user in users_a.items()}


def _etag(client, url: str) -> str:
    response = send(client, "GET", url)
    assert response.status_code == 200, response.content
    return response["ETag"]


def _step(client, query_id: int, step: str, body: dict, etag: str | None = None):
    url = f"/api/v1/queries/{query_id}/"
    tag = etag if etag is not None else _etag(client, url)
    return send(client, "POST", f"{url}{step}/", body, **{"If-Match": tag})


def _patch_vs(client, vs: VitalSigns, body: dict):
    url = f"/api/v1/vital-signs/{vs.pk}/"
    return send(client, "PATCH", url, body, **{"If-Match": _etag(client, url)})


def test_a_manual_query_through_its_whole_life(vs, clients, users_a):
    monitor, coordinator = clients["monitor"], clients["coordinator"]
    raised = send(
        monitor,
        "POST",
        "/api/v1/queries/",
        {"form": "VS", "form_id": vs.pk, "field_name": "systolic_bp", "text": "210?"},
    )
    assert raised.status_code == 201, raised.content
    query = raised.json()
    assert (query["status"], query["automatic"], query["raised_by"], query["value"]) == (
        "open",
        False,
        "monitor_a",
        210,
    )
    assert (query["form"], query["resource"], query["form_id"]) == ("VS", "vital-signs", vs.pk)
    url = f"/api/v1/queries/{query['id']}/"

    # conditional requests: no If-Match → 428; a stale one → 412 with the query as it is now
    assert send(coordinator, "POST", f"{url}answer/", {"answer": "confirmed", "text": "ok"}).status_code == 428
    stale = send(coordinator, "POST", f"{url}answer/", {"answer": "confirmed", "text": "ok"}, **{"If-Match": '"x"'})
    assert stale.status_code == 412 and stale.json()["current"]["status"] == "open"
    # a confirmation needs its reason, with the page's message
    refused = _step(coordinator, query["id"], "answer", {"answer": "confirmed", "text": " "})
    assert refused.status_code == 400
    assert refused.json() == {"text": ["Give the reason the value is correct as entered."]}
    # monitors do not answer; coordinators do not close (DESIGN §4a)
    assert _step(monitor, query["id"], "answer", {"answer": "confirmed", "text": "x"}).status_code == 403

    answered = _step(coordinator, query["id"], "answer", {"answer": "confirmed", "text": "as in the source chart"})
    assert answered.status_code == 200, answered.content
    assert answered.json()["status"] == "answered"
    assert answered["ETag"] == _etag(monitor, url) != raised["ETag"]
    assert _step(coordinator, query["id"], "close", {}).status_code == 403
    # only the raiser closes a manual query: another data manager may not
    assert _step(clients["data_manager"], query["id"], "close", {}).status_code == 403
    closed = _step(monitor, query["id"], "close", {"text": "thanks"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    reopened = _step(monitor, query["id"], "reopen", {"text": "source shows 120"})
    assert reopened.status_code == 200 and reopened.json()["status"] == "open"

    # the corrected value through the form resource answers the query "corrected"
    assert _patch_vs(coordinator, vs, {"systolic_bp": 120, "reason": "transcription error"}).status_code == 200
    after = send(monitor, "GET", url).json()
    assert (after["status"], after["answer"]) == ("answered", "corrected")
    cancelled = _step(monitor, query["id"], "cancel", {"text": "no longer needed"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = _step(monitor, query["id"], "reopen", {"text": "again"})
    assert again.status_code == 400
    assert again.json() == {"non_field_errors": ["Only a closed query can be re-opened."]}

    thread = send(monitor, "GET", url).json()["steps"]
    assert [s["action"] for s in thread] == ["raised", "answered", "closed", "reopened", "answered", "cancelled"]
    assert [s["by"] for s in thread] == [
        "monitor_a",
        "coordinator_a",
        "monitor_a",
        "monitor_a",
        "coordinator_a",
        "monitor_a",
    ]
    # each step audited, through the API, with its reason
    events = QueryEvent.objects.filter(pgh_obj_id=query["id"]).order_by("pgh_id")
    assert [e.status for e in events] == ["open", "answered", "closed", "open", "answered", "cancelled"]
    assert all(e.pgh_context["via"] == "api" for e in events)
    assert events.last().pgh_context["reason"] == "no longer needed"


def test_an_automatic_query_through_its_whole_life(vs, clients):
    monitor, dm, coordinator = clients["monitor"], clients["data_manager"], clients["coordinator"]
    # above 41.5 °C fires the edit check VS-TEMP-HIGH (labs/checks.py)
    first = _patch_vs(coordinator, vs, {"temperature_c": "41.8", "reason": "entered"})
    assert first.status_code == 200, first.content
    listing = send(dm, "GET", "/api/v1/queries/?origin=automatic&status=open&form=VS").json()
    assert listing["count"] == 1
    query = listing["results"][0]
    assert (query["automatic"], query["rule_code"], query["field_name"], query["raised_by"]) == (
        True,
        "VS-TEMP-HIGH",
        "temperature_c",
        None,
    )
    assert send(dm, "GET", "/api/v1/queries/?origin=manual").json()["count"] == 0
    answered = _step(coordinator, query["id"], "answer", {"answer": "confirmed", "text": "paradoxical reading, source"})
    assert answered.status_code == 200
    # an automatic query has no raiser: any monitor or data manager at the site closes it
    closed = _step(dm, query["id"], "close", {"text": ""})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    reopened = _step(monitor, query["id"], "reopen", {"text": "please re-check"})
    assert reopened.status_code == 200 and reopened.json()["status"] == "open"
    # correcting the value stops the rule firing: the query closes itself
    assert _patch_vs(coordinator, vs, {"temperature_c": "38.8", "reason": "re-measured"}).status_code == 200
    final = send(monitor, "GET", f"/api/v1/queries/{query['id']}/").json()
    assert final["status"] == "closed"
    assert [s["action"] for s in final["steps"]] == ["raised", "answered", "closed", "reopened", "auto_closed"]


def test_query_list_filters_and_refused_filters(vs, clients, users_a):
    monitor = clients["monitor"]
    send(monitor, "POST", "/api/v1/queries/", {"form": "VS", "form_id": vs.pk, "field_name": "heart_rate", "text": "?"})
    assert send(monitor, "GET", f"/api/v1/queries/?subject={vs.subject_id}").json()["count"] == 1
    assert send(monitor, "GET", f"/api/v1/queries/?origin={users_a['monitor'].pk}").json()["count"] == 1
    assert send(monitor, "GET", "/api/v1/queries/?status=closed").json()["count"] == 0
    assert send(monitor, "GET", "/api/v1/queries/?min_days=1").json()["count"] == 0
    assert send(monitor, "GET", "/api/v1/queries/?min_days=0").json()["count"] == 1
    bad = send(monitor, "GET", "/api/v1/queries/?status=shut&form=NOPE&subject=x&min_days=-1")
    assert bad.status_code == 400
    assert set(bad.json()) == {"status", "form", "subject", "min_days"}
    refused = send(
        monitor, "POST", "/api/v1/queries/", {"form": "VS", "form_id": vs.pk, "field_name": "nope", "text": "?"}
    )
    assert refused.status_code == 400 and refused.json() == {"field_name": ["This form has no such field to query."]}
    unknown = send(
        monitor, "POST", "/api/v1/queries/", {"form": "VS", "form_id": 999999, "field_name": "x", "text": "?"}
    )
    assert unknown.status_code == 400 and "form_id" in unknown.json()


def test_queries_outside_the_users_sites_are_404(vs, clients, site_b):
    raised = send(
        clients["monitor"],
        "POST",
        "/api/v1/queries/",
        {"form": "VS", "form_id": vs.pk, "field_name": "heart_rate", "text": "?"},
    ).json()
    outsider = token_client(make_user("monitor_b", site=site_b, role="monitor"))
    assert send(outsider, "GET", f"/api/v1/queries/{raised['id']}/").status_code == 404
    assert (
        send(outsider, "POST", f"/api/v1/queries/{raised['id']}/close/", {}, **{"If-Match": '"x"'}).status_code == 404
    )
    assert send(outsider, "GET", "/api/v1/queries/").json()["count"] == 0
    on_foreign_form = send(
        outsider, "POST", "/api/v1/queries/", {"form": "VS", "form_id": vs.pk, "field_name": "heart_rate", "text": "?"}
    )
    assert on_foreign_form.status_code == 400 and "form_id" in on_foreign_form.json()


@pytest.mark.parametrize("role", ROLES)
def test_roles_per_design_table(vs, clients, role):
    client = clients[role]
    body = {"form": "VS", "form_id": vs.pk, "field_name": "heart_rate", "text": "?"}
    assert send(client, "GET", "/api/v1/queries/").status_code == (200 if role in VIEW_CRF else 403)
    assert send(client, "GET", "/api/v1/sdv-marks/").status_code == (200 if role in VIEW_CRF else 403)
    assert send(client, "GET", "/api/v1/locks/").status_code == (200 if role in VIEW_CRF else 403)
    assert send(client, "POST", "/api/v1/queries/", body).status_code == (201 if role in MANAGE_QUERIES else 403)
    mark = send(client, "POST", "/api/v1/sdv-marks/", {"form": "VS", "form_id": vs.pk})
    assert mark.status_code == (201 if role in MARK_SDV else 403)
    lock = send(client, "POST", "/api/v1/locks/", {"kind": "freeze", "subject": vs.subject_id, "reason": "interim"})
    assert lock.status_code == (201 if role in FREEZE_LOCK else 403)


def test_sdv_marks_are_cleared_by_a_later_api_change(vs, clients):
    monitor, coordinator = clients["monitor"], clients["coordinator"]
    whole = send(monitor, "POST", "/api/v1/sdv-marks/", {"form": "VS", "form_id": vs.pk})
    field = send(monitor, "POST", "/api/v1/sdv-marks/", {"form": "VS", "form_id": vs.pk, "field_name": "heart_rate"})
    other = send(monitor, "POST", "/api/v1/sdv-marks/", {"form": "VS", "form_id": vs.pk, "field_name": "systolic_bp"})
    assert [r.status_code for r in (whole, field, other)] == [201, 201, 201]
    assert whole.json()["verified_by"] == "monitor_a" and whole.json()["form_version"] == vs.version
    again = send(monitor, "POST", "/api/v1/sdv-marks/", {"form": "VS", "form_id": vs.pk})
    assert again.status_code == 400 and again.json() == {"non_field_errors": ["Already verified."]}
    bad = send(monitor, "POST", "/api/v1/sdv-marks/", {"form": "VS", "form_id": vs.pk, "field_name": "nope"})
    assert bad.status_code == 400 and bad.json() == {"field_name": ["This form has no such field to verify."]}

    assert _patch_vs(coordinator, vs, {"heart_rate": 84, "reason": "source re-read"}).status_code == 200
    active = send(monitor, "GET", f"/api/v1/sdv-marks/?form=VS&form_id={vs.pk}&active=true").json()
    assert [m["field_name"] for m in active["results"]] == ["systolic_bp"]
    cleared = send(monitor, "GET", f"/api/v1/sdv-marks/{field.json()['id']}/")
    assert cleared.status_code == 200 and cleared["ETag"]
    assert cleared.json()["active"] is False
    assert cleared.json()["cleared_by"] == "coordinator_a"
    assert cleared.json()["cleared_reason"] == "Changed to version 2: heart_rate"
    assert SdvMark.objects.filter(object_id=vs.pk, cleared_at__isnull=False).count() == 2


def _lock(client, **body):
    # a subject or study lock with checklist items open needs a reason (issue 26 item 3)
    body = {"reason": "interim analysis", "override_reason": "open items accepted for this test", **body}
    response = send(client, "POST", "/api/v1/locks/", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_a_freeze_refuses_data_edits_but_allows_a_query_answer_and_sdv_through_the_api(vs, clients):
    monitor, dm, coordinator = clients["monitor"], clients["data_manager"], clients["coordinator"]
    query = send(
        monitor, "POST", "/api/v1/queries/", {"form": "VS", "form_id": vs.pk, "field_name": "systolic_bp", "text": "?"}
    ).json()
    freeze = _lock(dm, kind="freeze", form="VS", form_id=vs.pk)
    assert (freeze["kind"], freeze["scope"], freeze["active"], freeze["set_by"]) == (
        "freeze",
        "form",
        True,
        "data_manager_a",
    )
    assert send(dm, "GET", "/api/v1/locks/?kind=freeze&active=true").json()["count"] == 1
    # the coordinator sees it too (the casebook badge) but cannot lift it
    assert send(coordinator, "GET", f"/api/v1/locks/{freeze['id']}/").status_code == 200

    edit = _patch_vs(coordinator, vs, {"systolic_bp": 120, "reason": "typo"})
    assert edit.status_code == 400 and edit.json() == {"non_field_errors": [FROZEN]}
    answer = _step(coordinator, query["id"], "answer", {"answer": "confirmed", "text": "as in source"})
    assert answer.status_code == 200 and answer.json()["status"] == "answered"
    assert send(monitor, "POST", "/api/v1/sdv-marks/", {"form": "VS", "form_id": vs.pk}).status_code == 201

    url = f"/api/v1/locks/{freeze['id']}/"
    assert send(dm, "POST", f"{url}lift/", {"reason": "done"}).status_code == 428
    assert (
        send(coordinator, "POST", f"{url}lift/", {"reason": "x"}, **{"If-Match": _etag(coordinator, url)}).status_code
        == 403
    )
    no_reason = send(dm, "POST", f"{url}lift/", {"reason": " "}, **{"If-Match": _etag(dm, url)})
    assert no_reason.status_code == 400 and no_reason.json() == {"reason": ["Give a reason."]}
    lifted = send(dm, "POST", f"{url}lift/", {"reason": "analysis done"}, **{"If-Match": _etag(dm, url)})
    assert lifted.status_code == 200
    assert (lifted.json()["active"], lifted.json()["lift_reason"]) == (False, "analysis done")
    assert send(dm, "POST", f"{url}lift/", {"reason": "x"}, **{"If-Match": _etag(dm, url)}).json() == {
        "non_field_errors": ["This was already lifted."]
    }
    assert _patch_vs(coordinator, vs, {"systolic_bp": 120, "reason": "typo"}).status_code == 200
    # audited: the freeze set and lifted through the API, with the reasons
    history = send(dm, "GET", f"/api/v1/audit-events/?subject={vs.subject_id}").json()["results"]
    lock_rows = [e for e in history if e["model"] == "crf.DataLock"]
    assert [(e["action"], e["reason"], e["via"]) for e in lock_rows] == [
        ("update", "analysis done", "api"),
        ("insert", "interim analysis", "api"),
    ]


def test_a_lock_refuses_data_edits_query_steps_and_sdv_through_the_api(vs, clients):
    monitor, dm, coordinator = clients["monitor"], clients["data_manager"], clients["coordinator"]
    query = send(
        monitor, "POST", "/api/v1/queries/", {"form": "VS", "form_id": vs.pk, "field_name": "systolic_bp", "text": "?"}
    ).json()
    lock = _lock(dm, kind="lock", subject=vs.subject_id)
    assert lock["scope"] == "subject"
    duplicate = send(dm, "POST", "/api/v1/locks/", {"kind": "lock", "subject": vs.subject_id, "reason": "again"})
    assert duplicate.status_code == 400 and duplicate.json() == {"non_field_errors": ["This is already in force."]}

    edit = _patch_vs(coordinator, vs, {"systolic_bp": 120, "reason": "typo"})
    assert edit.status_code == 400 and edit.json() == {"non_field_errors": [LOCKED]}
    answer = _step(coordinator, query["id"], "answer", {"answer": "confirmed", "text": "as in source"})
    assert answer.status_code == 400 and answer.json() == {"non_field_errors": [LOCKED]}
    sdv = send(monitor, "POST", "/api/v1/sdv-marks/", {"form": "VS", "form_id": vs.pk})
    assert sdv.status_code == 400 and sdv.json() == {"non_field_errors": [LOCKED]}
    raised = send(
        monitor, "POST", "/api/v1/queries/", {"form": "VS", "form_id": vs.pk, "field_name": "heart_rate", "text": "?"}
    )
    assert raised.status_code == 400 and raised.json() == {"non_field_errors": [LOCKED]}
    assert Query.objects.get(pk=query["id"]).status == "open"
    assert VitalSigns.objects.get(pk=vs.pk).systolic_bp == 210
    assert not SdvMark.objects.exists()
    # reads continue
    assert send(coordinator, "GET", f"/api/v1/vital-signs/{vs.pk}/").status_code == 200


def test_bad_lock_requests_are_400_never_500(vs, clients, subject_b):
    dm = clients["data_manager"]
    cases = [
        ({"kind": "seal", "reason": "x"}, "kind"),
        ({"kind": "lock", "reason": " ", "subject": vs.subject_id}, "reason"),
        ({"kind": "lock", "reason": "x", "form": "VS"}, "form_id"),
        ({"kind": "lock", "reason": "x", "form": "NOPE", "form_id": 1}, "form"),
        ({"kind": "lock", "reason": "x", "subject": subject_b.pk}, "subject"),  # another site's subject
        ({"kind": "lock", "reason": "x", "study": "nope"}, "study"),
    ]
    for body, field in cases:
        response = send(dm, "POST", "/api/v1/locks/", body)
        assert response.status_code == 400, (body, response.content)
        assert field in response.json(), (body, response.json())
    assert send(dm, "GET", "/api/v1/locks/?kind=seal").status_code == 400
    assert send(dm, "GET", "/api/v1/locks/999999/").status_code == 404
    assert not DataLock.objects.exists()


def _import(user, vs: VitalSigns, systolic: int):
    current = VitalSigns.objects.get(pk=vs.pk)
    raw = (
        "id,version,subject,assessment_date,systolic_bp,diastolic_bp,heart_rate,reason\n"
        f"{vs.pk},{current.version},{vs.subject.screening_number},2026-03-12,{systolic},80,80,source re-checked\n"
    ).encode()
    return import_forms(
        user=user, model=VitalSigns, csv_file=csvfiles.read_csv(raw, file_name="vs.csv"), channel="command"
    )


@pytest.mark.parametrize(("kind", "message"), [("freeze", FROZEN), ("lock", LOCKED)])
def test_the_csv_import_is_refused_under_a_freeze_and_a_lock(vs, clients, users_a, kind, message):
    lock = _lock(clients["data_manager"], kind=kind, form="VS", form_id=vs.pk)
    result = _import(users_a["coordinator"], vs, 120)
    assert not result.ok
    assert any(message in str(error) for error in result.errors), result.errors
    assert VitalSigns.objects.get(pk=vs.pk).systolic_bp == 210
    url = f"/api/v1/locks/{lock['id']}/"
    dm = clients["data_manager"]
    send(dm, "POST", f"{url}lift/", {"reason": "import window"}, **{"If-Match": _etag(dm, url)})
    assert _import(users_a["coordinator"], vs, 120).ok
    assert VitalSigns.objects.get(pk=vs.pk).systolic_bp == 120
