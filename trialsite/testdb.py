"""A migrated template database for the test suite, reused while the migrations are unchanged.

Creating and migrating the test database costs minutes (about 4 on a loaded 2-core machine);
`CREATE DATABASE … TEMPLATE` copies a migrated one in about a second. The template is named
`<database>_tpl_<hash>`, the hash taken over every file that decides the migrated schema and its
grants (this project's migrations, the roles, audit-chain and audit-index modules the post-migrate hooks run,
the pinned requirements that bring the third-party migrations). Not this file: it decides how the
template is made, not what it holds (the slow tier proves both ways give the same database). A
run whose template is missing migrates the test database as before, then copies it as the
template for the next runs and drops older templates. Parallel
runs (pytest-xdist workers) take a PostgreSQL advisory lock, so one builds and the others copy.

On a fresh clone there is no template yet, and migrating takes minutes (94% of it Django
re-rendering model state between operations). The repository therefore carries a **schema
snapshot** for the current hash (`trialsite/schema_snapshots/migrated-<hash>.sql.gz`): the
migrated test database as `pg_dump` wrote it (schema, triggers, the rows the migrations insert),
without the application role's grants, which `prepare` gives as after a migration. When it exists
the template is restored from it in seconds; when it is missing, stale or does not load, the
database is migrated as before. `python -m trialsite.testdb --snapshot` (`make schema-snapshot`)
writes it after a change of migrations; `make lint` fails while it is missing, and the slow tier
proves that a restored snapshot and a migrated database dump identically
(tests/trialsite/test_schema_snapshot.py).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from django.db.backends.base.base import BaseDatabaseWrapper

BASE_DIR = Path(__file__).resolve().parent.parent
SCHEMA_GLOBS = (
    "*/migrations/*.py",
    "crf/dbroles.py",
    "crf/auditchain.py",
    "crf/apps.py",
    "datamanagement/audit_index.py",
    "datamanagement/apps.py",
    "requirements.txt",
)


def schema_hash(base: Path = BASE_DIR) -> str:
    digest = hashlib.sha256()
    files = sorted({p for pattern in SCHEMA_GLOBS for p in base.glob(pattern) if p.is_file()})
    for path in files:
        digest.update(str(path.relative_to(base)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


SNAPSHOT_DIR = BASE_DIR / "trialsite" / "schema_snapshots"


def snapshot_path(base: Path = BASE_DIR) -> Path:
    return base / "trialsite" / "schema_snapshots" / f"migrated-{schema_hash(base)}.sql.gz"


def dump_schema(connection: BaseDatabaseWrapper, dbname: str, *, role: str) -> str:
    """`pg_dump` of database `dbname` as plain SQL that psycopg2 can execute: psql's
    meta-commands (`\\restrict`) left out, and so are the grants to the application role `role`
    (its name is a deployment setting; `dbroles.grant_app_role` gives them)."""
    from dbtools import pgtools

    done = pgtools.run(
        "pg_dump",
        "--no-owner",
        "--inserts",
        "--rows-per-insert=500",
        connection=connection,
        dbname=dbname,
        capture_output=True,
        text=True,
    )
    grant = re.compile(rf"^(GRANT|REVOKE) .* (TO|FROM) {re.escape(role)};$")
    lines = done.stdout.splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith("\\") and not grant.match(line.rstrip("\n"))]
    # The header names the pg_dump and server versions: the same schema dumps alike on any of them.
    return "".join(line for line in kept if not line.startswith("-- Dumped "))


def write_snapshot(connection: BaseDatabaseWrapper, dbname: str, *, role: str, base: Path = BASE_DIR) -> Path:
    """Write the snapshot of the migrated database `dbname` for the current hash; drop older ones."""
    path = snapshot_path(base)
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob("migrated-*.sql.gz"):
        if old != path:
            old.unlink()
    data = dump_schema(connection, dbname, role=role).encode()
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as out:
        out.write(data)
    return path


def _restore_snapshot(connection: BaseDatabaseWrapper, cursor, test_name: str) -> list | None:  # type: ignore[no-untyped-def]
    """Create `test_name` from the schema snapshot and point `connection` at it; returns Django's
    teardown config, or None (nothing left behind) when there is no snapshot or it does not load."""
    import os

    from django.conf import settings
    from django.db import DatabaseError

    path = snapshot_path()
    if os.environ.get("TRIALSITE_SCHEMA_SNAPSHOT", "1") == "0" or not path.exists():
        return None
    quote = connection.ops.quote_name
    cursor.execute(f"DROP DATABASE IF EXISTS {quote(test_name)} WITH (FORCE)")
    cursor.execute(f"CREATE DATABASE {quote(test_name)}")
    old_name = connection.settings_dict["NAME"]
    connection.close()
    settings.DATABASES[connection.alias]["NAME"] = test_name
    connection.settings_dict["NAME"] = test_name
    try:
        with connection.cursor() as restore:
            restore.execute(gzip.decompress(path.read_bytes()).decode())
    except DatabaseError as exc:
        print(f"The schema snapshot {path.name} did not load ({exc}); migrating instead.", flush=True)
        connection.close()
        settings.DATABASES[connection.alias]["NAME"] = old_name
        connection.settings_dict["NAME"] = old_name
        cursor.execute(f"DROP DATABASE IF EXISTS {quote(test_name)} WITH (FORCE)")
        return None
    connection.close()
    return [(connection, old_name, True)]


def template_name(connection: BaseDatabaseWrapper) -> str:
    base = str(connection.settings_dict["NAME"])[:40]
    return f"{base}_tpl_{schema_hash()}"


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    return cursor.fetchone() is not None


def setup(connection: BaseDatabaseWrapper, *, build: Callable[[], object], prepare: Callable[[], None]) -> object:
    """Point `connection` at a fresh test database copied from the template, building the
    template first when it is missing (`build` migrates the test database as Django does and
    returns its teardown config; `prepare` runs after it, e.g. granting roles, before the copy).
    Returns Django's teardown config: `[(connection, old_name, True)]` for a copy."""
    from django.conf import settings

    template = template_name(connection)
    test_name = connection.creation._get_test_db_name()
    quote = connection.ops.quote_name
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [_lock_key(template)])
        try:
            if not _exists(cursor, template):
                config = _restore_snapshot(connection, cursor, test_name) or build()
                prepare()
                connection.close()
                cursor.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s",
                    [template.rsplit("_tpl_", 1)[0] + r"\_tpl\_%", template],
                )
                for (old,) in cursor.fetchall():
                    cursor.execute(f"DROP DATABASE IF EXISTS {quote(old)}")
                cursor.execute(f"CREATE DATABASE {quote(template)} TEMPLATE {quote(test_name)}")
                return config
            # FORCE: a connection an interrupted run left behind must not block the new copy
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(test_name)} WITH (FORCE)")
            cursor.execute(f"CREATE DATABASE {quote(test_name)} TEMPLATE {quote(template)}")
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(template)])
    old_name = connection.settings_dict["NAME"]
    connection.close()
    settings.DATABASES[connection.alias]["NAME"] = test_name
    connection.settings_dict["NAME"] = test_name
    prepare()
    return [(connection, old_name, True)]


