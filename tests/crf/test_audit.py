"""Audit trail (issue 3 item 1, DESIGN §4 "Audit trail"): every write path leaves exactly one
history row per changed row; history is append-only; the app role cannot switch triggers off."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pghistory
import pgtrigger
import pytest
from django.db import DatabaseError, connection, transaction

from labs.models import VitalSigns, VitalSignsEvent
from study.models import VisitDefinition
from subjects.models import Visit, VisitEvent
from tests.factories import identity, protocol_v1, vital_signs

pytestmark = pytest.mark.req("ISSUE-3")


@pytest.fixture
def coordinator(users_a):
    return users_a["coordinator"]


@pytest.fixture
def setup(study, subject_a):
    protocol_v1(study)
    identity(subject_a)
    return subject_a


def _events(obj_ids, label=None):
    qs = VitalSignsEvent.objects.filter(pgh_obj_id__in=obj_ids)
    if label:
        qs = qs.filter(pgh_label=label)
    return qs


def test_tests_run_as_the_app_role_which_owns_nothing(db):
    with connection.cursor() as cur:
        cur.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        user, superuser = cur.fetchone()
        cur.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'labs_vitalsigns'")
        owner = cur.fetchone()[0]
    assert user == "trialsite_app"
    assert superuser is False
    assert owner != user


def test_service_save_records_one_insert_then_one_update_with_context(setup, coordinator):
    vs = vital_signs(coordinator, setup)
    assert _events([vs.pk]).count() == 1
    insert = _events([vs.pk]).get()
    assert insert.pgh_label == "insert"
    vs.temperature_c = Decimal("38.4")
    from labs.services import record_vital_signs

    record_vital_signs(user=coordinator, vital_signs=vs, expected_version=1, reason="transcription error")
    update = _events([vs.pk], "update").get()
    assert update.temperature_c == Decimal("38.4")
    ctx = update.pgh_context
    assert ctx["reason"] == "transcription error"
    assert ctx["username"] == "coordinator_a"
    assert ctx["role"] == "coordinator"
    assert ctx["site"] == "01"


def test_blank_to_value_is_recorded(setup, coordinator):
    vs = vital_signs(coordinator, setup, heart_rate=None)
    VitalSigns.objects.filter(pk=vs.pk).update(heart_rate=88)
    update = _events([vs.pk], "update").get()
    assert update.heart_rate == 88
    assert _events([vs.pk], "insert").get().heart_rate is None


def test_queryset_update_records_one_event_per_row(setup, coordinator):
    a = vital_signs(coordinator, setup)
    b = vital_signs(coordinator, setup, assessment_date=date(2026, 3, 3))
    VitalSigns.objects.filter(pk__in=[a.pk, b.pk]).update(heart_rate=70)
    assert _events([a.pk, b.pk], "update").count() == 2


def test_bulk_update_records_one_event_per_row(setup, coordinator):
    rows = [vital_signs(coordinator, setup, assessment_date=date(2026, 3, d)) for d in (4, 5, 6)]
    for row in rows:
        row.spo2 = 97
    VitalSigns.objects.bulk_update(rows, ["spo2"])
    assert _events([r.pk for r in rows], "update").count() == 3


def test_bulk_create_records_one_event_per_row(setup, coordinator):
    from django.utils import timezone

    now = timezone.now()
    made = VitalSigns.objects.bulk_create(
        [
            VitalSigns(
                subject=setup,
                assessment_date=date(2026, 3, d),
                created_by=coordinator,
                updated_by=coordinator,
                created_at=now,
                updated_at=now,
            )
            for d in (7, 8)
        ]
    )
    assert _events([m.pk for m in made], "insert").count() == 2


def test_raw_sql_update_is_recorded(setup, coordinator):
    vs = vital_signs(coordinator, setup)
    with connection.cursor() as cur:
        cur.execute("UPDATE labs_vitalsigns SET heart_rate = 101 WHERE id = %s", [vs.pk])
    assert _events([vs.pk], "update").get().heart_rate == 101


def test_unchanged_update_still_one_event_and_no_event_without_a_row(setup, coordinator):
    vs = vital_signs(coordinator, setup)
    VitalSigns.objects.filter(pk=vs.pk + 1000).update(heart_rate=1)
    assert _events([vs.pk]).count() == 1


def test_delete_is_recorded(study, subject_a):
    definition = VisitDefinition.objects.create(
        study=study, code="D1", name="Day 1", name_zh="第1天", anchor="infusion", day=1, order=1
    )
    visit = Visit.objects.create(subject=subject_a, definition=definition)
    pk = visit.pk
    visit.delete()
    assert VisitEvent.objects.filter(pgh_obj_id=pk).values_list("pgh_label", flat=True).order_by("pgh_id")[::1] == [
        "insert",
        "delete",
    ]


def test_forms_refuse_hard_delete(setup, coordinator):
    vs = vital_signs(coordinator, setup)
    with pytest.raises(DatabaseError), transaction.atomic():
        VitalSigns.objects.filter(pk=vs.pk).delete()
    assert VitalSigns.objects.filter(pk=vs.pk).exists()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE labs_vitalsignsevent SET heart_rate = 1",
        "DELETE FROM labs_vitalsignsevent",
        "TRUNCATE labs_vitalsignsevent",
    ],
)
def test_history_tables_refuse_changes(setup, coordinator, statement):
    vs = vital_signs(coordinator, setup)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute(statement)
    assert _events([vs.pk]).count() == 1


def _trigger_names(table: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [table])
        return [r[0] for r in cur.fetchall()]


def test_app_role_cannot_switch_audit_off_with_pgtrigger_ignore(setup, coordinator):
    vs = vital_signs(coordinator, setup)
    with pgtrigger.ignore("labs.VitalSigns:update_update"):
        VitalSigns.objects.filter(pk=vs.pk).update(heart_rate=77)
    assert _events([vs.pk], "update").count() == 1


def test_app_role_cannot_switch_audit_off_with_set_config(setup, coordinator):
    vs = vital_signs(coordinator, setup)
    names = _trigger_names("labs_vitalsigns")
    assert any(n.startswith("pgtrigger_update_update") for n in names)
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(names) + "}"])
        cur.execute("UPDATE labs_vitalsigns SET heart_rate = 66 WHERE id = %s", [vs.pk])
    assert _events([vs.pk], "update").get().heart_rate == 66


def test_app_role_cannot_replace_the_ignore_function(db):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "CREATE OR REPLACE FUNCTION public._pgtrigger_should_ignore(trigger_name NAME) "
            "RETURNS BOOLEAN AS $$ BEGIN RETURN TRUE; END; $$ LANGUAGE plpgsql"
        )


def test_app_role_cannot_disable_triggers(db):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("ALTER TABLE labs_vitalsigns DISABLE TRIGGER ALL")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET session_replication_role = replica")


def test_context_reaches_history_through_nested_contexts(setup, coordinator):
    with pghistory.context(request_id="req-123"):
        vs = vital_signs(coordinator, setup)
    ctx = _events([vs.pk]).get().pgh_context
    assert ctx["request_id"] == "req-123"
    assert ctx["username"] == "coordinator_a"


def test_ignore_switch_is_honoured_only_for_the_owner(db, db_owner):
    """The guard discriminates: the same call says "ignore" for the owner, never for the app."""
    import psycopg2

    with connection.cursor() as cur:
        cur.execute("SELECT set_config('pgtrigger.ignore', '{some_trigger}', true)")
        cur.execute("SELECT public._pgtrigger_should_ignore('some_trigger')")
        assert cur.fetchone()[0] is False
    params = dict(connection.get_connection_params())
    params["user"], params["password"] = db_owner
    owner = psycopg2.connect(**{k: v for k, v in params.items() if k not in ("cursor_factory", "context")})
    try:
        with owner.cursor() as cur:
            cur.execute("SELECT set_config('pgtrigger.ignore', '{some_trigger}', true)")
            cur.execute("SELECT public._pgtrigger_should_ignore('some_trigger')")
            assert cur.fetchone()[0] is True
    finally:
        owner.close()
