"""The audit index (issue 26 item 4): a trigger on every subject-scoped history table writes one
`datamanagement_auditindex` row per history row, so audit search filters and pages one indexed
table instead of a UNION of every history table filtered on a JSON key (315 s a page at 10,000
subjects before).

- `FUNCTION_SQL`: `public.trialsite_audit_index()`, the AFTER INSERT trigger function. Its
  arguments: the tracked model's label and the column holding the subject id (`subject_id`, or
  `pgh_obj_id` on the subject's own history). It runs as its owner (SECURITY DEFINER, fixed
  search_path, schema-qualified names), so the application role needs no write grant on the index.
- `sync(connection)`: after every migrate (datamanagement/apps.py), as the table owner: creates the
  trigger on each subject-scoped event table (new tracked models included) and the table's index
  on (pgh_obj_id, pgh_id) that the trigger reads a record's previous event from, indexes the history
  rows not indexed yet (the first run after the upgrade backfills everything, in one statement
  per table), makes the index append-only (UPDATE/DELETE/TRUNCATE refused for non-superusers by
  the audit trail's own guard) and leaves the application role SELECT only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pghistory.models
from django.apps import apps
from django.db import DatabaseError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from study.subject_models import subject_model

INDEX_TABLE = "datamanagement_auditindex"
#: bookkeeping columns left out of `fields` (as the history pages do, crf/history.py HIDDEN)
HIDDEN = ("id", "version", "updated_at", "updated_by_id", "created_at", "created_by_id", "subject_id", "crf_version")

_FIELDS_SQL = """
    SELECT coalesce(array_agg(x.k ORDER BY x.k), '{{}}'::varchar[])
      FROM pg_catalog.jsonb_each({row}) AS x(k, v)
     WHERE x.k NOT LIKE 'pgh\\_%%' AND NOT (x.k = ANY ('{hidden}'::text[]))
       AND CASE WHEN {label} = 'update'
                THEN {prev} IS NULL OR ({prev} -> x.k) IS DISTINCT FROM x.v
                ELSE x.v <> 'null'::jsonb AND x.v <> '""'::jsonb AND x.v <> 'false'::jsonb
                     AND x.v <> '{{}}'::jsonb AND x.v <> '[]'::jsonb END
"""


def _fields_sql(row: str, prev: str, label: str) -> str:
    return _FIELDS_SQL.format(row=row, prev=prev, label=label, hidden="{" + ",".join(HIDDEN) + "}")


#: a record's event before a given one (%I.%I: the history table): one entry of its index on
#: (pgh_obj_id, pgh_id) (`previous_index`), read backwards. With pghistory's index on pgh_obj_id
#: alone, PostgreSQL read every event of the record and, in the trigger, made each one JSON before
#: sorting them (issue 22: an update of the ICAHT derivation, its ANC inputs in every event, took
#: ~6 ms of trigger time after 86 events, ~1.3 ms with this)
PREVIOUS_SQL = "SELECT e.pgh_id FROM %I.%I e WHERE e.pgh_obj_id = $1 AND e.pgh_id < $2 ORDER BY e.pgh_id DESC LIMIT 1"


def previous_index(table: str) -> str:
    """The name of a history table's index on (pgh_obj_id, pgh_id) (sync makes it): the
    table's name may be too long to suffix."""
    return "trialsite_prev_" + hashlib.sha256(table.encode()).hexdigest()[:16]


# Only constants and registry names are formatted into the SQL below (no user input).
FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION public.trialsite_audit_index() RETURNS TRIGGER AS $$
DECLARE
    j jsonb := pg_catalog.to_jsonb(NEW);
    prev jsonb;
    prev_id bigint;
    subj bigint;
    who text;
    changed varchar[];
BEGIN
    subj := (j ->> TG_ARGV[1])::bigint;
    IF subj IS NULL THEN
        RETURN NULL;  -- a study-wide record (a study lock): not part of any subject's trail
    END IF;
    IF NEW.pgh_label = 'update' THEN
        -- the record's previous event from its (pgh_obj_id, pgh_id) index (one entry), then that
        -- row alone as JSON: not every earlier event of the record made JSON to be sorted (issue 22)
        EXECUTE pg_catalog.format('{PREVIOUS_SQL}', TG_TABLE_SCHEMA, TG_TABLE_NAME)
          INTO prev_id USING NEW.pgh_obj_id, NEW.pgh_id;
        IF prev_id IS NOT NULL THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.to_jsonb(e) FROM %I.%I e WHERE e.pgh_id = $1',
                                      TG_TABLE_SCHEMA, TG_TABLE_NAME)
              INTO prev USING prev_id;
        END IF;
    END IF;
    {_fields_sql("j", "prev", "NEW.pgh_label").strip()} INTO changed;
    who := j -> 'pgh_context' ->> 'user';
    INSERT INTO public.{INDEX_TABLE}
        (event_table, event_id, previous_id, at, action, obj_model, obj_id, subject_pk, site_pk, user_pk, fields)
    VALUES (TG_TABLE_NAME, NEW.pgh_id, prev_id, NEW.pgh_created_at, NEW.pgh_label, TG_ARGV[0],
            j ->> 'pgh_obj_id', subj,
            (SELECT s.site_id FROM public.subjects_subject s WHERE s.id = subj),
            CASE WHEN who ~ '^[0-9]+$' THEN who::bigint END,
            changed);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
