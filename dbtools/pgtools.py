"""The PostgreSQL client programs (`pg_dump`, `pg_restore`, `psql`) for the server in use, reached
with the connection settings Django uses.

Which program: the one whose major version matches the server's. Candidates, in order:
`PG_BINDIR` if set, the embedded server's own binaries (pgserver's `pginstall/bin`, what `make run`
and `make test` start with DATABASE_URL unset), Debian's `/usr/lib/postgresql/<major>/bin`, then
PATH. A `pg_dump` older than the server refuses to dump it, and a `pg_restore` newer than the
server may write settings the server does not know, so only the server's own major version is
taken; otherwise a clear error says what was found and what to install.

How to reach the server: host (or the socket directory, which a URL's `?host=` query puts into
OPTIONS), port, user, password and database name from the connection's settings, passed as
libpq's PG* environment variables so no password appears on a command line.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


class ToolNotFound(ImproperlyConfigured):
    pass


def embedded_bindir() -> Path | None:
    """pgserver's bundled PostgreSQL binaries, when the package is installed."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bindir if bindir.is_dir() else None


@cache
def tool_major(path: str) -> int | None:
    """The major version a client program reports (`pg_dump (PostgreSQL) 16.2` → 16)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except OSError:
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def server_major(connection: BaseDatabaseWrapper = default_connection) -> int:
    connection.ensure_connection()
    return int(connection.pg_version) // 10000  # type: ignore[attr-defined]


def candidates(name: str, major: int) -> list[Path]:
    dirs: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        dirs.append(Path(os.environ["PG_BINDIR"]))
    embedded = embedded_bindir()
    if embedded is not None:
        dirs.append(embedded)
    dirs.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    found = [d / name for d in dirs if (d / name).is_file() and os.access(d / name, os.X_OK)]
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def find_tool(name: str, connection: BaseDatabaseWrapper = default_connection) -> str:
    """The path of client program `name` matching the server's major version, or ToolNotFound."""
    major = server_major(connection)
    seen = []
    for path in candidates(name, major):
        version = tool_major(str(path))
        if version == major:
            return str(path)
        seen.append(f"{path} (PostgreSQL {version})")
    raise ToolNotFound(
        f"{name} for PostgreSQL {major} (the server in use) was not found; "
        f"found: {', '.join(seen) or 'none'}. Install the PostgreSQL {major} client programs "
        f"(Debian: postgresql-client-{major}) or set PG_BINDIR to their directory."
    )


def libpq_env(settings_dict: dict[str, Any] | None = None, *, dbname: str | None = None) -> dict[str, str]:
    """The environment reaching the database the way Django does (PGHOST, PGPORT, PGUSER,
    PGPASSWORD, PGDATABASE, and PGSSLMODE when set), on top of this process's environment."""
    db = settings_dict if settings_dict is not None else default_connection.settings_dict
    options = db.get("OPTIONS") or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    values = {
        "PGHOST": db.get("HOST") or options.get("host"),
        "PGPORT": db.get("PORT") or options.get("port"),
        "PGUSER": db.get("USER") or options.get("user"),
        "PGPASSWORD": db.get("PASSWORD") or options.get("password"),
        "PGDATABASE": dbname or db.get("NAME"),
        "PGSSLMODE": options.get("sslmode"),
        "PGCONNECT_TIMEOUT": options.get("connect_timeout"),
    }
    env.update({key: str(value) for key, value in values.items() if value not in (None, "")})
    return env


def run(
    name: str,
    *args: str,
    connection: BaseDatabaseWrapper = default_connection,
    dbname: str | None = None,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """Run client program `name` against the connection's server (check=True)."""
    tool = find_tool(name, connection)
    env = libpq_env(connection.settings_dict, dbname=dbname)
    return subprocess.run([tool, *args], env=env, check=True, **kwargs)
