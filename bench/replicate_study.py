"""Multiply the subjects of a synthetic study K times in SQL: a 10,000-subject benchmark
database from the 1,000-subject one in minutes instead of hours of generation (issue 29 item 7).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        nice .venv/bin/python bench/replicate_study.py --source trialsite_synth_bench_1000 \\
        --target trialsite_synth_10000 --times 10

The target is created as a copy of the source (CREATE DATABASE … TEMPLATE: nobody may be
connected to the source) unless it exists with `--in-place` (then it must hold the source's data
once). In the target, every table of subject data is copied K-1 more times, one
`INSERT … SELECT … CROSS JOIN generate_series(1, K-1)` per table, in dependency order:

- the subject-scoped tables are found from Django's models: subjects.Subject and every model with
  a foreign key (constrained or not) to one of them, transitively; their pghistory event tables
  (the audit trail the snapshot readers of exports and endpoint runs read); and the audit index
  (`datamanagement_auditindex`, one row per history row);
- copy k's primary keys, and its foreign keys to replicated rows, are the original's plus k times
  the table's largest key (so no copy collides with another); foreign keys to shared rows —
  study, sites, users, visit definitions, protocol settings versions, history contexts — are
  kept; an event row's `id` and `pgh_obj_id` point at the copied record, the audit index's
  event, previous event, record and subject ids at the copied ones;
- a text column in a unique constraint without a shifted column (the subject and screening
  numbers) is suffixed `-R<k>` (copy 3 of S1-001 is S1-001-R03), in the event rows too;
- every identity sequence is moved past its table's largest key; then ANALYZE.

THE COPIES ARE BENCHMARK DATA, NOT A FAITHFUL TRIAL: the rows are inserted with triggers off
(`session_replication_role = replica`), so the audit chain (`crf_auditchainlink`) gets no links
for the copied history rows and `crf.auditchain.verify()` reports them as unlinked (the
chain is not re-hashed); identifiers inside JSON values are not shifted; the copies share the
original's dates and values. Each copy is a separate subject for every reader (exports, endpoint
runs, dashboards, audit review), with the volume of a real subject.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

from _common import database_url, setup_django

SUFFIX = "-R"


@dataclass
class Table:
    name: str
    pk: str
    #: column → the replicated table whose stride shifts it
    shifted: dict[str, str] = field(default_factory=dict)
    #: text columns suffixed with -R<k>
    suffixed: list[str] = field(default_factory=list)
    #: only the rows with this column not null are subject data (a nullable link to a subject)
    where: str = ""
    after: set[str] = field(default_factory=set)


def subject_tables() -> dict[str, Table]:
    """The replicated tables from Django's models (Django must be set up)."""
    from django.apps import apps
    from django.db import models

    from subjects.models import Subject

    concrete = [m for m in apps.get_models() if m._meta.managed and not m._meta.proxy]
    chosen: set[type[models.Model]] = {Subject}
    changed = True
    while changed:
        changed = False
        for model in concrete:
            if model in chosen:
                continue
            links = [
                f for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey) and f.related_model in chosen
            ]
            if links:
                chosen.add(model)
                changed = True
    tables: dict[str, Table] = {}
    for model in chosen:
        meta = model._meta
        table = Table(meta.db_table, meta.pk.column)
        table.shifted[meta.pk.column] = meta.db_table
        tracked = None
        for f in meta.concrete_fields:
            if isinstance(f, models.ForeignKey) and f.related_model in chosen:
                assert f.target_field.primary_key, f"{meta.label}.{f.name} does not point at a primary key"
                table.shifted[f.column] = f.related_model._meta.db_table
                if f.related_model is not model:
                    table.after.add(f.related_model._meta.db_table)
                if f.name == "pgh_obj":
                    tracked = f.related_model._meta.db_table
        if tracked is not None and "id" in {f.column for f in meta.concrete_fields}:
            table.shifted["id"] = tracked  # the tracked record's id in its event rows
        nullable = [f.column for f in meta.concrete_fields if f.column in table.shifted and f.null]
        required = [c for c in table.shifted if c != table.pk and c not in nullable]
        if not required and nullable and model is not Subject:
            table.where = " OR ".join(f"{column} IS NOT NULL" for column in nullable)
        tables[meta.db_table] = table
    return tables


def unique_texts(cursor, tables: dict[str, Table]) -> None:  # type: ignore[no-untyped-def]
    """Text columns of unique indexes that hold no shifted column: suffixed in the copies (and the
    same columns of the model's event table)."""
    for table in tables.values():
        cursor.execute(
            """
            SELECT array_agg(a.attname::text), array_agg(format_type(a.atttypid, a.atttypmod))
              FROM pg_index i
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
             WHERE i.indrelid = %s::regclass AND i.indisunique
             GROUP BY i.indexrelid
            """,
            [table.name],
        )
        for columns, types in cursor.fetchall():
            if any(c in table.shifted for c in columns):
                continue
            for column, kind in zip(columns, types, strict=True):
                if kind.startswith(("character varying", "text")) and column not in table.suffixed:
                    table.suffixed.append(column)
    for table in tables.values():
        tracked = next((tables[t] for c, t in table.shifted.items() if c == "pgh_obj_id"), None)
        if tracked is not None:
            table.suffixed = [c for c in tracked.suffixed if c not in table.suffixed] + table.suffixed