"""  # noqa: S608

TRIGGER = "trialsite_audit_index"


@cache
def subject_event_models() -> tuple[type[Model], ...]:
    """The event models of the subject and of every tracked record that names a subject."""
    subject = subject_model()
    found = []
    for model in apps.get_models():
        tracked = getattr(model, "pgh_tracked_model", None)
        if not isinstance(model, type) or not issubclass(model, pghistory.models.Event) or tracked is None:
            continue
        if tracked is subject or any(f.name == "subject" for f in tracked._meta.concrete_fields):
            found.append(model)
    return tuple(sorted(found, key=lambda m: m._meta.label))


def tracked_label(event_model: type[Model]) -> str:
    return str(event_model.pgh_tracked_model._meta.label)  # type: ignore[attr-defined]


def subject_column(event_model: type[Model]) -> str:
    return "pgh_obj_id" if event_model.pgh_tracked_model is subject_model() else "subject_id"  # type: ignore[attr-defined]


def _backfill_sql(table: str, label: str, subject_col: str) -> str:
    """Index the history rows of one table not indexed yet, in one statement (the previous event
    of each record by a window over the table)."""
    return f"""
INSERT INTO public.{INDEX_TABLE}
    (event_table, event_id, previous_id, at, action, obj_model, obj_id, subject_pk, site_pk, user_pk, fields)
SELECT '{table}', r.pgh_id, CASE WHEN r.pgh_label = 'update' THEN r.prev_id END, r.pgh_created_at, r.pgh_label,
       '{label}', r.j ->> 'pgh_obj_id', (r.j ->> '{subject_col}')::bigint, s.site_id,
       CASE WHEN (r.j -> 'pgh_context' ->> 'user') ~ '^[0-9]+$' THEN (r.j -> 'pgh_context' ->> 'user')::bigint END,
       ({_fields_sql("r.j", "r.prev", "r.pgh_label").strip()})
  FROM (SELECT e.pgh_id, e.pgh_created_at, e.pgh_label, pg_catalog.to_jsonb(e) AS j,
               pg_catalog.lag(e.pgh_id) OVER w AS prev_id,
               CASE WHEN e.pgh_label = 'update' THEN pg_catalog.lag(pg_catalog.to_jsonb(e)) OVER w END AS prev
          FROM public."{table}" e
        WINDOW w AS (PARTITION BY e.pgh_obj_id ORDER BY e.pgh_id)) r
  JOIN public.subjects_subject s ON s.id = (r.j ->> '{subject_col}')::bigint
 WHERE NOT EXISTS (SELECT 1 FROM public.{INDEX_TABLE} i WHERE i.event_table = '{table}' AND i.event_id = r.pgh_id)
