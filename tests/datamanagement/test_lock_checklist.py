"""The lock checklist (issue 26 item 3): before a subject or the study is locked, what is still
open is listed, each item linking to where it is fixed; each app declares its items through the
checklist hook; a lock with items open is refused (API: 409 with the list) unless an override
reason is given, which is recorded with the lock together with what was open."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.test import RequestFactory
from django.utils import translation

from adverse_events.models import DltCandidate
from crf import sdv
from crf.models import DataLock
from crf.queries import raise_query
from datamanagement import checklist, signatures
from subjects.models import Subject
from tests.api.conftest import send, token_client
from tests.conftest import PASSWORD

pytestmark = pytest.mark.req("ISSUE-26")


@pytest.fixture
def open_casebook(vs, users_a):
    """Subject A with an open query on its vital signs and a DLT candidate awaiting adjudication."""
    query = raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Please check SBP.")
    candidate = DltCandidate.objects.create(
        subject=vs.subject, key="crs-g4", criterion="crs", onset_day=3, description="CRS grade 4"
    )
    return vs.subject, query, candidate


def test_every_app_declares_its_items():
    assert [key for key, _title in checklist.sections()] == ["queries", "sdv", "signatures", "visits", "dlt", "sae"]


def test_the_locks_api_answers_409_with_the_list_then_locks_with_an_override(open_casebook, vs, users_a):
    subject, query, candidate = open_casebook
    dm = token_client(users_a["data_manager"])
    refused = send(dm, "POST", "/api/v1/locks/", {"kind": "lock", "subject": subject.pk, "reason": "casebook final"})
    assert refused.status_code == 409
    body = refused.json()
    assert body["checklist"] == f"/data/lock-checklist/?subject={subject.pk}"
    by_kind = {item["kind"]: item for item in body["open_items"]}
    assert {"queries", "signatures", "dlt"} <= set(by_kind)
    assert by_kind["queries"] == {
        "kind": "queries",
        "subject": "A-001",
        "label": "Vital signs · systolic BP (mmHg): Please check SBP. (Open)",
        "url": f"/data/queries/{query.pk}/",
    }
    assert by_kind["dlt"]["url"] == f"/safety/dlt/candidates/{candidate.pk}/"
    assert by_kind["signatures"]["label"] == "Casebook not signed"
    assert DataLock.objects.count() == 0
    # a freeze, and a lock of one form, do not ask the checklist
    freeze = {"kind": "freeze", "subject": subject.pk, "reason": "x"}
    assert send(dm, "POST", "/api/v1/locks/", freeze).status_code == 201
    form_lock = {"kind": "lock", "form": "VS", "form_id": vs.pk, "reason": "x"}
    assert send(dm, "POST", "/api/v1/locks/", form_lock).status_code == 201
    # the study lock asks it too
    study_lock = send(dm, "POST", "/api/v1/locks/", {"kind": "lock", "reason": "database lock"})
    assert study_lock.status_code == 409 and len(study_lock.json()["open_items"]) >= 3

    accepted = send(
        dm,
        "POST",
        "/api/v1/locks/",
        {"kind": "lock", "subject": subject.pk, "reason": "casebook final", "override_reason": "sponsor agreed"},
    )
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["override_reason"] == "sponsor agreed"
    lock = DataLock.objects.get(pk=accepted.json()["id"])
    assert lock.override_reason == "sponsor agreed"
    assert {item["kind"] for item in lock.open_items} == set(by_kind)


def test_a_query_reads_in_the_readers_language_on_the_checklist(open_casebook, study):
    """The form and field by their names, a text the system wrote in the reader's language (a
    person's text as written), never the stored field name or the English catalogue text."""
    subject, query, _candidate = open_casebook
    query.text = query.text_code = (
        "This result proposes CTCAE grade 3 or higher (the term is shown beside it) and no adverse event "
        "with that term covers its date. Please record the AE, or explain why none is reported."
    )
    query.text_params = {}
    query.save(update_fields=["text", "text_code", "text_params"])
    with translation.override("zh-hans"):
        [item] = [i for i in checklist.open_items(study=study, subject=subject) if i.kind == "queries"]
    assert item.label == (
        "生命体征 · 收缩压（mmHg）：该结果推导出CTCAE 3级或以上（术语显示在旁边），且没有该术语的不良事件覆盖其日期。"
        "请记录该AE，或说明未报告的原因。（开放）"
    )


