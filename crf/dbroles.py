"""Database roles and the append-only audit trail (DESIGN §4 "Audit trail").

Migrations run as the table owner; the application connects as `DB_APP_ROLE`, which:
- may read and write ordinary tables, but only SELECT history (event) tables: the audit triggers
  write them as the table owner (SECURITY DEFINER), so the app role cannot forge history;
- cannot switch the audit triggers off: pgtrigger's ignore switch (`pgtrigger.ignore()` /
  `set_config('pgtrigger.ignore', ...)`) is honoured only for superusers and the database owner;
- cannot create temporary tables (TEMPORARY is revoked from it and from PUBLIC), and every trigger
  function runs with a fixed `search_path` (`pg_catalog, public, pg_temp`) and schema-qualified
  names, so neither a temporary event table nor a fake `pg_roles` can redirect or switch them.
History tables also refuse UPDATE, DELETE and TRUNCATE by trigger, for every non-superuser.
`harden` runs after every migrate (crf/apps.py), because each trigger migration re-creates
pgtrigger's functions (issue 21).
"""

from __future__ import annotations

import os
import re

from django.apps import apps
from django.db.backends.base.base import BaseDatabaseWrapper

APPEND_ONLY_FUNCTION = "trialsite_refuse_history_change"
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def app_role() -> str:
    role = os.environ.get("DB_APP_ROLE", "trialsite_app")
    if not ROLE_NAME.match(role):
        raise ValueError("DB_APP_ROLE must be a plain lower-case identifier")
    return role


def history_tables() -> list[str]:
    import pghistory.models

    tables = [
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, pghistory.models.Event) and not model._meta.proxy
    ]
    return sorted(set(tables))


