"""Backup and restore (issue 20 §5): a small study with audit history is backed up with
`manage.py backup`, restored with `manage.py restore` into a fresh empty database on the same
server, and comes back with every row of every table and the same latest audit event per event
table; its triggers still write history and the application role's privileges are back
(reads and writes data, cannot rewrite history)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from crf.dbroles import history_tables
from dbtools import pgtools
from tests.factories import protocol_v1, vital_signs
from trialsite.backup import row_counts

pytestmark = [
    pytest.mark.req("ISSUE-20"),
    pytest.mark.timeout(300),
    pytest.mark.slow,
]  # long proofs: dump and restore whole databases (second tier)


def latest_events(cursor, tables: list[str]) -> dict[str, tuple | None]:
    found = {}
    for table in tables:
        cursor.execute(f'SELECT pgh_id, pgh_label, pgh_obj_id::text FROM "{table}" ORDER BY pgh_id DESC LIMIT 1')
        found[table] = cursor.fetchone()
    return found


@pytest.fixture
def scratch_database(transactional_db):
    """An empty database on the test server, dropped afterwards. Ask for it FIRST: the
    transactional reset must run as the owner (conftest.py)."""
    name = f"{connection.settings_dict['NAME']}_restore"[:63]
    quote = connection.ops.quote_name
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)}")
        cursor.execute(f"CREATE DATABASE {quote(name)}")
    yield name
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")


def connect(name: str, *, user: str | None = None, password: str = ""):
    env = pgtools.libpq_env(connection.settings_dict, dbname=name)
    conn = psycopg2.connect(
        host=env.get("PGHOST"),
        port=env.get("PGPORT"),
        user=user or env.get("PGUSER"),
        password=password or (env.get("PGPASSWORD", "") if user is None else ""),
        dbname=name,
    )
    conn.autocommit = True
    return conn


def test_backup_then_restore_loses_nothing_and_triggers_still_write_history(
    scratch_database, study, users_a, subject_a, db_app_role, tmp_path
):
    protocol_v1(study)
    coordinator = users_a["coordinator"]
    form = vital_signs(coordinator, subject_a, heart_rate=88)
    vital_signs(coordinator, subject_a, heart_rate=72, assessment_date=date(2026, 3, 3))
    form.refresh_from_db()

    out = io.StringIO()
    call_command("backup", "--dir", str(tmp_path), stdout=out)
    dumps = list(tmp_path.glob("*.dump"))
    assert len(dumps) == 1
    dump = dumps[0]
    manifest = json.loads((tmp_path / f"{dump.name}.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert (tmp_path / f"{dump.name}.sha256").read_text() == f"{manifest['sha256']}  {dump.name}\n"
    assert f"{manifest['sha256']}  {dump}" in out.getvalue()

    events = history_tables()
    with connection.cursor() as cursor:
        source_rows = row_counts(cursor, connection.ops.quote_name)
        source_latest = latest_events(cursor, events)
    assert manifest["rows"] == source_rows
    assert source_rows["labs_vitalsigns"] == 2
    assert source_rows["labs_vitalsignsevent"] >= 2
    assert source_rows["study_user"] == len(users_a)

    call_command("restore", str(dump), "--dbname", scratch_database, stdout=io.StringIO())

    restored = connect(scratch_database)
    try:
        with restored.cursor() as cursor:
            assert row_counts(cursor, connection.ops.quote_name) == source_rows
            assert latest_events(cursor, events) == source_latest
            # the history trigger still fires: one update, one more event row
            cursor.execute("UPDATE labs_vitalsigns SET heart_rate = 90 WHERE id = %s", [form.pk])
            cursor.execute(
                "SELECT count(*), max(heart_rate) FILTER "
                "(WHERE pgh_id = (SELECT max(pgh_id) FROM labs_vitalsignsevent)) FROM labs_vitalsignsevent"
            )
            assert cursor.fetchone() == (source_rows["labs_vitalsignsevent"] + 1, 90)
    finally:
        restored.close()

    app = connect(scratch_database, user=db_app_role)
    try:
        with app.cursor() as cursor:
            cursor.execute("SELECT temperature_c FROM labs_vitalsigns WHERE id = %s", [form.pk])
            assert cursor.fetchone() == (Decimal("37.0"),)
            cursor.execute("UPDATE labs_vitalsigns SET heart_rate = 91 WHERE id = %s", [form.pk])
            with pytest.raises(psycopg2.Error) as refused:
                cursor.execute("DELETE FROM labs_vitalsignsevent")
            assert refused.value.pgcode == "42501"  # insufficient_privilege
    finally:
        app.close()


def test_restore_refuses_a_database_with_tables_and_a_changed_dump(scratch_database, users_a, tmp_path):
    call_command("backup", "--dir", str(tmp_path), stdout=io.StringIO())
    dump = next(tmp_path.glob("*.dump"))
    with pytest.raises(CommandError, match="restore needs an empty one"):
        call_command("restore", str(dump), stdout=io.StringIO())  # the live test database
    with dump.open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(CommandError, match="differs from the manifest"):
        call_command("restore", str(dump), "--dbname", scratch_database, stdout=io.StringIO())


def test_the_manifest_carries_the_audit_chain_heads_and_verify_audit_passes_after_restore(
    scratch_database, study, users_a, subject_a, tmp_path, settings
):
    """Issue 21: the backup manifest is a copy of the audit chain heads outside the database;
    a restore checks the restored chains against it and makes them the reference of the
    restored database's heads log, so `verify_audit` on the restored database walks intact
    chains and agrees with the log."""
    from crf import auditchain

    settings.AUDIT_HEADS_DIR = tmp_path / "audit-heads"
    protocol_v1(study)
    vital_signs(users_a["coordinator"], subject_a, heart_rate=88)
    call_command("verify_audit", stdout=io.StringIO())  # the source's own log, before the backup
    call_command("backup", "--dir", str(tmp_path), stdout=io.StringIO())
    dump = next(tmp_path.glob("*.dump"))
    manifest = json.loads((tmp_path / f"{dump.name}.manifest.json").read_text())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, hash FROM crf_auditchainlink WHERE table_name = 'labs_vitalsignsevent' "
            "ORDER BY seq DESC LIMIT 1"
        )
        seq, digest = cursor.fetchone()
    assert manifest["audit_heads"]["labs_vitalsignsevent"] == [seq, digest]

    call_command("restore", str(dump), "--dbname", scratch_database, stdout=io.StringIO())
    log = auditchain.heads_log(scratch_database)
    line = json.loads(log.read_text().splitlines()[-1])
    assert (line["heads"], line["restored_from"], line["ok"]) == (manifest["audit_heads"], dump.name, True)

    # the server this run uses, named as DATABASE_URL names it (a host and port, or the embedded
    # server's socket directory in `?host=`), with the restored database
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(os.environ["DATABASE_URL"])
    url = urlunsplit(parts._replace(path=f"/{scratch_database}"))
    done = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        env={**os.environ, "DATABASE_URL": url, "AUDIT_HEADS_DIR": str(settings.AUDIT_HEADS_DIR), "DJANGO_DEBUG": "1"},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "audit chains intact"
    last = json.loads(log.read_text().splitlines()[-1])
    assert (last["ok"], last["heads"], last["breaks"]) == (True, manifest["audit_heads"], [])


def test_restore_refuses_chains_that_differ_from_the_manifest_heads(
    scratch_database, study, users_a, subject_a, tmp_path, settings
):
    settings.AUDIT_HEADS_DIR = tmp_path / "audit-heads"
    protocol_v1(study)
    vital_signs(users_a["coordinator"], subject_a)
    call_command("backup", "--dir", str(tmp_path), stdout=io.StringIO())
    dump = next(tmp_path.glob("*.dump"))
    path = tmp_path / f"{dump.name}.manifest.json"
    manifest = json.loads(path.read_text())
    manifest["audit_heads"]["labs_vitalsignsevent"][1] = "0" * 64
    path.write_text(json.dumps(manifest))
    with pytest.raises(
        CommandError, match="restored audit chain heads differ from the manifest in: labs_vitalsignsevent"
    ):
        call_command("restore", str(dump), "--dbname", scratch_database, stdout=io.StringIO())
    assert not auditchain_log_exists(settings, scratch_database)


def auditchain_log_exists(settings, database: str) -> bool:
    return (settings.AUDIT_HEADS_DIR / f"{database}.jsonl").exists()
