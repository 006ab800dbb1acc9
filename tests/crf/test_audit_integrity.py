"""Audit integrity against the application's own database role (issue 21, DESIGN §4 "Audit
trail", 21 CFR Part 11 §11.10(e)). Each attack below runs as `trialsite_app`, the role the web
and workers use; the owner connection is only used to grant what an attacker would need to try."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, connection, transaction

from crf.dbroles import FIXED_SEARCH_PATH, history_tables
from labs.models import VitalSigns, VitalSignsEvent
from tests.factories import identity, protocol_v1, vital_signs

pytestmark = pytest.mark.req("ISSUE-21")


@pytest.fixture
def coordinator(users_a):
    return users_a["coordinator"]


@pytest.fixture
def setup(study, subject_a):
    protocol_v1(study)
    identity(subject_a)
    return subject_a


@contextmanager
def _owner(db_owner):
    import psycopg2

    params = dict(connection.get_connection_params())
    params["user"], params["password"] = db_owner
    conn = psycopg2.connect(**{k: v for k, v in params.items() if k not in ("cursor_factory", "context")})
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def temporary_granted(django_db_setup, db_owner, db_app_role):
    """Give the app role TEMPORARY for one test, to show the triggers resist a shadow table even if
    the privilege came back. Requested before `db`, so the grant precedes the test transaction."""
    name = connection.settings_dict["NAME"]
    with _owner(db_owner) as owner, owner.cursor() as cur:
        cur.execute(f"GRANT TEMPORARY ON DATABASE {name} TO {db_app_role}")
        try:
            yield
        finally:
            cur.execute(f"REVOKE TEMPORARY ON DATABASE {name} FROM {db_app_role}")


def test_every_trigger_function_runs_as_table_owner_with_a_fixed_search_path(db):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT p.proname, p.prosecdef, p.proconfig, pg_get_userbyid(p.proowner), "
            "pg_get_userbyid(c.relowner), p.prosrc "
            "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace"
        )
        rows = cur.fetchall()
    assert len({r[0] for r in rows}) > 150  # pghistory insert/update/delete + guards, all apps
    for name, secdef, config, function_owner, table_owner, source in rows:
        assert secdef is True, name
        assert f"search_path={FIXED_SEARCH_PATH}" in config, name
        assert function_owner == table_owner, name
        targets = re.findall(r"INSERT INTO\s+(\S+)", source)
        assert all(t.startswith(('"public".', "public.")) for t in targets), (name, targets)  # schema-qualified


def test_the_ignore_switch_has_a_fixed_search_path(db):
    with connection.cursor() as cur:
        cur.execute("SELECT proconfig FROM pg_proc WHERE proname = '_pgtrigger_should_ignore'")
        assert cur.fetchone()[0] == [f"search_path={FIXED_SEARCH_PATH}"]


def test_app_role_cannot_create_temporary_tables(db):
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE labs_vitalsignsevent (LIKE public.labs_vitalsignsevent)")


def test_public_has_no_temporary_privilege(db):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_database, aclexplode(datacl) a "
            "WHERE datname = current_database() AND a.grantee = 0 AND a.privilege_type = 'TEMPORARY'"
        )
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT datacl IS NULL FROM pg_database WHERE datname = current_database()")
        assert cur.fetchone()[0] is False  # NULL would mean the default ACL, which grants TEMP to PUBLIC


def test_a_temporary_event_table_does_not_capture_history(temporary_granted, setup, coordinator):
    vs = vital_signs(coordinator, setup)
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE labs_vitalsignsevent (LIKE public.labs_vitalsignsevent INCLUDING DEFAULTS)")
        cur.execute("UPDATE labs_vitalsigns SET heart_rate = 71 WHERE id = %s", [vs.pk])
        cur.execute("SELECT count(*) FROM pg_temp.labs_vitalsignsevent")
        assert cur.fetchone()[0] == 0
        cur.execute("DROP TABLE pg_temp.labs_vitalsignsevent")
    assert VitalSignsEvent.objects.filter(pgh_obj_id=vs.pk, pgh_label="update").get().heart_rate == 71


def test_a_fake_pg_roles_does_not_switch_the_guards_off(temporary_granted, setup, coordinator):
    vs = vital_signs(coordinator, setup)
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE pg_roles AS SELECT * FROM pg_catalog.pg_roles")
        cur.execute("UPDATE pg_temp.pg_roles SET rolsuper = true WHERE rolname = session_user")
        cur.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'labs_vitalsigns'::regclass")
        names = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT set_config('pgtrigger.ignore', %s, false)", ["{" + ",".join(names) + "}"])
    try:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute("DELETE FROM labs_vitalsigns WHERE id = %s", [vs.pk])
        with connection.cursor() as cur:
            cur.execute("UPDATE labs_vitalsigns SET heart_rate = 72 WHERE id = %s", [vs.pk])
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT set_config('pgtrigger.ignore', '', false)")
            cur.execute("DROP TABLE pg_temp.pg_roles")
    assert VitalSigns.objects.filter(pk=vs.pk).exists()
    assert VitalSignsEvent.objects.filter(pgh_obj_id=vs.pk, pgh_label="update").get().heart_rate == 72


def test_app_role_cannot_forge_history(setup, coordinator):
    vs = vital_signs(coordinator, setup)
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO labs_vitalsignsevent SELECT * FROM labs_vitalsignsevent WHERE pgh_obj_id = %s", [vs.pk]
        )
    assert VitalSignsEvent.objects.filter(pgh_obj_id=vs.pk).count() == 1


def test_app_role_has_only_select_on_every_history_table(db, db_app_role):
    tables = history_tables()
    assert len(tables) > 50
    with connection.cursor() as cur:
        for table in tables:
            for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
                cur.execute("SELECT has_table_privilege(%s, %s, %s)", [db_app_role, table, privilege])
                assert cur.fetchone()[0] is False, (table, privilege)
            cur.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", [db_app_role, table])
            assert cur.fetchone()[0] is True, table


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE labs_vitalsigns DISABLE TRIGGER USER",
        "ALTER TABLE labs_vitalsignsevent DISABLE TRIGGER trialsite_append_only_row",
        "DROP TRIGGER trialsite_append_only_row ON labs_vitalsignsevent",
        "ALTER TRIGGER trialsite_append_only_row ON labs_vitalsignsevent RENAME TO x",
        "ALTER FUNCTION public.trialsite_refuse_history_change() SECURITY INVOKER",
        "SET session_replication_role = replica",
        "TRUNCATE labs_vitalsignsevent",
        "UPDATE labs_vitalsignsevent SET heart_rate = 1",
        "DELETE FROM labs_vitalsignsevent",
    ],
)
def test_already_refused_paths_stay_refused(setup, coordinator, statement):
    vs = vital_signs(coordinator, setup)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute(statement)
    assert VitalSignsEvent.objects.filter(pgh_obj_id=vs.pk).count() == 1
