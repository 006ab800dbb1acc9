"""Tamper evidence (issue 21): every event row is linked into a per-table SHA-256 chain written by
the owner's trigger; `verify_audit` finds a changed, removed or unlinked row, and a chain the owner
recomputed, by comparing with the heads it recorded outside the database."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from crf import auditchain
from crf.audit_integrity import send_break_alert, verify_and_alert
from crf.models import AuditChainLink, AuditVerification, OutboxMessage
from labs.models import VitalSignsEvent
from labs.services import record_vital_signs
from tests.factories import identity, protocol_v1, vital_signs

pytestmark = pytest.mark.req("ISSUE-21")


@pytest.fixture(autouse=True)
def heads_dir(settings, tmp_path):
    settings.AUDIT_HEADS_DIR = tmp_path / "audit-heads"
    return settings.AUDIT_HEADS_DIR


@pytest.fixture
def coordinator(users_a):
    return users_a["coordinator"]


@pytest.fixture
def setup(study, subject_a):
    protocol_v1(study)
    identity(subject_a)
    return subject_a


def _links(table="labs_vitalsignsevent"):
    return list(AuditChainLink.objects.filter(table_name=table).order_by("seq"))


def test_each_event_is_linked_to_the_previous_one(setup, coordinator):
    vs = vital_signs(coordinator, setup)
    vs.temperature_c = Decimal("38.1")
    record_vital_signs(user=coordinator, vital_signs=vs, expected_version=1, reason="transcription error")
    events = list(VitalSignsEvent.objects.filter(pgh_obj_id=vs.pk).order_by("pgh_id"))
    links = _links()[-2:]
    assert [link.event_id for link in links] == [e.pgh_id for e in events]
    assert links[1].seq == links[0].seq + 1
    assert links[1].prev_hash == links[0].hash
    assert len(links[1].hash) == 64
    assert "heart_rate" in links[1].columns and "pgh_context" in links[1].columns
    result = auditchain.verify(tables=["labs_vitalsignsevent"])
    assert result.ok, result.breaks


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO crf_auditchainlink (table_name, seq, event_id, prev_hash, hash, columns, linked_at) "
        "VALUES ('labs_vitalsignsevent', 999999, 1, '', 'x', '{}', now())",
        "UPDATE crf_auditchainlink SET hash = 'x'",
        "DELETE FROM crf_auditchainlink",
        "TRUNCATE crf_auditchainlink",
        "SELECT public.trialsite_audit_chain_link('labs_vitalsignsevent', 1, '{}'::jsonb)",
        "SELECT public.trialsite_audit_chain_seal('labs_vitalsignsevent')",
    ],
)
def test_app_role_cannot_write_the_chain(setup, coordinator, statement):
    vital_signs(coordinator, setup)
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(statement)


def test_verify_audit_command_records_heads_outside_the_database(setup, coordinator, heads_dir):
    vital_signs(coordinator, setup)
    call_command("verify_audit")
    log = heads_dir / f"{connection.settings_dict['NAME']}.jsonl"
    line = json.loads(log.read_text().splitlines()[-1])
    head = _links()[-1]
    assert line["ok"] is True
    assert line["heads"]["labs_vitalsignsevent"] == [head.seq, head.hash]
    verification = AuditVerification.objects.order_by("-pk").first()
    assert verification.ok is True
    assert verification.tables > 50


@pytest.fixture
def owner_cursor(db_owner):
    import psycopg2

    params = dict(connection.get_connection_params())
    params["user"], params["password"] = db_owner
    conn = psycopg2.connect(**{k: v for k, v in params.items() if k not in ("cursor_factory", "context")})
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


RECOMPUTE_CHAIN = """
DO $$
DECLARE r RECORD; prev TEXT := ''; h TEXT;
BEGIN
  SET LOCAL TimeZone = 'UTC';
  FOR r IN SELECT l.seq, (SELECT jsonb_object_agg(j.key, j.value) FROM jsonb_each(to_jsonb(e)) j
                           WHERE j.key = ANY(l.columns))::text AS content
             FROM crf_auditchainlink l JOIN labs_vitalsignsevent e ON e.pgh_id = l.event_id
            WHERE l.table_name = 'labs_vitalsignsevent' ORDER BY l.seq LOOP
    h := encode(sha256(convert_to('labs_vitalsignsevent' || '|' || prev || '|' || r.content, 'UTF8')), 'hex');
    UPDATE crf_auditchainlink SET prev_hash = prev, hash = h
     WHERE table_name = 'labs_vitalsignsevent' AND seq = r.seq;
    prev := h;
  END LOOP;
