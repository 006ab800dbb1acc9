"""Test data loaded through the services once, then restored from a data-only dump (issue 20 item 2).

Loading the demo study writes ~2,500 forms through the services (a minute or more of CPU); every
xdist worker and every browser test that wants it used to pay that again. `restore_or_load(name,
load)` loads it once — the first process to take the file lock runs `load()` through the services
inside a transaction, copies every non-empty table (`COPY … TO`, history, audit chain and content
types included) to `.local/test/datacache/<name>-<key>/`, and rolls back — and then every process,
the loading one too, restores that copy into its own test database. The key is a hash of every
source file that can shape the rows (the apps' code and data, the translations, the requirements,
and the file holding `load`), so a change of code loads again; old copies are dropped.

The restore runs as the database owner on its own connection and commits (the suite's connection
is the application role, which may not switch triggers off): `session_replication_role = replica`
for the restore, so no trigger writes history or audit links a second time (the copy has them), the
content types and permissions are the copy's, and each sequence moves past the restored ids. The
rows stay until `remove()` truncates the copy's tables (a transactional test's flush does the same).
A restore checks itself: every table's row count and content hash equal the loaded transaction's,
and so does each history table's latest event (`Manifest.latest`). Restoring needs a superuser owner
(the embedded server's and the machine's `postgres` are): otherwise `restore_or_load` says so and
returns None, and the caller loads through the services as before.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from trialsite.embedded import LOCAL_DIR

CACHE_DIR = LOCAL_DIR / "test" / "datacache"
#: rows the migrated template holds; a copy carries them whole (their ids are what the copy's rows name)
BASE_TABLES = frozenset({"django_content_type", "auth_permission"})
#: never copied: what migrate recorded belongs to the database, not to the data
SKIPPED_TABLES = frozenset({"django_migrations"})
#: directories under the project whose files cannot shape stored rows
_NOT_CODE = frozenset({"tests", "bench", "docs", "templates", "static", "staticfiles", "artifacts", "schema_snapshots"})
_CODE_SUFFIXES = frozenset({".py", ".po", ".csv", ".json", ".txt", ".xml", ".yaml", ".yml"})
#: the hasher the suite uses (tests/conftest.py `fast_password_hashing`): a loaded account's
#: password hash is stored as it is, so every consumer of the copy must be able to check it
TEST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class NotRestorable(Exception):
    """The copy cannot be restored here (no superuser owner, or the database is not as expected)."""


@dataclass(frozen=True)
class Manifest:
    """What the loaded transaction held: per table its columns, rows and content hash; each history
    table's latest event; and the JSON result of `load()`."""

    directory: Path | None
    tables: dict[str, dict[str, Any]]
    latest: dict[str, list[Any]]
    result: Any

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        data = json.loads((directory / "manifest.json").read_text())
        return cls(directory, data["tables"], data["latest"], data["result"])

    def described(self) -> dict[str, dict[str, Any]]:
        """Per table: columns, rows, sha256 (what `snapshot` gives for the same rows)."""
        return {t: {k: e[k] for k in ("columns", "rows", "sha256")} for t, e in self.tables.items()}

    def rows(self) -> dict[str, int]:
        return {table: int(entry["rows"]) for table, entry in self.tables.items()}


def _project_files(base: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(base):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and d not in _NOT_CODE)
        if here == base:
            dirs[:] = [d for d in dirs if (base / d / "__init__.py").exists() or d == "locale"]
            files = [f for f in files if f.startswith("requirements") and f.endswith(".txt")]
        for name in sorted(files):
            if Path(name).suffix in _CODE_SUFFIXES:
                yield here / name


