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


def test_every_history_table_has_the_index_the_trigger_reads_the_previous_event_from(db):
    """issue 22: each subject-scoped history table has its (pgh_obj_id, pgh_id) index (sync)."""
    from django.db import connection

    from datamanagement import audit_index

    models = audit_index.subject_event_models()
    assert len(models) > 30
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'trialsite_prev_%%'")
        found = {(table, name): definition for table, name, definition in cursor.fetchall()}
    for model in models:
        table = model._meta.db_table
        assert found.get((table, audit_index.previous_index(table)), "").endswith("(pgh_obj_id, pgh_id)"), table


def test_an_update_reads_one_earlier_event_however_long_the_history(vs):
    """issue 22: the trigger finds an update's previous event by its id alone and makes only that
    one JSON. Before, PostgreSQL read every earlier event of the record and made each JSON (an
    ICAHT derivation with its ANC inputs: ~6 ms of trigger time after 86 events). Counted as the
    reads of the history table's TOAST (a large value is stored out of line: each event's value
    made JSON is one index scan there), which do not depend on the plan PostgreSQL picks: a
    derivation with ~20 kB of inputs updated 40 times, then once more."""
    import random

    from django.apps import apps
    from django.db import connection
    from django.utils import timezone

    from adverse_events.models import IcahtDerivation

    IcahtDerivationEvent = apps.get_model("adverse_events", "IcahtDerivationEvent")

    rng = random.Random(22)
    inputs = ["".join(rng.choices("0123456789abcdef", k=64)) for _ in range(300)]  # incompressible
    derivation = IcahtDerivation.objects.create(
        subject=vs.subject, derived_at=timezone.now(), inputs=inputs, criteria="EHA-EBMT-2023"
    )
    for grade in range(40):
        IcahtDerivation.objects.filter(pk=derivation.pk).update(early_grade=grade)
    table = IcahtDerivationEvent._meta.db_table
    toast_reads = (
        "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_xact_all_tables "
        "WHERE relid = (SELECT reltoastrelid FROM pg_class WHERE relname = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(toast_reads, [table])
        before = cursor.fetchone()[0]
        IcahtDerivation.objects.filter(pk=derivation.pk).update(early_grade=41)
        cursor.execute(toast_reads, [table])
        reads = cursor.fetchone()[0] - before
    assert 1 <= reads <= 5, reads  # the earlier event and the new one: 45 before the change
    events = list(IcahtDerivationEvent.objects.filter(pgh_obj_id=derivation.pk).order_by("-pgh_id")[:2])
    assert [e.early_grade for e in events] == [41, 39]
    row = AuditIndex.objects.get(event_table=table, event_id=events[0].pgh_id)
    assert (row.previous_id, row.fields) == (events[1].pgh_id, ["early_grade"])