"""  # noqa: S608


def sync(connection: BaseDatabaseWrapper, *, app_role: str | None = None) -> int:
    """Install the trigger on every subject-scoped event table and index what is not indexed
    yet. Idempotent. Returns how many history rows it indexed."""
    indexed = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"public.{INDEX_TABLE}"])
        if cursor.fetchone()[0] is None:
            return 0
        cursor.execute(FUNCTION_SQL)
        for model in subject_event_models():
            table = model._meta.db_table
            label, column = tracked_label(model), subject_column(model)
            q = connection.ops.quote_name(table)
            cursor.execute(
                f"DROP TRIGGER IF EXISTS {TRIGGER} ON public.{q};"
                f"CREATE TRIGGER {TRIGGER} AFTER INSERT ON public.{q} FOR EACH ROW "
                f"EXECUTE FUNCTION public.trialsite_audit_index('{label}', '{column}')"
            )
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {previous_index(table)} ON public.{q} (pgh_obj_id, pgh_id)")
            cursor.execute(_backfill_sql(table, label, column))
            indexed += max(cursor.rowcount, 0)
        # append-only, like the history it indexes (the guard function comes with the audit trail)
        cursor.execute("SELECT to_regproc('public.trialsite_refuse_history_change')")
        if cursor.fetchone()[0] is not None:
            cursor.execute(
                f"DROP TRIGGER IF EXISTS trialsite_append_only_row ON public.{INDEX_TABLE};"
                f"CREATE TRIGGER trialsite_append_only_row BEFORE UPDATE OR DELETE ON public.{INDEX_TABLE} "
                "FOR EACH ROW EXECUTE FUNCTION public.trialsite_refuse_history_change();"
                f"DROP TRIGGER IF EXISTS trialsite_append_only_truncate ON public.{INDEX_TABLE};"
                f"CREATE TRIGGER trialsite_append_only_truncate BEFORE TRUNCATE ON public.{INDEX_TABLE} "
                "FOR EACH STATEMENT EXECUTE FUNCTION public.trialsite_refuse_history_change();"
            )
        if app_role:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role])
            if cursor.fetchone() is not None:
                cursor.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON public.{INDEX_TABLE} FROM {app_role}")
                cursor.execute(f"GRANT SELECT ON public.{INDEX_TABLE} TO {app_role}")
    return indexed


def _load_sql(table: str, label: str, subject_col: str) -> str:
    """Index one table's history rows after a given `pgh_id` (written with the trigger off): the
    rows the trigger would have written, from the same expressions (previous event of the
    record, changed fields, subject, site, user)."""
    return f"""
INSERT INTO public.{INDEX_TABLE}
    (event_table, event_id, previous_id, at, action, obj_model, obj_id, subject_pk, site_pk, user_pk, fields)
SELECT '{table}', r.pgh_id, r.prev_id, r.pgh_created_at, r.pgh_label,
       '{label}', r.j ->> 'pgh_obj_id', (r.j ->> '{subject_col}')::bigint, s.site_id,
       CASE WHEN (r.j -> 'pgh_context' ->> 'user') ~ '^[0-9]+$' THEN (r.j -> 'pgh_context' ->> 'user')::bigint END,
       ({_fields_sql("r.j", "r.prev", "r.pgh_label").strip()})
  FROM (SELECT e.pgh_id, e.pgh_created_at, e.pgh_label, pg_catalog.to_jsonb(e) AS j,
               p.pgh_id AS prev_id, p.j AS prev
          FROM public."{table}" e
          LEFT JOIN LATERAL (
                SELECT x.pgh_id, pg_catalog.to_jsonb(x) AS j FROM public."{table}" x
                 WHERE e.pgh_label = 'update' AND x.pgh_obj_id = e.pgh_obj_id AND x.pgh_id < e.pgh_id
                 ORDER BY x.pgh_id DESC LIMIT 1) p ON true
         WHERE e.pgh_id > %s
         ORDER BY e.pgh_id) r
  JOIN public.subjects_subject s ON s.id = (r.j ->> '{subject_col}')::bigint
"""  # noqa: S608


@contextmanager
def indexed_after_load(connection: BaseDatabaseWrapper) -> Iterator[bool]:
    """For a bulk load inside one transaction (the synthetic study generator, issue 29): the
    index trigger off for the block, and the history rows it wrote indexed when it ends with one
    statement per table instead of one trigger call per row. Needs the tables' owner (or a
    superuser); otherwise the trigger stays on (yields False). The ALTERs are transactional."""
    if not connection.in_atomic_block:
        raise RuntimeError("indexed_after_load() needs a transaction")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s",
            [TRIGGER],
        )
        triggered = {row[0] for row in cursor.fetchall()}
        tables = [
            (m._meta.db_table, tracked_label(m), subject_column(m))
            for m in subject_event_models()
            if m._meta.db_table in triggered
        ]
        try:
            with transaction.atomic(using=connection.alias):
                for table, _label, _column in tables:
                    cursor.execute(f"ALTER TABLE public.{connection.ops.quote_name(table)} DISABLE TRIGGER {TRIGGER}")
        except DatabaseError:
            tables = []
        if not tables:
            yield False
            return
        after = {}
        for table, _label, _column in tables:
            cursor.execute(f"SELECT COALESCE(max(pgh_id), 0) FROM public.{connection.ops.quote_name(table)}")  # noqa: S608
            after[table] = cursor.fetchone()[0]
    yield True
    with connection.cursor() as cursor:
        for table, label, column in tables:
            cursor.execute(_load_sql(table, label, column), [after[table]])
            cursor.execute(f"ALTER TABLE public.{connection.ops.quote_name(table)} ENABLE TRIGGER {TRIGGER}")
