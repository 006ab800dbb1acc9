"""A private PostgreSQL server for fault tests (never the shared one on 5432): its own data
directory, a free loopback port, trust authentication for the superuser `postgres`. The
machine's PostgreSQL binaries are used, else those bundled with the `pgserver` package. As root
the server runs as the `postgres` system user (initdb refuses root). Where /dev/null is not the
null device (seen on a shared CI box: a regular file only root may write, which breaks initdb's
shell redirections), the server's commands run in a private mount namespace with a real null
device bound over it; nothing outside that namespace changes."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import free_port


def postgres_bin() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    import pgserver  # type: ignore[import-not-found]

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


class PrivatePostgres:
    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="trialsite-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self.null_device: Path | None = None
        if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
            self.null_device = self.dir / "null"
            os.mknod(self.null_device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            os.chmod(self.null_device, 0o666)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        if self.null_device is not None:
            bind = 'mount --bind "$0" /dev/null && exec "$@"'
            command = ["unshare", "-m", "sh", "-c", bind, str(self.null_device), *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        # No fsync: a shared CI disk; a fast stop still checkpoints, and no test crashes the host.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}"
            " -c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def create_database(self, name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url("postgres"))
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        conn.close()

    def copy_database(self, source: dict, name: str) -> None:
        """Create `name` here as a copy (pg_dump, read only) of the migrated database that
        `source` (a Django settings_dict) names: a migration from scratch takes minutes on a
        loaded machine, the copy seconds. Owners and grants are left out; `ensure_app_role`
        grants the application role afterwards, as `setup_database` does."""
        self.create_database(name)
        env = {**os.environ, "PGPASSWORD": source.get("PASSWORD") or ""}
        dump = subprocess.run(
            [
                str(self.bin / "pg_dump"),
                "--no-owner",
                "--no-privileges",
                "-h",
                source.get("HOST") or "127.0.0.1",
                "-p",
                str(source.get("PORT") or 5432),
                "-U",
                source["USER"],
                source["NAME"],
            ],
            capture_output=True,
            env=env,
            timeout=180,
        )
        if dump.returncode != 0:
            raise RuntimeError(f"pg_dump failed: {dump.stderr.decode()}")
        restore = subprocess.run(
            [str(self.bin / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-X", self.url(name)],
            input=dump.stdout,
            capture_output=True,
            timeout=180,
        )
        if restore.returncode != 0:
            raise RuntimeError(f"restore failed: {restore.stderr.decode()}")

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
