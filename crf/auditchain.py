"""Tamper evidence for the audit trail (issue 21, 21 CFR Part 11 §11.10(e)).

Every event (history) row gets a link in `crf_auditchainlink`: SHA-256 over the table name, the
previous link's hash and the row's canonical content (`to_jsonb(row)::text`, in UTC; the link keeps
the column names it covered, so adding a field to a tracked model later breaks nothing), written by
an AFTER INSERT trigger on the event table that runs as the table owner. The previous link is read
under a per-table transaction advisory lock, so concurrent inserts queue instead of forking the
chain. The app role can read the chain, never write it.

`verify()` walks every chain and reports the first broken link: a row changed or removed, a link
out of sequence, or an event with no link (written with the triggers off). Because the owner could
recompute a whole chain, each verification also appends the chain heads to a log file outside the
database (`AUDIT_HEADS_DIR`) and compares with the heads it recorded last time: a recomputed chain
no longer holds the recorded hash at the recorded position.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

CHAIN_TABLE = "crf_auditchainlink"
HEAD_TABLE = "crf_auditchainhead"
CHAIN_TRIGGER = "trialsite_audit_chain"
LOCK_CLASS = 21  # first key of pg_advisory_xact_lock(int, int); the second is hashtext(table)

# Content and hash, identical in the trigger and in the verifier. TimeZone is pinned so the JSON
# text of a timestamp does not depend on the session.
_HASH_EXPR = (
    "pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to("
    "{table} || '|' || {prev} || '|' || {content}, 'UTF8')), 'hex')"
)

# Table names below are module constants and pghistory's event tables (quoted), never user input.
LINK_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION public.trialsite_audit_chain_link(tbl TEXT, event BIGINT, content JSONB)
RETURNS VOID AS $$
DECLARE
    _prev TEXT;
    _seq BIGINT;
    _hash TEXT;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock({LOCK_CLASS}, pg_catalog.hashtext(tbl));
    SELECT h.hash, h.seq INTO _prev, _seq FROM public.{HEAD_TABLE} h WHERE h.table_name = tbl;
    _prev := COALESCE(_prev, '');
    _seq := COALESCE(_seq, 0) + 1;
    INSERT INTO public.{CHAIN_TABLE} (table_name, seq, event_id, prev_hash, hash, columns, linked_at)
    VALUES (tbl, _seq, event, _prev,
            {_HASH_EXPR.format(table="tbl", prev="_prev", content="content::TEXT")},
            ARRAY(SELECT pg_catalog.jsonb_object_keys(content) ORDER BY 1), pg_catalog.now())
    RETURNING hash INTO _hash;
    INSERT INTO public.{HEAD_TABLE} AS h (table_name, seq, hash) VALUES (tbl, _seq, _hash)
    ON CONFLICT (table_name) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash;
END;
$$ LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp;
REVOKE ALL ON FUNCTION public.trialsite_audit_chain_link(TEXT, BIGINT, JSONB) FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.trialsite_audit_chain() RETURNS TRIGGER AS $$
BEGIN
    PERFORM public.trialsite_audit_chain_link(TG_TABLE_NAME, NEW.pgh_id, pg_catalog.to_jsonb(NEW));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp SET TimeZone = 'UTC';

CREATE OR REPLACE FUNCTION public.trialsite_audit_chain_seal(tbl TEXT) RETURNS BIGINT AS $$
DECLARE
    _row RECORD;
    _n BIGINT := 0;
BEGIN
    FOR _row IN EXECUTE pg_catalog.format(
        'SELECT e.pgh_id, pg_catalog.to_jsonb(e) AS content FROM public.%I e ORDER BY e.pgh_id', tbl)
    LOOP
        PERFORM public.trialsite_audit_chain_link(tbl, _row.pgh_id, _row.content);
        _n := _n + 1;
    END LOOP;
    RETURN _n;
END;
$$ LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp SET TimeZone = 'UTC';
REVOKE ALL ON FUNCTION public.trialsite_audit_chain_seal(TEXT) FROM PUBLIC;
"""  # noqa: S608