def columns_of(cursor, table: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    cursor.execute(
        """
        SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum
        """,
        [table],
    )
    return list(cursor.fetchall())


def ordered(tables: dict[str, Table]) -> list[Table]:
    done: list[Table] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for before in sorted(tables[name].after):
            visit(before)
        done.append(tables[name])

    for name in sorted(tables):
        visit(name)
    return done


def replicate(cursor, times: int, log=print) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Copy every subject table `times` - 1 more times (see the module docstring); the number of
    rows each table has afterwards."""
    tables = subject_tables()
    unique_texts(cursor, tables)
    stride: dict[str, int] = {}
    for table in tables.values():
        cursor.execute(f'SELECT coalesce(max("{table.pk}"), 0) FROM "{table.name}"')
        stride[table.name] = int(cursor.fetchone()[0])
    cursor.execute("SET session_replication_role = replica")  # triggers (audit, chain, FK checks) off
    counts: dict[str, int] = {}
    for table in ordered(tables):
        if stride[table.name] == 0:
            continue
        columns = columns_of(cursor, table.name)
        select = []
        for column, _kind in columns:
            if column in table.shifted:
                select.append(f'"{column}" + k * {stride[table.shifted[column]]}')
            elif column in table.suffixed:
                suffixed = f"\"{column}\" || '{SUFFIX}' || lpad(k::text, 2, '0')"
                select.append(f"CASE WHEN \"{column}\" = '' THEN '' ELSE {suffixed} END")
            else:
                select.append(f'"{column}"')
        names = ", ".join(f'"{c}"' for c, _kind in columns)
        where = f"WHERE {table.where}" if table.where else ""
        started = time.monotonic()
        cursor.execute(
            f'INSERT INTO "{table.name}" ({names}) OVERRIDING SYSTEM VALUE '
            f'SELECT {", ".join(select)} FROM "{table.name}" CROSS JOIN generate_series(1, {times - 1}) AS k {where}'
        )
        log(f"{table.name}: +{cursor.rowcount} rows ({time.monotonic() - started:.1f} s)")
    _replicate_audit_index(cursor, tables, stride, times, log)
    cursor.execute("SET session_replication_role = DEFAULT")
    for table in [*tables.values(), Table("datamanagement_auditindex", "id")]:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', '{table.pk}'), "
            f'greatest(coalesce(max("{table.pk}"), 1), 1)) FROM "{table.name}"'
        )
        cursor.execute(f'SELECT count(*) FROM "{table.name}"')
        counts[table.name] = int(cursor.fetchone()[0])
    return counts


def _replicate_audit_index(cursor, tables, stride, times, log) -> None:  # type: ignore[no-untyped-def]
    """One index row per copied history row: its event, previous event, record and subject
    shifted as the rows they name (event_table says which event table, obj_model which model)."""
    from django.apps import apps

    event_shift = " ".join(
        f"WHEN '{name}' THEN {stride[name]}" for name in sorted(tables) if "pgh_obj_id" in tables[name].shifted
    )
    model_shift = " ".join(
        f"WHEN '{model._meta.label}' THEN {stride[model._meta.db_table]}"
        for model in apps.get_models()
        if model._meta.db_table in tables
    )
    cursor.execute("SELECT coalesce(max(id), 0) FROM datamanagement_auditindex")
    own = int(cursor.fetchone()[0])
    subject = stride["subjects_subject"]
    started = time.monotonic()
    cursor.execute(
        f"""
        INSERT INTO datamanagement_auditindex
               (id, event_table, event_id, previous_id, at, action, obj_model, obj_id, subject_pk,
                site_pk, user_pk, fields)
        OVERRIDING SYSTEM VALUE
        SELECT id + k * {own}, event_table, event_id + k * (CASE event_table {event_shift} ELSE 0 END),
               previous_id + k * (CASE event_table {event_shift} ELSE 0 END), at, action, obj_model,
               (obj_id::bigint + k * (CASE obj_model {model_shift} ELSE 0 END))::text,
               subject_pk + k * {subject}, site_pk, user_pk, fields
          FROM datamanagement_auditindex CROSS JOIN generate_series(1, {times - 1}) AS k
        """
    )
    log(f"datamanagement_auditindex: +{cursor.rowcount} rows ({time.monotonic() - started:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="database holding the synthetic study")
    parser.add_argument("--target", required=True, help="database to create (a copy of the source) and multiply")
    parser.add_argument("--times", type=int, required=True, help="K: the target ends with K times the subjects")
    parser.add_argument("--in-place", action="store_true", help="the target exists already (holding the source once)")
    args = parser.parse_args(argv)
    if args.times < 2:
        parser.error("--times must be 2 or more")
    if not any(word in args.target for word in ("synth", "bench", "scratch", "test")):
        parser.error("the target's name must say it is benchmark data (synth, bench, scratch or test)")
    import psycopg2

    started = time.monotonic()
    if not args.in_place:
        admin = psycopg2.connect(database_url("postgres"))
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{args.target}" TEMPLATE "{args.source}"')
        admin.close()
        print(f"copied {args.source} to {args.target} ({time.monotonic() - started:.0f} s)", flush=True)
    import os

    os.environ["DATABASE_URL"] = database_url(args.target)
    setup_django()
    conn = psycopg2.connect(database_url(args.target))
    try:
        with conn.cursor() as cursor:
            counts = replicate(cursor, args.times, log=lambda text: print(text, flush=True))
        conn.commit()
    finally:
        conn.close()
    conn = psycopg2.connect(database_url(args.target))
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("ANALYZE")
    conn.close()
    print(f"subjects: {counts['subjects_subject']}; {time.monotonic() - started:.0f} s in all", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
