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