def install(connection: BaseDatabaseWrapper, tables: list[str]) -> None:
    """Chain triggers on every event table. A table chained for the first time has its existing
    rows sealed in `pgh_id` order (the genesis of its chain)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_catalog.to_regclass(%s)", [f"public.{CHAIN_TABLE}"])
        if cursor.fetchone()[0] is None:
            return  # migrating to a state before the chain existed
        cursor.execute(LINK_FUNCTION_SQL)
        for table in tables:
            q = connection.ops.quote_name(table)
            cursor.execute(
                "SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s",
                [f"public.{table}", CHAIN_TRIGGER],
            )
            if cursor.fetchone() is None:
                cursor.execute("SELECT 1 FROM public.crf_auditchainlink WHERE table_name = %s LIMIT 1", [table])
                if cursor.fetchone() is None:
                    cursor.execute("SELECT public.trialsite_audit_chain_seal(%s)", [table])
                cursor.execute(
                    f"CREATE TRIGGER {CHAIN_TRIGGER} AFTER INSERT ON public.{q} "
                    f"FOR EACH ROW EXECUTE FUNCTION public.trialsite_audit_chain()"
                )


@dataclass
class Result:
    ok: bool
    tables: int = 0
    links: int = 0
    breaks: list[str] = field(default_factory=list)
    heads: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def first_break(self) -> str:
        return self.breaks[0] if self.breaks else ""


def _check_table(cursor: Any, table: str) -> tuple[int, list[Any] | None, str]:
    """(links, head [seq, hash], first break or "") of one event table's chain."""
    q = connection.ops.quote_name(table)
    # Only the columns the row had when it was linked: a column added later (a new field of the
    # tracked model) does not break old links; a column dropped or a value changed does.
    content = (
        "(SELECT pg_catalog.jsonb_object_agg(j.key, j.value) FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(e)) j "
        "WHERE j.key = ANY(l.columns))::TEXT"
    )
    recomputed = _HASH_EXPR.format(table="l.table_name", prev="l.prev_hash", content=content)
    cursor.execute(
        f"""
        WITH c AS (
            SELECT l.seq, l.event_id, l.prev_hash, l.hash, e.pgh_id IS NULL AS missing,
                   {recomputed} AS recomputed,
                   pg_catalog.lag(l.hash, 1, '') OVER w AS expected_prev,
                   pg_catalog.lag(l.seq, 1, 0::BIGINT) OVER w AS prev_seq
              FROM public.{CHAIN_TABLE} l LEFT JOIN public.{q} e ON e.pgh_id = l.event_id
             WHERE l.table_name = %s
            WINDOW w AS (ORDER BY l.seq)
        )
        SELECT (SELECT pg_catalog.count(*) FROM c), b.seq, b.event_id, b.missing,
               b.recomputed IS DISTINCT FROM b.hash, b.prev_hash <> b.expected_prev
          FROM (SELECT 1) one LEFT JOIN LATERAL (
                SELECT * FROM c
                 WHERE c.missing OR c.recomputed IS DISTINCT FROM c.hash OR c.prev_hash <> c.expected_prev
                    OR c.seq <> c.prev_seq + 1
                 ORDER BY c.seq LIMIT 1) b ON TRUE
        """,  # noqa: S608
        [table],
    )
    count, seq, event_id, missing, changed, relinked = cursor.fetchone()
    cursor.execute(
        "SELECT seq, hash FROM public.crf_auditchainlink WHERE table_name = %s ORDER BY seq DESC LIMIT 1", [table]
    )
    head = cursor.fetchone()
    head_pair = [int(head[0]), head[1]] if head else None
    if seq is not None:
        if missing:
            what = "event row removed"
        elif changed:
            what = "event row changed"
        elif relinked:
            what = "previous hash does not match"
        else:
            what = "link out of sequence"
        return count, head_pair, f"{table} link {seq} (event {event_id}): {what}"
    cursor.execute(
        f"SELECT pg_catalog.min(e.pgh_id) FROM public.{q} e WHERE NOT EXISTS "  # noqa: S608
        "(SELECT 1 FROM public.crf_auditchainlink l WHERE l.table_name = %s AND l.event_id = e.pgh_id)",
        [table],
    )
    unlinked = cursor.fetchone()[0]
    if unlinked is not None:
        return count, head_pair, f"{table} event {unlinked}: not in the chain (written with the triggers off)"
    return count, head_pair, ""