IGNORE_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION public._pgtrigger_should_ignore(trigger_name NAME)
RETURNS BOOLEAN AS $$
    DECLARE
        _raw TEXT := pg_catalog.current_setting('pgtrigger.ignore', true);
        _pgtrigger_ignore TEXT[];
        _privileged BOOLEAN;
    BEGIN
        -- Nothing to ignore (every ordinary write): no catalogue look-up and no subtransaction
        -- per row (issue 29: they were most of a bulk load's time). The answer is the same.
        IF _raw IS NULL OR _raw = '' THEN
            RETURN FALSE;
        END IF;
        -- TrialSite: only superusers and the database owner may switch audit triggers off.
        SELECT r.rolsuper OR r.oid = d.datdba INTO _privileged
          FROM pg_catalog.pg_roles r, pg_catalog.pg_database d
         WHERE r.rolname = pg_catalog.session_user() AND d.datname = pg_catalog.current_database();
        IF _privileged IS NOT TRUE THEN
            RETURN FALSE;
        END IF;
        BEGIN
            _pgtrigger_ignore := _raw::TEXT[];
            EXCEPTION WHEN OTHERS THEN
        END;
        IF _pgtrigger_ignore IS NOT NULL THEN
            RETURN trigger_name = ANY(_pgtrigger_ignore);
        END IF;
        RETURN FALSE;
    END;
$$ LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp;
"""

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION public.trialsite_refuse_history_change() RETURNS TRIGGER AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = pg_catalog.session_user()) THEN
        -- a superuser (the DBA, or the test runner resetting a database) is not stopped here
        IF TG_LEVEL = 'ROW' AND TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        IF TG_LEVEL = 'ROW' THEN RETURN NEW; END IF;
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp;
"""

FIXED_SEARCH_PATH = "pg_catalog, public, pg_temp"
# pghistory's trigger functions insert into their event table by bare name.
BARE_INSERT = re.compile(r'INSERT INTO "([a-z0-9_]+)" \(')


def trigger_functions(connection: BaseDatabaseWrapper) -> list[tuple[int, str, str]]:
    """(oid, name, owner of the table) of every function a user trigger on a public table calls."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT p.oid, p.proname, pg_catalog.pg_get_userbyid(c.relowner) "
            "FROM pg_catalog.pg_trigger t "
            "JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid "
            "JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace "
            "JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace "
            "WHERE NOT t.tgisinternal AND pn.nspname = 'public' AND cn.nspname = 'public' "
            "ORDER BY p.proname"
        )
        return [(int(oid), name, owner) for oid, name, owner in cursor.fetchall()]


def harden_trigger_functions(connection: BaseDatabaseWrapper) -> int:
    """Schema-qualify each trigger function's table names, fix its search_path and make it run as
    the owner of its table (SECURITY DEFINER). Idempotent; returns how many functions it checked."""
    functions = trigger_functions(connection)
    with connection.cursor() as cursor:
        for oid, name, owner in functions:
            cursor.execute("SELECT pg_catalog.pg_get_functiondef(%s)", [oid])
            definition = cursor.fetchone()[0]
            qualified = BARE_INSERT.sub(r'INSERT INTO "public"."\1" (', definition)
            if qualified != definition:
                cursor.execute(qualified)
            qname = connection.ops.quote_name(name)
            cursor.execute(
                f"ALTER FUNCTION public.{qname}() OWNER TO {connection.ops.quote_name(owner)};"
                f"ALTER FUNCTION public.{qname}() SECURITY DEFINER SET search_path = {FIXED_SEARCH_PATH}"
            )
    return len(functions)


def harden(connection: BaseDatabaseWrapper) -> None:
    """Install the guarded ignore switch and append-only triggers; grant the app role."""
    with connection.cursor() as cursor:
        cursor.execute(IGNORE_FUNCTION_SQL)
        cursor.execute(APPEND_ONLY_SQL)
        for table in history_tables():
            q = connection.ops.quote_name(table)
            cursor.execute(
                f"DROP TRIGGER IF EXISTS trialsite_append_only_row ON {q};"
                f"CREATE TRIGGER trialsite_append_only_row BEFORE UPDATE OR DELETE ON {q} "
                f"FOR EACH ROW EXECUTE FUNCTION public.{APPEND_ONLY_FUNCTION}();"
                f"DROP TRIGGER IF EXISTS trialsite_append_only_truncate ON {q};"
                f"CREATE TRIGGER trialsite_append_only_truncate BEFORE TRUNCATE ON {q} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION public.{APPEND_ONLY_FUNCTION}();"
            )
    from crf import auditchain

    auditchain.install(connection, history_tables())
    harden_trigger_functions(connection)
    with connection.cursor() as cursor:
        role = app_role()
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is not None:
            grant_app_role(connection, role)


def ensure_app_role(connection: BaseDatabaseWrapper, password: str | None) -> str:
    """Create the application's login role if missing (not superuser, owns nothing)."""
    role = app_role()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")
        if password:
            cursor.execute(f"ALTER ROLE {role} PASSWORD %s", [password])
    grant_app_role(connection, role)
    return role


def grant_app_role(connection: BaseDatabaseWrapper, role: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        database = cursor.fetchone()[0]
        qdb = connection.ops.quote_name(database)
        cursor.execute(f"GRANT CONNECT ON DATABASE {qdb} TO {role}")
        # A temporary table can shadow an event table or pg_roles (pg_temp is searched first).
        cursor.execute(f"REVOKE TEMPORARY ON DATABASE {qdb} FROM PUBLIC, {role}")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cursor.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cursor.execute(f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {role}")
        for table in history_tables():
            # The audit triggers write history as the table owner; the app role only reads it.
            cursor.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {connection.ops.quote_name(table)} FROM {role}")
        cursor.execute("SELECT to_regclass('public.crf_auditchainlink')")
        if cursor.fetchone()[0] is not None:  # the audit triggers write the chain as the owner
            for table in ("crf_auditchainlink", "crf_auditchainhead"):
                cursor.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {table} FROM {role}")
        # Audit context lives on the (append-only) history rows; pghistory's shared context table
        # is unused and must not be writable by the application.
        cursor.execute("SELECT to_regclass('public.pghistory_context')")
        if cursor.fetchone()[0] is not None:
            cursor.execute(f"REVOKE INSERT, UPDATE, DELETE ON pghistory_context FROM {role}")
        # The audit index (issue 26) is written only by its trigger, as the owner: read-only here.
        cursor.execute("SELECT to_regclass('public.datamanagement_auditindex')")
        if cursor.fetchone()[0] is not None:
            cursor.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON datamanagement_auditindex FROM {role}")
