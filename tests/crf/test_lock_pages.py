"""Freezes and locks (issue 7 item 3; DESIGN §4, §4a "freeze / lock / unlock"): set and lifted
with a reason on the pages by a data manager only; a freeze refuses data edits on the page while
a query answer and an SDV mark go through; a lock refuses both (and raising a query); lifting
restores edits; badges on the casebook and the form page; every step audited."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from crf import locks, sdv
from crf.models import DataLock, DataLockEvent, Query, SdvMark
from crf.queries import raise_query
from labs.models import VitalSigns
from tests.conftest import make_user

pytestmark = pytest.mark.req("ISSUE-7")

ROLES = ("coordinator", "investigator", "monitor", "data_manager", "statistician", "study_admin")
#: DESIGN §4a "freeze / lock / unlock"
MAY_LOCK = {"data_manager"}
#: DESIGN §4a "view CRF pages"
MAY_VIEW = {"coordinator", "investigator", "monitor", "data_manager"}


@pytest.fixture
def login(login, client):
    def _switch(user):
        client.logout()
        return login(user)

    return _switch


def _form_url(vs: VitalSigns) -> str:
    return f"/subjects/{vs.subject_id}/forms/VS/{vs.pk}/"


def _edit(client, vs: VitalSigns, **values):
    current = VitalSigns.objects.get(pk=vs.pk)
    data = {
        "opened_version": str(current.version),
        "assessment_date": "2026-03-02",
        "systolic_bp": str(current.systolic_bp),
        "diastolic_bp": str(current.diastolic_bp),
        "oxygen_device": "room_air",
        "reason": "correction",
    }
    data.update({k: str(v) for k, v in values.items()})
    return client.post(_form_url(vs), data)


def _set(client, kind: str, *, vs: VitalSigns | None = None, subject=None, reason: str = "interim analysis"):
    # a subject or study lock with checklist items open needs a reason (issue 26 item 3)
    data = {"kind": kind, "reason": reason, "override_reason": "open items accepted for this test"}
    if vs is not None:
        data.update({"subject": vs.subject_id, "code": "VS", "pk": vs.pk})
    elif subject is not None:
        data["subject"] = subject.pk
    return client.post("/data/locks/new/", data)


def test_a_freeze_refuses_data_edits_but_allows_a_query_answer_and_sdv(vs, users_a, login, client):
    coordinator, monitor, data_manager = users_a["coordinator"], users_a["monitor"], users_a["data_manager"]
    query = raise_query(user=monitor, form=vs, field_name="systolic_bp", text="Please check SBP.")

    login(data_manager)
    assert _set(client, "freeze", vs=vs, reason="Database review").status_code == 302
    freeze = DataLock.objects.get()
    assert (freeze.kind, freeze.object_id, freeze.set_by, freeze.reason) == (
        "freeze",
        vs.pk,
        data_manager,
        "Database review",
    )

    login(coordinator)
    page = client.get(_form_url(vs)).content.decode()
    assert "Frozen" in page and "Data cannot be changed; queries, SDV and signing continue." in page
    response = _edit(client, vs, systolic_bp=118)
    assert response.status_code == 200
    assert "This form is frozen: data cannot be changed." in response.content.decode()
    assert VitalSigns.objects.get(pk=vs.pk).systolic_bp == 120  # nothing saved
    # the query is answered under the freeze
    response = client.post(f"/data/queries/{query.pk}/confirm/", {"text": "As in the chart."})
    assert response.status_code == 302
    assert Query.objects.get().status == "answered"

    # and the monitor verifies under the freeze
    login(monitor)
    assert client.post(f"/data/subjects/{vs.subject_id}/forms/VS/{vs.pk}/sdv/", {}).status_code == 302
    assert SdvMark.objects.filter(object_id=vs.pk, cleared_at__isnull=True).count() == 1

    # lifted with a reason: edits go through again
    login(data_manager)
    response = client.post(f"/data/locks/{freeze.pk}/lift/", {"reason": "Review done"})
    assert response.status_code == 302
    freeze.refresh_from_db()
    assert (freeze.lifted_by, freeze.lift_reason) == (data_manager, "Review done")
    login(coordinator)
    assert _edit(client, vs, systolic_bp=118).status_code == 302
    assert VitalSigns.objects.get(pk=vs.pk).systolic_bp == 118

    # set and lift audited, with who, in which role and why
    events = DataLockEvent.objects.filter(pgh_obj_id=freeze.pk).order_by("pgh_id")
    assert [
        (e.pgh_label, e.pgh_context["username"], e.pgh_context["role"], e.pgh_context["reason"]) for e in events
    ] == [
        ("insert", "data_manager_a", "data_manager", "Database review"),
        ("update", "data_manager_a", "data_manager", "Review done"),
    ]


def test_a_subject_lock_refuses_data_edits_query_steps_and_sdv(vs, users_a, login, client):
    coordinator, monitor, data_manager = users_a["coordinator"], users_a["monitor"], users_a["data_manager"]
    query = raise_query(user=monitor, form=vs, field_name="systolic_bp", text="Please check SBP.")
    login(data_manager)
    assert _set(client, "lock", subject=vs.subject, reason="Casebook complete").status_code == 302
    lock = DataLock.objects.get()
    assert (lock.kind, lock.subject, lock.object_id) == ("lock", vs.subject, None)

    login(coordinator)
    page = client.get(_form_url(vs)).content.decode()
    assert "Locked" in page and f'id="qs-confirm-{query.pk}"' not in page  # no answer offered
    response = _edit(client, vs, systolic_bp=118)
    assert "This form is locked: no changes are possible." in response.content.decode()
    response = client.post(f"/data/queries/{query.pk}/confirm/", {"text": "As in the chart."})
    assert response.status_code == 400
    assert "This form is locked: no changes are possible." in response.content.decode()
    assert Query.objects.get().status == "open"

    login(monitor)
    response = client.post(
        f"/data/subjects/{vs.subject_id}/forms/VS/{vs.pk}/query/", {"field_name": "heart_rate", "text": "HR?"}
    )
    assert response.status_code == 400 and Query.objects.count() == 1
    client.post(f"/data/subjects/{vs.subject_id}/forms/VS/{vs.pk}/sdv/", {})
    assert SdvMark.objects.count() == 0
    assert VitalSigns.objects.get(pk=vs.pk).systolic_bp == 120

    # reads continue: the casebook shows the subject's lock and the form's
    page = client.get(f"/subjects/{vs.subject_id}/casebook/").content.decode()
    assert page.count('<span class="badge overdue">Locked</span>') == 2


def test_a_study_lock_is_set_and_lifted_on_the_lock_page(vs, users_a, login, client):
    login(users_a["data_manager"])
    assert _set(client, "lock", reason="Final analysis").status_code == 302
    lock = DataLock.objects.get()
    assert (lock.subject, lock.object_id) == (None, None)
    page = client.get("/data/locks/").content.decode()
    assert "Whole study" in page and "Final analysis" in page and f'action="/data/locks/{lock.pk}/lift/"' in page
    with pytest.raises(ValidationError) as refused:
        sdv.mark_verified(user=users_a["monitor"], form=vs)
    assert refused.value.messages == ["This form is locked: no changes are possible."]
    # a lift needs a reason
    client.post(f"/data/locks/{lock.pk}/lift/", {"reason": " "})
    assert DataLock.objects.get().lifted_at is None
    client.post(f"/data/locks/{lock.pk}/lift/", {"reason": "Re-opened for a late lab"})
    assert DataLock.objects.get().lifted_at is not None
    sdv.mark_verified(user=users_a["monitor"], form=vs)


def test_the_same_freeze_twice_is_refused_and_a_reason_is_required(vs, users_a):
    data_manager = users_a["data_manager"]
    locks.set_data_lock(user=data_manager, kind="freeze", study=vs.subject.site.study, form=vs, reason="review")
    with pytest.raises(ValidationError) as refused:
        locks.set_data_lock(user=data_manager, kind="freeze", study=vs.subject.site.study, form=vs, reason="again")
    assert refused.value.messages == ["This is already in force."]
    with pytest.raises(ValidationError) as refused:
        locks.set_data_lock(user=data_manager, kind="lock", study=vs.subject.site.study, subject=vs.subject, reason="")
    assert refused.value.message_dict == {"reason": ["Give a reason."]}


def test_badges_on_the_casebook(users_a, login, client, enrolled_subject_with_vs):
    subject, form = enrolled_subject_with_vs
    data_manager = users_a["data_manager"]
    sdv.mark_verified(user=users_a["monitor"], form=form)
    locks.set_data_lock(user=data_manager, kind="freeze", study=subject.site.study, form=form, reason="review")
    login(users_a["coordinator"])
    page = client.get(f"/subjects/{subject.pk}/casebook/").content.decode()
    assert "SDV ✓" in page and "Frozen" in page and "Locked" not in page
    locks.set_data_lock(
        user=data_manager, kind="lock", study=subject.site.study, subject=subject, reason="done", override_reason="ok"
    )
    page = client.get(f"/subjects/{subject.pk}/casebook/").content.decode()
    assert page.count('<span class="badge overdue">Locked</span>') == 2  # the subject and its form


@pytest.fixture
def enrolled_subject_with_vs(crf_ready, users_a, study):
    """Subject A enrolled with visits, and vital signs at its D1 visit (a casebook cell)."""
    from datetime import date

    from subjects.models import Visit
    from subjects.services.visits import schedule_visits
    from tests.factories import demo_schedule, vital_signs

    demo_schedule(study)
    subject = crf_ready
    subject.enrolled_on = date(2026, 3, 1)
    subject.planned_infusion_date = date(2026, 3, 10)
    subject.status = "enrolled"
    subject.dose_level = "DL1"
    subject.save()
    schedule_visits(user=users_a["coordinator"], subject=subject, reason="test")
    form = vital_signs(users_a["coordinator"], subject, visit=Visit.objects.get(subject=subject, definition__code="D1"))
    return subject, form


@pytest.mark.parametrize("role", ROLES)
def test_who_may_freeze_lock_and_lift(vs, users_a, login, client, role):
    login(users_a[role])
    response = _set(client, "freeze", vs=vs)
    if role in MAY_LOCK:
        assert response.status_code == 302 and DataLock.objects.count() == 1
    else:
        assert response.status_code == 403 and DataLock.objects.count() == 0
        assert client.get("/data/locks/").status_code == 403
        with pytest.raises(PermissionDenied):
            locks.set_data_lock(user=users_a[role], kind="lock", study=vs.subject.site.study, reason="x")
        lock = locks.set_data_lock(
            user=users_a["data_manager"], kind="lock", study=vs.subject.site.study, reason="final", override_reason="ok"
        )
        assert client.post(f"/data/locks/{lock.pk}/lift/", {"reason": "no"}).status_code == 403
        with pytest.raises(PermissionDenied):
            locks.lift_data_lock(user=users_a[role], lock=lock, reason="no")
        assert DataLock.objects.get(pk=lock.pk).lifted_at is None


def test_a_data_manager_at_one_site_cannot_lock_the_study_nor_another_sites_subject(
    vs, users_a, site_b, subject_b, login, client
):
    data_manager_b = make_user("data_manager_b", site=site_b, role="data_manager")
    login(data_manager_b)
    assert _set(client, "lock", subject=vs.subject).status_code == 404
    with pytest.raises(PermissionDenied):
        locks.set_data_lock(user=data_manager_b, kind="lock", study=site_b.study, reason="final")
    with pytest.raises(PermissionDenied):
        locks.set_data_lock(user=users_a["data_manager"], kind="lock", study=site_b.study, reason="final")
    assert DataLock.objects.count() == 0


def test_a_freeze_refuses_a_visit_date_change(enrolled_subject_with_vs, users_a):
    from subjects.models import Visit
    from subjects.services.visits import record_visit_date

    subject, _form = enrolled_subject_with_vs
    visit = Visit.objects.get(subject=subject, definition__code="D1")
    locks.set_data_lock(
        user=users_a["data_manager"], kind="freeze", study=subject.site.study, subject=subject, reason="review"
    )
    with pytest.raises(ValidationError) as refused:
        record_visit_date(user=users_a["coordinator"], visit=visit, visit_date=visit.planned_date)
    assert refused.value.messages == ["This form is frozen: data cannot be changed."]
    assert Visit.objects.get(pk=visit.pk).visit_date is None


def test_bad_lock_requests_are_refused_without_a_500(vs, users_a, login, client):
    login(users_a["data_manager"])
    assert (
        client.post(
            "/data/locks/new/", {"kind": "lock", "reason": "x", "subject": vs.subject_id, "code": "VS", "pk": "abc"}
        ).status_code
        == 404
    )
    assert client.post("/data/locks/new/", {"kind": "lock", "reason": "x", "subject": "abc"}).status_code == 404
    assert (
        client.post(
            "/data/locks/new/", {"kind": "lock", "reason": "x", "subject": vs.subject_id, "code": "XX", "pk": "1"}
        ).status_code
        == 404
    )
    response = client.post("/data/locks/new/", {"kind": "seal", "reason": "x"}, follow=True)
    assert "Choose freeze or lock and give a reason." in response.content.decode()
    assert client.post("/data/locks/999999/lift/", {"reason": "x"}).status_code == 404
    assert DataLock.objects.count() == 0