def code_hash(*extra: Path, base: Path | None = None) -> str:
    """SHA-256 over the files that can shape stored rows: every app's code and data files, the
    translation catalogues and the pinned requirements (not tests/, docs/, templates or static
    files), plus `extra` (the file holding the loader)."""
    base = base or Path(settings.BASE_DIR)
    digest = hashlib.sha256()
    for path in [*_project_files(base), *extra]:
        digest.update(str(path.relative_to(base) if path.is_relative_to(base) else path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_directory(name: str, load: Callable[[], Any], spec: str = "") -> Path:
    source = Path(inspect.getsourcefile(load) or "")
    extra = (source, Path(__file__)) if source.is_file() else (Path(__file__),)
    key = hashlib.sha256(f"{name}|{spec}|{code_hash(*extra)}".encode()).hexdigest()[:16]
    return CACHE_DIR / f"{name}-{key}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- reading a database ----------------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(cursor) -> list[str]:  # type: ignore[no-untyped-def]
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname"
    )
    return [row[0] for row in cursor.fetchall() if row[0] not in SKIPPED_TABLES]


def row_counts(cursor, tables: list[str]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    if not tables:
        return {}
    cursor.execute(" UNION ALL ".join(f"SELECT {i}, count(*) FROM {_quote(t)}" for i, t in enumerate(tables)))
    return {tables[i]: int(n) for i, n in cursor.fetchall()}


def _columns(cursor, table: str) -> list[str]:  # type: ignore[no-untyped-def]
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        [_quote(table)],
    )
    return [row[0] for row in cursor.fetchall()]


def _copy_out(cursor, table: str, columns: list[str]) -> bytes:  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    cursor.copy_expert(f"COPY (SELECT {', '.join(map(_quote, columns))} FROM {_quote(table)}) TO STDOUT", out)
    return out.getvalue()


def content_hash(copied: bytes) -> str:
    """The rows' hash whatever their physical order."""
    return hashlib.sha256(b"\n".join(sorted(copied.splitlines()))).hexdigest()


def latest_events(cursor, tables: list[str]) -> dict[str, list[Any]]:  # type: ignore[no-untyped-def]
    """Each non-empty history table's latest event: [pgh_id, pgh_label, pgh_obj_id]."""
    found = {}
    for table in tables:
        cursor.execute(f"SELECT pgh_id, pgh_label, pgh_obj_id::text FROM {_quote(table)} ORDER BY pgh_id DESC LIMIT 1")
        row = cursor.fetchone()
        if row is not None:
            found[table] = list(row)
    return found


def nonempty_tables(cursor) -> list[str]:  # type: ignore[no-untyped-def]
    return [t for t, n in row_counts(cursor, _tables(cursor)).items() if n]


def _described(cursor, tables: list[str]) -> Iterator[tuple[str, dict[str, Any], bytes]]:  # type: ignore[no-untyped-def]
    counts = row_counts(cursor, tables)
    for table in tables:
        columns = _columns(cursor, table)
        copied = _copy_out(cursor, table, columns)
        yield table, {"columns": columns, "rows": counts[table], "sha256": content_hash(copied)}, copied


def snapshot(cursor, tables: list[str]) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Columns, row count and content hash of each of `tables` as `cursor` sees them."""
    return {table: entry for table, entry, _copied in _described(cursor, tables)}


def history_tables() -> list[str]:
    from crf.dbroles import history_tables as tracked

    return tracked()


def describe_loaded(result: Any) -> Manifest:
    """The current transaction's non-empty tables and latest events, as a manifest with no copy
    (what a caller that loaded through the services records instead of a restore)."""
    with connection.cursor() as cursor:
        tables = snapshot(cursor, nonempty_tables(cursor))
        latest = latest_events(cursor, [t for t in history_tables() if t in tables])
    return Manifest(None, tables, latest, result)


#: name → the manifest of the copy restored last in this process (or of the load, without a copy)
RESTORED: dict[str, Manifest] = {}


# --- dump and restore ----------------------------------------------------------------------------


def _dump(directory: Path, result: Any) -> Manifest:
    """Copy every non-empty table of the current transaction into a new `directory`."""
    partial = directory.with_name(f"{directory.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    tables: dict[str, dict[str, Any]] = {}
    with connection.cursor() as cursor:
        for i, (table, entry, copied) in enumerate(_described(cursor, nonempty_tables(cursor))):
            filename = f"{i:03d}.copy"
            (partial / filename).write_bytes(copied)
            tables[table] = {**entry, "file": filename}
        latest = latest_events(cursor, [t for t in history_tables() if t in tables])
    manifest = {"tables": tables, "latest": latest, "result": result}
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    shutil.rmtree(directory, ignore_errors=True)
    partial.replace(directory)  # an interrupted dump is never taken for a copy
    return Manifest.read(directory)


def _owner_connection(owner: tuple[str, str]):  # type: ignore[no-untyped-def]
    """A psycopg2 connection to the test database as `owner` (the `db_owner` fixture's (user,
    password)), reached as Django reaches the server."""
    import psycopg2

    from dbtools import pgtools

    env = pgtools.libpq_env(connection.settings_dict)
    return psycopg2.connect(
        host=env.get("PGHOST"),
        port=env.get("PGPORT"),
        user=owner[0],
        password=owner[1] or None,
        dbname=connection.settings_dict["NAME"],
    )


def is_superuser(cursor) -> bool:  # type: ignore[no-untyped-def]
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = cursor.fetchone()
    return bool(row and row[0])


def restore(manifest: Manifest, owner: tuple[str, str]) -> None:
    """Restore the copy into the test database, committed, as the owner with triggers off; then
    check every table against the manifest. Raises NotRestorable when the owner is no superuser."""
    from django.contrib.contenttypes.models import ContentType

    conn = _owner_connection(owner)
    try:
        with conn.cursor() as cursor:
            if not is_superuser(cursor):
                raise NotRestorable(f"the database owner {owner[0]!r} is not a superuser")
            cursor.execute("SET LOCAL session_replication_role = replica")
            data_tables = [t for t in manifest.tables if t not in BASE_TABLES]
            leftover = [t for t, n in row_counts(cursor, data_tables).items() if n]
            if leftover:  # an interrupted --reuse-db run committed rows and never removed them
                print(f"datacache: emptied {len(leftover)} tables left by an earlier run", flush=True)
                cursor.execute(f"TRUNCATE {', '.join(map(_quote, leftover))} CASCADE")
            assert manifest.directory is not None, "a manifest without a copy"
            for table, entry in manifest.tables.items():
                if table in BASE_TABLES:
                    cursor.execute(f"DELETE FROM {_quote(table)}")
                with (manifest.directory / entry["file"]).open("rb") as source:
                    cursor.copy_expert(
                        f"COPY {_quote(table)} ({', '.join(map(_quote, entry['columns']))}) FROM STDIN", source
                    )
            _move_sequences(cursor, list(manifest.tables))
            cursor.execute("SET LOCAL session_replication_role = origin")
            restored = snapshot(cursor, list(manifest.tables))
            expected = manifest.described()
            if restored != expected:
                differ = sorted(t for t in expected if restored.get(t) != expected[t])
                raise AssertionError(f"the restored copy {manifest.directory.name} differs in {differ}")
        conn.commit()
    finally:
        conn.close()
    ContentType.objects.clear_cache()  # the copy's content type ids, not this process's cached ones


def _move_sequences(cursor, tables: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Each sequence owned by a restored table's column set past the largest restored value."""
    cursor.execute(
        "SELECT c.relname, a.attname, pg_get_serial_sequence(quote_ident(c.relname), a.attname) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE n.nspname = 'public' AND c.relname = ANY(%s) "
        "AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL",
        [tables],
    )
    for table, column, sequence in cursor.fetchall():
        cursor.execute(
            f"SELECT setval(%s, GREATEST((SELECT max({_quote(column)}) FROM {_quote(table)}), "
            f"(SELECT last_value FROM {sequence})))",
            [sequence],
        )