END $$;
"""


def test_owner_changing_history_is_found_even_after_recomputing_the_chain(
    transactional_db, study, subject_a, users_a, owner_cursor, heads_dir
):
    """Runs as the owner (a transactional test) because only the owner can touch history."""
    protocol_v1(study)
    identity(subject_a)
    vs = vital_signs(users_a["coordinator"], subject_a)
    vital_signs(users_a["coordinator"], subject_a, heart_rate=64, assessment_date=vs.assessment_date.replace(day=3))
    assert verify_and_alert().ok
    event = VitalSignsEvent.objects.filter(pgh_obj_id=vs.pk).get()

    owner_cursor.execute("UPDATE labs_vitalsignsevent SET heart_rate = 55 WHERE pgh_id = %s", [event.pgh_id])
    result = auditchain.verify(tables=["labs_vitalsignsevent"], record=False)
    seq = AuditChainLink.objects.get(table_name="labs_vitalsignsevent", event_id=event.pgh_id).seq
    assert result.first_break == f"labs_vitalsignsevent link {seq} (event {event.pgh_id}): event row changed"

    owner_cursor.execute(RECOMPUTE_CHAIN)
    result = auditchain.verify(tables=["labs_vitalsignsevent"], record=False)
    assert not result.ok
    assert result.breaks == [
        f"labs_vitalsignsevent link {seq + 1}: differs from the head recorded outside the database (chain rewritten)"
    ]


def test_removed_and_unlinked_events_are_found(transactional_db, study, subject_a, users_a, owner_cursor):
    protocol_v1(study)
    identity(subject_a)
    vs = vital_signs(users_a["coordinator"], subject_a)
    event = VitalSignsEvent.objects.get(pgh_obj_id=vs.pk)
    owner_cursor.execute("ALTER TABLE labs_vitalsignsevent DISABLE TRIGGER trialsite_audit_chain")
    try:
        owner_cursor.execute("UPDATE labs_vitalsigns SET heart_rate = 90 WHERE id = %s", [vs.pk])
    finally:
        owner_cursor.execute("ALTER TABLE labs_vitalsignsevent ENABLE TRIGGER trialsite_audit_chain")
    update = VitalSignsEvent.objects.get(pgh_obj_id=vs.pk, pgh_label="update")
    result = auditchain.verify(tables=["labs_vitalsignsevent"], record=False)
    assert result.breaks == [
        f"labs_vitalsignsevent event {update.pgh_id}: not in the chain (written with the triggers off)"
    ]

    owner_cursor.execute("DELETE FROM labs_vitalsignsevent WHERE pgh_id = %s", [event.pgh_id])
    result = auditchain.verify(tables=["labs_vitalsignsevent"], record=False)
    seq = AuditChainLink.objects.get(table_name="labs_vitalsignsevent", event_id=event.pgh_id).seq
    assert result.breaks == [f"labs_vitalsignsevent link {seq} (event {event.pgh_id}): event row removed"]


def test_a_break_queues_an_alert_and_the_alert_mails_study_admins(setup, coordinator, users_a, heads_dir):
    vital_signs(coordinator, setup)
    heads_dir.mkdir(parents=True)
    log = heads_dir / f"{connection.settings_dict['NAME']}.jsonl"
    log.write_text(json.dumps({"heads": {"labs_vitalsignsevent": [1, "0" * 64]}}) + "\n")
    before = OutboxMessage.objects.filter(task_name="crf.tasks.audit_break_alert").count()
    result = verify_and_alert()
    assert not result.ok
    message = OutboxMessage.objects.filter(task_name="crf.tasks.audit_break_alert").latest("pk")
    assert OutboxMessage.objects.filter(task_name="crf.tasks.audit_break_alert").count() == before + 1
    assert send_break_alert(**message.kwargs) == 1
    assert mail.outbox[-1].to == ["study_admin_a@example.org"]
    assert "labs_vitalsignsevent link 1" in mail.outbox[-1].body


def test_nightly_beat_runs_verify_audit():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "crf.tasks.verify_audit" in tasks


def test_health_shows_the_last_verification(setup, coordinator, client):
    vital_signs(coordinator, setup)
    verify_and_alert()
    body = client.get("/health/").json()
    assert body["audit_chain"]["ok"] is True
    assert body["audit_chain"]["links"] >= 1
    assert body["audit_chain"]["first_break"] == ""


def test_verify_audit_command_fails_on_a_break(setup, coordinator, heads_dir):
    vital_signs(coordinator, setup)
    heads_dir.mkdir(parents=True)
    log = heads_dir / f"{connection.settings_dict['NAME']}.jsonl"
    log.write_text(json.dumps({"heads": {"labs_vitalsignsevent": [10**9, "0" * 64]}}) + "\n")
    with pytest.raises(CommandError, match="recorded head missing"):
        call_command("verify_audit")


def test_a_break_found_by_the_nightly_task_raises_one_in_app_alert_for_study_admins(
    setup, coordinator, users_a, heads_dir, login, client
):
    """Beside the e-mail, the break is a safety-style alert in the app: one `SafetyAlert` per
    break (the nightly task finding the same break again raises nothing new), a notification
    for each active study admin, shown on their notifications page and not to other roles."""
    from adverse_events.models import AlertKind, Notification, SafetyAlert
    from crf.tasks import verify_audit

    vital_signs(coordinator, setup)
    heads_dir.mkdir(parents=True)
    log = heads_dir / f"{connection.settings_dict['NAME']}.jsonl"
    log.write_text(json.dumps({"heads": {"labs_vitalsignsevent": [1, "0" * 64]}}) + "\n")

    assert verify_audit() is False
    alerts = SafetyAlert.objects.filter(kind=AlertKind.AUDIT_BREAK)
    assert alerts.count() == 1
    alert = alerts.get()
    assert alert.subject_id is None and alert.site_id is None
    detail = "labs_vitalsignsevent link 1: differs from the head recorded outside the database (chain rewritten)"
    assert alert.summary == f"Audit trail integrity check failed: {detail}"
    admin = users_a["study_admin"]
    assert list(Notification.objects.filter(alert=alert).values_list("user__username", flat=True)) == ["study_admin_a"]

    assert verify_audit() is False  # the next night finds the same break: no second alert
    assert SafetyAlert.objects.filter(kind=AlertKind.AUDIT_BREAK).count() == 1

    page = login(admin)
    body = page.get("/data/notifications/").content.decode()
    assert "<td>Audit trail integrity</td>" in body  # the kind, then the summary (one notifications list)
    assert f"Audit trail integrity check failed: {detail}" in " ".join(body.split())
    admin.language = "zh-hans"
    admin.save(update_fields=["language"])
    body = page.get("/data/notifications/").content.decode()
    assert "<td>稽查轨迹完整性</td>" in body
    assert f"稽查轨迹完整性校验失败：{detail}" in " ".join(body.split())

    client.logout()
    other = login(coordinator)
    assert "Audit trail integrity" not in other.get("/data/notifications/").content.decode()
