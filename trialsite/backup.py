"""Backups: one consistent dump of the data and the audit history together, and its restore.

`backup` opens a REPEATABLE READ transaction, exports its snapshot, counts every table's rows in
it, and runs `pg_dump --snapshot` on that same snapshot: the dump (custom format: schema, data,
the history tables, their triggers and functions) and the row counts in its manifest describe
one instant. Beside the dump go `<dump>.sha256` (`sha256sum -c` checks it) and
`<dump>.manifest.json` (database, server and pg_dump versions, time, size, SHA-256, rows per
table, and the audit hash chains' heads — each event table's last link [seq, hash] in the same
snapshot: a copy of the heads outside the database, issue 21).

`restore` checks the SHA-256, refuses a database that already has tables, restores in one
transaction as the connecting user (the owner), then re-applies what belongs to this
installation rather than to the dump — the append-only guards and the application role's
privileges (crf.dbroles) — and compares every table's row count with the manifest, and
the restored chains' heads with the manifest's; equal, they are appended to the restored
database's heads log (`AUDIT_HEADS_DIR`, marked `restored_from`), so `verify_audit` after a
restore walks intact chains and agrees with the log.
Triggers are restored after the data (pg_dump's post-data section), so loading writes no
history of its own, and they fire again for every write after the restore.

`python -m trialsite.backup` (what `make backup` runs) starts the embedded PostgreSQL of
`make run` when DATABASE_URL is unset, then runs `manage.py backup`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import connection as default_connection
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from crf import auditchain, dbroles
from dbtools import pgtools


class BackupError(Exception):
    pass


@dataclass(frozen=True)
class Backup:
    dump: Path
    sha256: str
    manifest: Path
    rows: dict[str, int]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def row_counts(cursor: Any, quote: Any) -> dict[str, int]:
    """Rows per ordinary table of the public schema, in the cursor's transaction."""
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname"
    )
    tables = [row[0] for row in cursor.fetchall()]
    if not tables:
        return {}
    cursor.execute(
        " UNION ALL ".join(f"SELECT {i}, count(*) FROM {quote(t)}" for i, t in enumerate(tables))  # noqa: S608
    )
    return {tables[i]: int(n) for i, n in cursor.fetchall()}


def backup(directory: Path, *, connection: BaseDatabaseWrapper = default_connection) -> Backup:
    directory.mkdir(parents=True, exist_ok=True)
    database = str(connection.settings_dict["NAME"])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dump = directory / f"trialsite-{database}-{stamp}.dump"
    partial = dump.with_suffix(".partial")
    tool = pgtools.find_tool("pg_dump", connection)
    # A connection of its own, holding the snapshot pg_dump reads.
    wrapper = type(connections[connection.alias])
    holder = wrapper({**connection.settings_dict}, alias="trialsite-backup")
    try:
        holder.ensure_connection()
        holder.connection.autocommit = False
        with holder.connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            snapshot, server_version = cursor.fetchone()
            rows = row_counts(cursor, holder.ops.quote_name)
            heads = auditchain.current_heads(cursor)
            subprocess.run(
                [tool, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}", f"-f{partial}"],
                env=pgtools.libpq_env(connection.settings_dict),
                check=True,
            )
        holder.connection.rollback()
    finally:
        holder.close()
    partial.replace(dump)
    digest = sha256_of(dump)
    (directory / f"{dump.name}.sha256").write_text(f"{digest}  {dump.name}\n", encoding="utf-8")
    manifest = directory / f"{dump.name}.manifest.json"
    version = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    document = {
        "dump": dump.name,
        "sha256": digest,
        "bytes": dump.stat().st_size,
        "database": database,
        "server_version": server_version,
        "pg_dump": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows,
        "audit_heads": heads,
    }
    manifest.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return Backup(dump=dump, sha256=digest, manifest=manifest, rows=rows)


def read_manifest(dump: Path) -> dict[str, Any]:
    path = dump.with_name(f"{dump.name}.manifest.json")
    if not path.exists():
        raise BackupError(f"{path.name} is missing: restore needs the manifest written with the dump.")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def restore(
    dump: Path, *, connection: BaseDatabaseWrapper = default_connection, dbname: str | None = None
) -> dict[str, int]:
    """Restore `dump` into the empty database `dbname` (default: the connection's) on the
    connection's server, as the connection's user. Returns the rows per table, equal to the
    manifest's (BackupError otherwise, or on a checksum mismatch or a non-empty database)."""
    manifest = read_manifest(dump)
    digest = sha256_of(dump)
    if digest != manifest["sha256"]:
        raise BackupError(f"{dump.name}: SHA-256 {digest} differs from the manifest's {manifest['sha256']}.")
    target = type(connections[connection.alias])(
        {**connection.settings_dict, "NAME": dbname or connection.settings_dict["NAME"]}, alias="trialsite-restore"
    )
    try:
        with target.cursor() as cursor:
            if row_counts(cursor, target.ops.quote_name):
                raise BackupError(f"database {target.settings_dict['NAME']} has tables: restore needs an empty one.")
        target.close()
        tool = pgtools.find_tool("pg_restore", target)
        subprocess.run(
            [
                tool,
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={target.settings_dict['NAME']}",
                str(dump),
            ],
            env=pgtools.libpq_env(target.settings_dict),
            check=True,
        )
        # What belongs to this installation, not to the dump: append-only guards and the
        # application role's privileges.
        dbroles.harden(target)
        dbroles.ensure_app_role(target, os.environ.get("DB_APP_PASSWORD") or None)
        with target.cursor() as cursor:
            rows = row_counts(cursor, target.ops.quote_name)
            heads = auditchain.current_heads(cursor)
    finally:
        target.close()
    if rows != manifest["rows"]:
        differ = sorted(t for t in set(rows) | set(manifest["rows"]) if rows.get(t) != manifest["rows"].get(t))
        raise BackupError(f"restored row counts differ from the manifest in: {', '.join(differ)}")
    if "audit_heads" in manifest:
        if heads != manifest["audit_heads"]:
            differ = sorted(
                t for t in set(heads) | set(manifest["audit_heads"]) if heads.get(t) != manifest["audit_heads"].get(t)
            )
            raise BackupError(f"restored audit chain heads differ from the manifest in: {', '.join(differ)}")
        auditchain.record_restored_heads(str(target.settings_dict["NAME"]), heads, source=dump.name)
    return rows


def main(argv: list[str]) -> int:
    """`make backup`: `manage.py backup` against DATABASE_URL, or `make run`'s embedded data."""
    from trialsite.embedded import ensure_services, local_secret_key

    env = dict(os.environ)
    env.setdefault("DJANGO_SECRET_KEY", local_secret_key())
    services = ensure_services(env)
    try:
        base = Path(__file__).resolve().parent.parent
        return subprocess.call([sys.executable, "manage.py", "backup", *argv], cwd=base, env=env)
    finally:
        services.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