def test_nothing_open_locks_without_an_override(study, site_a, users_a, rf: RequestFactory):
    subject = Subject.objects.create(site=site_a, subject_id="A-009")
    assert [i.label for i in checklist.open_items(study=study, subject=subject)] == ["Casebook not signed"]
    request = rf.post("/")
    request.session = {}
    signatures.sign(
        request=request,
        user=users_a["investigator"],
        subject=subject,
        scope="casebook",
        meaning="reviewed_approved",
        username="investigator_a",
        password=PASSWORD,
    )
    assert checklist.open_items(study=study, subject=subject) == []
    dm = token_client(users_a["data_manager"])
    locked = send(dm, "POST", "/api/v1/locks/", {"kind": "lock", "subject": subject.pk, "reason": "final"})
    assert locked.status_code == 201
    assert DataLock.objects.get().override_reason == "" and DataLock.objects.get().open_items == []


def test_the_checklist_page_lists_links_and_takes_the_override(open_casebook, users_a, client, login):
    subject, query, _candidate = open_casebook
    url = f"/data/lock-checklist/?subject={subject.pk}"
    login(users_a["coordinator"])
    assert client.get(url).status_code == 403
    client.logout()
    login(users_a["data_manager"])
    page = client.get(url).content.decode()
    assert "Open or answered queries" in page and f'href="/data/queries/{query.pk}/"' in page
    assert "DLT candidates awaiting adjudication" in page and "Casebook not signed" in page
    refused = client.post(url, {"subject": subject.pk, "reason": "casebook final"})
    assert refused.status_code == 200 and "items are still open" in refused.content.decode()
    assert DataLock.objects.count() == 0
    # the lock page's own form sends a refused lock to the checklist
    via_lock_page = client.post("/data/locks/new/", {"kind": "lock", "reason": "final", "subject": subject.pk})
    assert via_lock_page.status_code == 302 and via_lock_page["Location"] == url
    done = client.post(url, {"subject": subject.pk, "reason": "casebook final", "override_reason": "sponsor agreed"})
    assert done.status_code == 302
    assert DataLock.objects.get().override_reason == "sponsor agreed"
    page = client.get(url).content.decode()
    assert "Locked with items open" in page and "sponsor agreed" in page
    # when it was locked, in the reader's zone (site A: Asia/Shanghai) with its offset, not the UTC clock
    DataLock.objects.update(set_at=datetime(2026, 5, 1, 17, 30, tzinfo=UTC))
    assert "2026-05-02 01:30 +08:00" in client.get(url).content.decode()


def test_a_form_to_verify_is_named_with_its_date_and_study_day(vs, study, users_a):
    """A monitor finds the form by its date and its day on the Day-0 clock (CLINICAL_SPEC §7)."""
    sdv.save_plan(
        user=users_a["data_manager"], study=study, full_forms=["VS"], sample_percent=0, seed=7, reason="VS in full"
    )
    [item] = [i for i in checklist.open_items(study=study, subject=vs.subject) if i.kind == "sdv"]
    assert item.label == f"VS #{vs.pk} Vital signs · 2026-03-02"  # no day 0 yet: the date alone
    Subject.objects.filter(pk=vs.subject_id).update(planned_infusion_date=date(2026, 3, 5))
    [item] = [i for i in checklist.open_items(study=study, subject=vs.subject) if i.kind == "sdv"]
    assert item.label == f"VS #{vs.pk} Vital signs · 2026-03-02 (day −3)"  # a true minus sign