def remove(manifest: Manifest, owner: tuple[str, str]) -> None:
    """Empty the copy's tables (not the content types and permissions: a test database has them)."""
    from django.contrib.contenttypes.models import ContentType

    conn = _owner_connection(owner)
    try:
        with conn.cursor() as cursor:
            # DELETE with triggers off: no history of the deletion, no foreign-key checks (every
            # table the copy filled is emptied); a TRUNCATE of ~100 tables costs seconds more
            cursor.execute("SET LOCAL session_replication_role = replica")
            for table in manifest.tables:
                if table not in BASE_TABLES:
                    cursor.execute(f"DELETE FROM {_quote(table)}")
        conn.commit()
    finally:
        conn.close()
    ContentType.objects.clear_cache()


def restore_or_load(name: str, load: Callable[[], Any], *, owner: tuple[str, str], spec: str = "") -> Manifest | None:
    """Restore the copy of `load()`'s rows (loading and copying it first if there is none for the
    current code), committed. `load` runs as the suite's connection's user inside a transaction
    that is rolled back, with the suite's password hasher; it returns a JSON value kept in the
    manifest (`Manifest.result`). Returns None, having restored nothing, when this database cannot
    restore a copy (the caller then loads through the services, as before)."""
    from django.test.utils import override_settings

    conn = _owner_connection(owner)
    try:
        with conn.cursor() as cursor:
            superuser = is_superuser(cursor)
    finally:
        conn.close()
    if not superuser:
        print(
            f"datacache: {name} loaded through the services: the database owner {owner[0]!r} is not "
            "a superuser, so a copy cannot be restored with its triggers off",
            flush=True,
        )
        return None
    directory = cache_directory(name, load, spec)
    with _locked(directory.with_name(f"{name}.lock")):
        if (directory / "manifest.json").exists():
            manifest = Manifest.read(directory)
        else:
            with transaction.atomic(), override_settings(PASSWORD_HASHERS=TEST_HASHERS):
                manifest = _dump(directory, load())
                transaction.set_rollback(True)
            for old in directory.parent.glob(f"{name}-*"):
                if old != directory:
                    shutil.rmtree(old, ignore_errors=True)
    restore(manifest, owner)
    RESTORED[name] = manifest
    return manifest
