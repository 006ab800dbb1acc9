"""Test database roles (DESIGN §4 "Audit trail"): like production, the suite migrates as the
owner and then runs as the application role, which owns no table and cannot switch the audit
triggers off. Transactional tests reset their tables as the owner (`_reset_only_tables_with_rows`).
Tests that use no database set nothing up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_credentials: dict[str, tuple[str, str]] = {}

#: every test here drives real Chromium (mark `browser`, the second tier)
BROWSER_DIR = Path(__file__).resolve().parent / "tests" / "browser"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects; the order is tests/conftest.py's
def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """The second tier's marks (`make test-slow`): `demo` on every test using the whole demo study
    loaded through the services (the `demo_study` fixtures), `browser` on every test under
    tests/browser whether or not its module says so."""
    for item in items:
        if {"demo_study", "demo_study_committed"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.demo)
        if BROWSER_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


def _reset_only_tables_with_rows() -> None:
    """Django resets the database after each transactional test with `flush`: one TRUNCATE of all
    ~175 tables, ~20 s on a loaded machine (2 s of server CPU) although a test fills a handful.
    With a superuser owner (the embedded server's, the machine's `postgres`) the reset deletes the
    rows of the tables that hold any, with triggers off (no history of the deletion, no foreign-key
    checks: every table with rows is emptied), then `flush` re-creates the content types and
    permissions as before. Without one it truncates every table, as Django does."""
    from django.core.management.commands import flush

    django_sql_flush = flush.sql_flush

    def sql_flush(style, connection, reset_sequences=True, allow_cascade=False):  # type: ignore[no-untyped-def]
        tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if reset_sequences or not tables or not cursor.fetchone()[0]:
                return django_sql_flush(style, connection, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
            quote = connection.ops.quote_name
            cursor.execute(
                " UNION ALL ".join(
                    f"SELECT {i} FROM (SELECT 1 FROM {quote(t)} LIMIT 1) AS t{i}"  # noqa: S608
                    for i, t in enumerate(tables)
                )
            )
            holding = [tables[row[0]] for row in cursor.fetchall()]
        # flush runs these in one transaction: the SET LOCAL ends with it
        return [
            "SET LOCAL session_replication_role = replica",
            *(f"DELETE FROM {quote(t)}" for t in holding),  # noqa: S608
            "SET LOCAL session_replication_role = origin",
        ]

    flush.sql_flush = sql_flush
    _schema_hooks_only_when_the_schema_changed()


#: post_migrate receivers that (re)install schema objects - triggers, trigger functions, grants -
#: rather than rows: (app label, module, receiver, dispatch_uid)
SCHEMA_RECEIVERS = (
    ("pgtrigger", "pgtrigger.apps", "install_on_migrate", None),
    ("pghistory", "pghistory.apps", "install_on_migrate", None),
    ("crf", "crf.apps", "_harden_audit", "trialsite-harden-audit"),
    ("datamanagement", "datamanagement.apps", "_sync_audit_index", "trialsite-audit-index"),
)

#: what those receivers install, as one digest: the public schema's relations with their owners
#: and grants (columns' too), its triggers with their state and function, its functions with
#: their body, owner, SECURITY DEFINER, settings and grants, and the database's and schema's grants
SCHEMA_FINGERPRINT_SQL = """
SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
  SELECT concat_ws(':', 'c', c.oid::regclass::text, c.relkind, c.relowner, c.relacl::text)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
  UNION ALL
  SELECT concat_ws(':', 'a', a.attrelid::regclass::text, a.attname, a.attacl::text)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND a.attacl IS NOT NULL
  UNION ALL
  SELECT concat_ws(':', 't', t.tgrelid::regclass::text, t.tgname, t.tgenabled, t.tgfoid::regprocedure::text,
                   md5(pg_get_triggerdef(t.oid)))
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal
  UNION ALL
  SELECT concat_ws(':', 'f', p.oid::regprocedure::text, md5(p.prosrc), p.proowner, p.prosecdef,
                   p.proconfig::text, p.proacl::text)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
  UNION ALL
  SELECT concat_ws(':', 'd', datacl::text) FROM pg_database WHERE datname = current_database()
  UNION ALL
  SELECT concat_ws(':', 'n', nspacl::text) FROM pg_namespace WHERE nspname = 'public'
  UNION ALL
  SELECT concat_ws(':', 'p', defaclrole, defaclobjtype, defaclacl::text) FROM pg_default_acl
) AS schema_objects(x)
"""

#: per database alias: the fingerprint as the last full post_migrate left the schema
_schema_after_post_migrate: dict[str, str] = {}


def _schema_fingerprint(using: str) -> str:
    from django.db import connections

    with connections[using].cursor() as cursor:
        cursor.execute(SCHEMA_FINGERPRINT_SQL)
        return cursor.fetchone()[0]


def _schema_hooks_only_when_the_schema_changed() -> None:
    """After each transactional test, `flush` empties the tables and sends post_migrate "as if the
    database had been migrated from scratch": the content types and permissions come back (rows
    the flush deleted), and the schema hooks re-install every audit trigger, trigger function,
    grant and the audit-index triggers (~2 s of DDL on a loaded machine, nine tenths of the
    reset). Deleting rows changes none of those, so the schema hooks run only when the schema is
    no longer as the last full post_migrate left it (a test that committed DDL, or the first
    reset of a worker, whose database was copied from the template); otherwise post_migrate
    goes to every other receiver as before."""
    from importlib import import_module

    from django.apps import apps
    from django.core.management.commands import flush
    from django.db.models.signals import post_migrate

    django_emit = flush.emit_post_migrate_signal

    def emit_post_migrate_signal(verbosity, interactive, db, **kwargs):  # type: ignore[no-untyped-def]
        if _schema_after_post_migrate.get(db) != _schema_fingerprint(db):
            django_emit(verbosity, interactive, db, **kwargs)
            _schema_after_post_migrate[db] = _schema_fingerprint(db)
            return
        disconnected = []
        try:
            for label, module, name, uid in SCHEMA_RECEIVERS:
                receiver, sender = getattr(import_module(module), name), apps.get_app_config(label)
                if post_migrate.disconnect(receiver, sender=sender, dispatch_uid=uid):
                    disconnected.append((receiver, sender, uid))
            django_emit(verbosity, interactive, db, **kwargs)
        finally:
            for receiver, sender, uid in disconnected:
                post_migrate.connect(receiver, sender=sender, dispatch_uid=uid)

    flush.emit_post_migrate_signal = emit_post_migrate_signal


def _switch_user(user: str, password: str) -> None:
    from django.db import connections

    for conn in connections.all():
        conn.close()
        conn.settings_dict["USER"] = user
        conn.settings_dict["PASSWORD"] = password


@pytest.fixture(scope="session")
def django_db_setup(  # replaces pytest-django's: same options, plus the migrated template
    request,
    django_test_environment,
    django_db_blocker,
    django_db_keepdb,
    django_db_createdb,
    django_db_modify_db_settings,
):
    """The test database: with `--reuse-db`, pytest-django's kept database; otherwise a copy of a
    migrated template database kept across runs while the migrations are unchanged
    (trialsite.testdb). Then the suite switches to the application role."""
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    from crf.dbroles import ensure_app_role
    from trialsite import testdb

    verbosity = request.config.option.verbose
    connection = connections["default"]
    _reset_only_tables_with_rows()
    app_password = os.environ.get("DB_APP_PASSWORD", "")
    roles: dict[str, str] = {}

    def build():
        return setup_databases(
            verbosity=verbosity, interactive=False, keepdb=False, aliases={"default"}, serialized_aliases=set()
        )

    def prepare() -> None:
        roles["app"] = ensure_app_role(connection, app_password or None)

    with django_db_blocker.unblock():
        if django_db_keepdb and not django_db_createdb:
            db_cfg = setup_databases(
                verbosity=verbosity, interactive=False, keepdb=True, aliases={"default"}, serialized_aliases=set()
            )
            prepare()
        else:
            db_cfg = testdb.setup(connection, build=build, prepare=prepare)
    settings = connection.settings_dict
    owner = (settings["USER"], settings.get("PASSWORD", ""))
    _credentials["owner"] = owner
    _credentials["app"] = (roles["app"], app_password)
    _switch_user(*_credentials["app"])
    yield
    _switch_user(*owner)
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            # A live-server thread or a worker subprocess may still hold a connection: end them,
            # or the DROP of the test database fails the session ("being accessed by other users").
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            connection.close()
            teardown_databases(db_cfg, verbosity=verbosity)


@pytest.fixture(scope="session")
def db_owner(django_db_setup):
    """(user, password) of the database owner."""
    return _credentials["owner"]


@pytest.fixture(scope="session")
def db_app_role(django_db_setup):
    return _credentials["app"][0]


@pytest.fixture
def _as_owner(django_db_setup):
    _switch_user(*_credentials["owner"])
    yield
    _switch_user(*_credentials["app"])


@pytest.fixture
def transactional_db(_as_owner, _django_db_helper):  # overrides pytest-django's
    """A transactional test. It runs as the database owner because the tables are reset after it
    (`_reset_only_tables_with_rows`) in ways the app role may not use on audit history. Open an
    explicit app-role connection where a transactional test must prove a privilege."""