def prepare_template(verbosity: int = 1) -> str:
    """Build the template now unless it exists (`make test` does this before pytest starts, so
    the first run's migration is not charged to the first test's timeout). Returns its name."""
    import os

    from django.db import connections

    from crf.dbroles import ensure_app_role

    connection = connections["default"]
    template = template_name(connection)
    with connection._nodb_cursor() as cursor:
        if _exists(cursor, template):
            # Nothing to do: copying it now would only be dropped again by pytest's own copy.
            return template

    def build() -> object:
        if verbosity:
            print(f"Building the migrated template database {template} (first run: a few minutes)…", flush=True)
        return connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)

    def prepare() -> None:
        ensure_app_role(connection, os.environ.get("DB_APP_PASSWORD") or None)

    setup(connection, build=build, prepare=prepare)
    connection.close()
    return template


def main(argv: list[str]) -> int:
    """`python -m trialsite.testdb`: build the template if missing. With `--snapshot`: build it by
    migrating (never from a snapshot) and write the snapshot for the current hash."""
    import os

    import django

    if "--snapshot" in argv:
        os.environ["TRIALSITE_SCHEMA_SNAPSHOT"] = "0"
    django.setup()
    from django.db import connections

    from crf.dbroles import app_role

    connection = connections["default"]
    if "--snapshot" in argv:
        stale = connection.ops.quote_name(template_name(connection))
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {stale} WITH (FORCE)")
    template = prepare_template()
    if "--snapshot" in argv:
        path = write_snapshot(connection, template, role=app_role())
        print(f"Wrote {path.relative_to(BASE_DIR)} ({path.stat().st_size:,} bytes) from {template}.")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
