"""Backup and restore (issue 20 §5): a small study with audit history is backed up with
`manage.py backup`, restored with `manage.py restore` into a fresh empty database on the same
server, and comes back with every row of every table and the same latest audit event per event
table; its triggers still write history and the application role's privileges are back
(reads and writes data, cannot rewrite history)."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date
from decimal import Decimal

import psycopg2
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tests.factories import protocol_v1, vital_signs
from trialsite import pgtools
from trialsite.backup import row_counts
from trialsite.dbroles import history_tables

pytestmark = [pytest.mark.req("ISSUE-20"), pytest.mark.timeout(240)]


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