def heads_log(database: str | None = None) -> Path:
    """The heads log of `database` (default: the connection's), outside the database."""
    directory = Path(settings.AUDIT_HEADS_DIR)
    return directory / f"{database or connection.settings_dict['NAME']}.jsonl"


def current_heads(cursor: Any) -> dict[str, list[Any]]:
    """{event table: [seq, hash]} of every chain's last link, in the cursor's transaction (the
    backup manifest records them with the dump)."""
    cursor.execute(f"SELECT pg_catalog.to_regclass('public.{CHAIN_TABLE}') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return {}
    cursor.execute(
        f"SELECT DISTINCT ON (table_name) table_name, seq, hash FROM public.{CHAIN_TABLE} "  # noqa: S608
        "ORDER BY table_name, seq DESC"
    )
    return {table: [int(seq), digest] for table, seq, digest in cursor.fetchall()}


def record_restored_heads(database: str, heads: dict[str, list[Any]], *, source: str) -> Path:
    """After a restore, the restored chains' heads (checked equal to the backup manifest's) become
    the reference of `database`'s heads log, with the dump they came from: a restore of an older
    backup legitimately ends the chains earlier than the last verification recorded, and says so
    in the log instead of reading as a truncation."""
    path = heads_log(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "verified_at": timezone.now().isoformat(),
        "ok": True,
        "heads": heads,
        "breaks": [],
        "restored_from": source,
    }
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")
    return path


def last_recorded_heads() -> dict[str, list[Any]]:
    path = heads_log()
    if not path.exists():
        return {}
    last: dict[str, list[Any]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                last = json.loads(line)["heads"]
    return last


def _compare_with_recorded(cursor: Any, recorded: dict[str, list[Any]]) -> list[str]:
    breaks = []
    for table, (seq, digest) in sorted(recorded.items()):
        cursor.execute("SELECT hash FROM public.crf_auditchainlink WHERE table_name = %s AND seq = %s", [table, seq])
        row = cursor.fetchone()
        if row is None:
            breaks.append(f"{table} link {seq}: recorded head missing (chain truncated since last verification)")
        elif row[0] != digest:
            breaks.append(f"{table} link {seq}: differs from the head recorded outside the database (chain rewritten)")
    return breaks


def verify(*, tables: list[str], record: bool = True) -> Result:
    """Walk every chain; compare with, then append to, the heads log outside the database."""
    started = timezone.now()
    result = Result(ok=True)
    recorded = last_recorded_heads()
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:  # one snapshot for every table
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SET LOCAL TimeZone = 'UTC'")
        for table in tables:
            count, head, broken = _check_table(cursor, table)
            result.tables += 1
            result.links += count
            if head is not None:
                result.heads[table] = head
            if broken:
                result.breaks.append(broken)
        result.breaks.extend(_compare_with_recorded(cursor, recorded))
    result.ok = not result.breaks
    if record:
        _record(started, result, recorded)
    return result


def _record(started: datetime, result: Result, recorded: dict[str, list[Any]]) -> None:
    from crf.models import AuditVerification

    path = heads_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    # After a break the last good heads stay the reference, so the break is reported again.
    heads = result.heads if result.ok else recorded
    line = {"verified_at": started.isoformat(), "ok": result.ok, "heads": heads, "breaks": result.breaks}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")
    AuditVerification.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        ok=result.ok,
        tables=result.tables,
        links=result.links,
        first_break=result.first_break,
    )


# --- bulk loads (issue 29 item 6) ------------------------------------------------------------
#
# The trigger links one row at a time and upserts its table's head row for each: inside one
# transaction every upsert adds a version of the same head row that later look-ups walk, so a
# transaction writing n history rows to a table costs O(n²) (5,000 lab rows: 23 s, most of it
# here). A bulk load (the synthetic study generator) writes its rows with the chain trigger
# off inside its transaction and links them afterwards in one pass per table, in `pgh_id`
# order, with the same hash, content, columns and time as the trigger: the same chain, and the
# head written once.

BULK_LINK_SQL = f"""
CREATE OR REPLACE FUNCTION pg_temp.trialsite_audit_chain_bulk(tbl TEXT, after_id BIGINT) RETURNS BIGINT AS $$
DECLARE
    _prev TEXT;
    _seq BIGINT;
    _hash TEXT;
    _row RECORD;
    _n BIGINT := 0;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock({LOCK_CLASS}, pg_catalog.hashtext(tbl));
    SELECT h.hash, h.seq INTO _prev, _seq FROM public.{HEAD_TABLE} h WHERE h.table_name = tbl;
    _prev := COALESCE(_prev, '');
    _seq := COALESCE(_seq, 0);
    FOR _row IN EXECUTE pg_catalog.format(
        'SELECT e.pgh_id, pg_catalog.to_jsonb(e) AS content FROM public.%I e WHERE e.pgh_id > $1 ORDER BY e.pgh_id',
        tbl) USING after_id
    LOOP
        _seq := _seq + 1;
        _hash := {_HASH_EXPR.format(table="tbl", prev="_prev", content="_row.content::TEXT")};
        INSERT INTO public.{CHAIN_TABLE} (table_name, seq, event_id, prev_hash, hash, columns, linked_at)
        VALUES (tbl, _seq, _row.pgh_id, _prev, _hash,
                ARRAY(SELECT pg_catalog.jsonb_object_keys(_row.content) ORDER BY 1), pg_catalog.now());
        _prev := _hash;
        _n := _n + 1;
    END LOOP;
    IF _n > 0 THEN
        INSERT INTO public.{HEAD_TABLE} AS h (table_name, seq, hash) VALUES (tbl, _seq, _prev)
        ON CONFLICT (table_name) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash;
    END IF;
    RETURN _n;
END;
$$ LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp SET TimeZone = 'UTC';
"""  # noqa: S608


@contextmanager
def linked_after_load() -> Iterator[bool]:
    """Inside a transaction: turn the chain trigger off on every chained table for the block and
    link the history rows it wrote when it ends (one pass per table, the trigger's own links).
    Needs the tables' owner (or a superuser); otherwise the trigger stays on (yields False).
    The ALTERs are transactional: other sessions never see a table unchained."""
    if not connection.in_atomic_block:
        raise RuntimeError("linked_after_load() needs a transaction")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s ORDER BY 1",
            [CHAIN_TRIGGER],
        )
        tables = [row[0] for row in cursor.fetchall()]
        try:
            with transaction.atomic():
                for table in tables:
                    cursor.execute(
                        f"ALTER TABLE public.{connection.ops.quote_name(table)} DISABLE TRIGGER {CHAIN_TRIGGER}"
                    )
        except DatabaseError:
            tables = []
        if not tables:
            yield False
            return
        after = {}
        for table in tables:
            cursor.execute(f"SELECT COALESCE(max(pgh_id), 0) FROM public.{connection.ops.quote_name(table)}")  # noqa: S608
            after[table] = cursor.fetchone()[0]
        cursor.execute(BULK_LINK_SQL)
    yield True
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute("SELECT pg_temp.trialsite_audit_chain_bulk(%s, %s)", [table, after[table]])
            cursor.execute(f"ALTER TABLE public.{connection.ops.quote_name(table)} ENABLE TRIGGER {CHAIN_TRIGGER}")
