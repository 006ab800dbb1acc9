"""The audit index (issue 26 item 4): the trigger on each subject-scoped history table writes one
index row per history row (who, when, which fields), the application cannot write it, and the
`audit-events` API filters it by field and action too."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from datamanagement.models import AuditIndex
from labs.models import VitalSignsEvent
from tests.api.conftest import send, token_client

pytestmark = pytest.mark.req("ISSUE-26")


def test_every_history_row_is_indexed_with_its_fields(vs, save_vs, users_a):
    save_vs(vs, systolic_bp=135, heart_rate=70, reason="source")
    events = list(VitalSignsEvent.objects.filter(pgh_obj_id=vs.pk).order_by("pgh_id"))
    rows = list(AuditIndex.objects.filter(event_table="labs_vitalsignsevent", obj_id=str(vs.pk)).order_by("event_id"))
    assert [(r.event_id, r.action) for r in rows] == [(e.pgh_id, e.pgh_label) for e in events]
    insert, update = rows
    assert {"systolic_bp", "diastolic_bp", "assessment_date"} <= set(insert.fields)
    assert update.fields == ["heart_rate", "systolic_bp"]
    assert update.previous_id == insert.event_id
    assert (update.subject_pk, update.site_pk, update.user_pk) == (
        vs.subject_id,
        vs.subject.site_id,
        users_a["coordinator"].pk,
    )
    assert update.obj_model == "labs.VitalSigns"


def test_the_application_cannot_write_the_index(vs):
    row = AuditIndex.objects.filter(obj_id=str(vs.pk)).first()
    for attempt in (
        lambda: AuditIndex.objects.filter(pk=row.pk).update(user_pk=None),
        lambda: AuditIndex.objects.filter(pk=row.pk).delete(),
        lambda: AuditIndex.objects.create(
            event_table="x", event_id=1, at=row.at, action="insert", obj_model="x", obj_id="1", subject_pk=1, site_pk=1
        ),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()


def test_audit_events_by_field_and_action(vs, save_vs, users_a):
    save_vs(vs, systolic_bp=135, reason="source")
    save_vs(vs, heart_rate=71, reason="source")
    dm = token_client(users_a["data_manager"])
    by_field = send(dm, "GET", "/api/v1/audit-events/?field=systolic_bp").json()["results"]
    assert [(e["action"], e["record_id"]) for e in by_field] == [("update", str(vs.pk)), ("insert", str(vs.pk))]
    assert by_field[0]["changes"] == [{"field": "systolic_bp", "old": 120, "new": 135}]
    assert by_field[0]["reason"] == "source"
    updates = send(dm, "GET", f"/api/v1/audit-events/?subject={vs.subject_id}&action=update").json()["results"]
    assert [e["changes"][0]["field"] for e in updates] == ["heart_rate", "systolic_bp"]
    assert send(dm, "GET", "/api/v1/audit-events/?action=drop").status_code == 400
