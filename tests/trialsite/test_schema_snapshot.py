"""The committed schema snapshot (trialsite/testdb.py) is the migrated database, nothing else.

`make test` on a fresh clone restores the template database from
`trialsite/schema_snapshots/migrated-<hash>.sql.gz` instead of migrating for minutes (issue 20).
That is only honest while a restored snapshot and a migrated database are the same: this test
builds both through `python -m trialsite.testdb`, the path `make test` takes (one with the
snapshot switched off), and compares their dumps. The fast tier checks what can be checked
without migrating: the snapshot for the current migrations exists and restores to a schema with
the audit triggers in place."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from crf.dbroles import app_role
from tests.conftest import PROJECT_DIR, subprocess_env
from trialsite import testdb


def _url_for(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


def _build_template(base: str, *, snapshot: bool) -> str:
    env = subprocess_env(
        DATABASE_URL=_url_for(base),
        DJANGO_SETTINGS_MODULE="trialsite.settings",
        TRIALSITE_SCHEMA_SNAPSHOT="1" if snapshot else "0",
    )
    command = [sys.executable, "-m", "trialsite.testdb"]
    done = subprocess.run(command, env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return f"{base}_tpl_{testdb.schema_hash()}"


def _drop(*names: str) -> None:
    with connection._nodb_cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)")


def test_the_snapshot_for_these_migrations_is_committed():
    path = testdb.snapshot_path()
    assert path.exists(), f"{path.name} is missing: run `make schema-snapshot` after changing migrations"
    assert [p.name for p in path.parent.glob("migrated-*.sql.gz")] == [path.name]  # no stale one beside it
    sql = gzip.decompress(path.read_bytes()).decode()
    assert "CREATE TRIGGER" in sql and "INSERT INTO public.django_migrations" in sql
    assert f"TO {app_role()};" not in sql  # the role's grants come from dbroles, per deployment
    assert "\n\\" not in sql  # no psql meta-command: it is executed through psycopg2


@pytest.mark.django_db
def test_this_run_restored_its_database_with_the_audit_triggers_on():
    """Whichever way this run's database was made, it has what the audit relies on."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'trialsite_append_only%'")
        assert cursor.fetchone()[0] > 100
        cursor.execute("SELECT app, name FROM django_migrations")
        applied = set(cursor.fetchall())
    on_disk = {
        (path.parent.parent.name, path.stem)
        for path in PROJECT_DIR.glob("*/migrations/0*.py")
        if path.parent.parent.name not in ("tests",)
    }
    assert len(on_disk) > 50
    assert on_disk <= applied, sorted(on_disk - applied)[:5]


INSTANT = re.compile(r"'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00'")


def _comparable(dump: str) -> str:
    """A dump with the casts and parentheses of `IN (…)` lists left out: PostgreSQL prints an
    `IN (…)` list back with casts placed by its version (`ANY ((ARRAY['a'::varchar])::text[])`
    vs `ANY (ARRAY[('a'::varchar)::text])`), so a snapshot dumped by one major version and restored
    into another reads differently while meaning the same. Names, values and everything else
    still have to match exactly. So do the rows, but for the instants they were written
    (`django_migrations.applied`)."""
    lines = []
    for line in dump.splitlines():
        line = INSTANT.sub("'<instant>'", line)
        if "= ANY (" in line:  # IN lists of CHECK constraints and partial indexes
            for cast in ("::character varying", "::text[]", "::text"):
                line = line.replace(cast, "")
            line = line.replace("(", "").replace(")", "").replace(" ", "")
        lines.append(line)
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # migrating takes minutes (2 min 43 s quiet)
@pytest.mark.django_db
def test_a_restored_snapshot_dumps_exactly_as_the_migrated_database(db_owner):
    role = app_role()
    bases = ("trialsite_snapcheck_migrated", "trialsite_snapcheck_restored")
    templates = [f"{base}_tpl_{testdb.schema_hash()}" for base in bases]
    app = connection.settings_dict["USER"], connection.settings_dict.get("PASSWORD", "")
    connection.settings_dict["USER"], connection.settings_dict["PASSWORD"] = db_owner  # creates, dumps, drops
    try:
        _drop(*templates)  # built here, not left over from an earlier run
        migrated = _build_template(bases[0], snapshot=False)
        restored = _build_template(bases[1], snapshot=True)
        from_snapshot = testdb.dump_schema(connection, restored, role=role)
        from_migrations = testdb.dump_schema(connection, migrated, role=role)
        assert len(from_migrations) > 500_000
        assert _comparable(from_snapshot) == _comparable(from_migrations)
    finally:
        _drop(*templates)
        connection.settings_dict["USER"], connection.settings_dict["PASSWORD"] = app
