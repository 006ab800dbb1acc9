"""A migrated template database for the test suite, reused while the migrations are unchanged.

Creating and migrating the test database costs minutes (about 4 on a loaded 2-core machine);
`CREATE DATABASE … TEMPLATE` copies a migrated one in about a second. The template is named
`<database>_tpl_<hash>`, the hash taken over every file that decides the migrated schema and its
grants (this project's migrations, the roles module, the pinned requirements that bring the
third-party migrations, this file). A run whose template is missing migrates the test database
as before, then copies it as the template for the next runs and drops older templates. Parallel
runs (pytest-xdist workers) take a PostgreSQL advisory lock, so one builds and the others copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from django.db.backends.base.base import BaseDatabaseWrapper

BASE_DIR = Path(__file__).resolve().parent.parent
SCHEMA_GLOBS = (
    "*/migrations/*.py",
    "trialsite/dbroles.py",
    "trialsite/testdb.py",
    "crf/apps.py",
    "requirements.txt",
)


def schema_hash(base: Path = BASE_DIR) -> str:
    digest = hashlib.sha256()
    files = sorted({p for pattern in SCHEMA_GLOBS for p in base.glob(pattern) if p.is_file()})
    for path in files:
        digest.update(str(path.relative_to(base)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


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
                config = build()
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

    from trialsite.dbroles import ensure_app_role

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


if __name__ == "__main__":
    import django

    django.setup()
    prepare_template()
