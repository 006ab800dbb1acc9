"""`make run`: everything a newcomer needs to try TrialSite on one machine.

Starts the embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL are set, migrates,
loads the demo study, then runs the web server (gunicorn), a Celery worker, Celery beat and the
outbox relay until Ctrl-C. Data stays in .local/ for the next run. For trying the system, not
for production (see docker-compose.yml for that).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from trialsite.embedded import LOCAL_DIR, ensure_services, local_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def app_role_url(owner_url: str, role: str) -> str:
    """The owner's URL with the application role as user (password from DB_APP_PASSWORD)."""
    parts = urlsplit(owner_url)
    password = os.environ.get("DB_APP_PASSWORD", "")
    host = parts.hostname or ""
    netloc = f"{role}:{quote(password)}@{host}" if password else f"{role}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _run(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def main() -> int:
    env = dict(os.environ)
    port = env.get("PORT", "8000")
    host = env.get("HOST", "127.0.0.1")
    print("TrialSite: starting (embedded services unless DATABASE_URL / REDIS_URL are set)…", flush=True)
    services = ensure_services(env)
    env.setdefault("DJANGO_SECRET_KEY", local_secret_key())
    # Plain HTTP on this machine: no TLS redirect, no secure-only cookies.
    env.setdefault("SECURE_SSL_REDIRECT", "0")
    env.setdefault("SECURE_COOKIES", "0")
    env.setdefault("SECURE_HSTS_SECONDS", "0")
    env.setdefault("DJANGO_ALLOWED_HOSTS", f"localhost,127.0.0.1,{host}")
    env.setdefault("MEDIA_ROOT", str(LOCAL_DIR / "media"))
    # The demo's safety alerts (SAEs, CRS/ICANS grade ≥ 3, the confirmed DLT) are e-mailed by the
    # worker: printed to this console, never sent, unless EMAIL_BACKEND is set explicitly.
    env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    children: list[subprocess.Popen[bytes]] = []
    try:
        # Migrations and the demo load run as the owner; everything that serves runs as the
        # application role (DESIGN §4 "Audit trail").
        owner_env = dict(env)
        _run(owner_env, "setup_database")
        _run(owner_env, "collectstatic", "--noinput", "-v", "0")
        _run(owner_env, "load_demo_study", "--with-demo-accounts")
        # Installation qualification (docs/validation/README.md): reported, and kept in .local/.
        iq = subprocess.run(
            [sys.executable, "manage.py", "check_installation", "--output", str(LOCAL_DIR / "installation.txt")],
            cwd=BASE_DIR,
            env=owner_env,
            capture_output=True,
            text=True,
        )
        print(f"Installation check: {(iq.stdout.strip().splitlines() or ['no report'])[-1]}", flush=True)
        env["DATABASE_URL"] = app_role_url(env["DATABASE_URL"], env.get("DB_APP_ROLE", "trialsite_app"))
        commands = [
            [str(BIN / "gunicorn"), "trialsite.wsgi", "-b", f"{host}:{port}", "-w", "2", "--timeout", "60"],
            [str(BIN / "celery"), "-A", "trialsite", "worker", "-c", "1", "-l", "warning"],
            [str(BIN / "celery"), "-A", "trialsite", "beat", "-l", "warning", "-s", str(LOCAL_DIR / "celerybeat")],
        ]
        if (BASE_DIR / "crf" / "management" / "commands" / "outbox_relay.py").exists():
            commands.append([sys.executable, "manage.py", "outbox_relay"])
        for command in commands:
            children.append(subprocess.Popen(command, cwd=BASE_DIR, env=env, start_new_session=True))
        from demo.definition import DEMO_PASSWORD, USERS

        print(
            f"\nTrialSite is running at http://{'localhost' if host == '127.0.0.1' else host}:{port}/\n"
            f"Demo accounts (password {DEMO_PASSWORD}): {', '.join(u[0] for u in USERS)}\n"
            "This embedded setup is for trying the system, not for production.\n"
            "Ctrl-C stops it; data stays in .local/.\n",
            flush=True,
        )
        stop = {"now": False}

        def _stop(signum: int, frame: object) -> None:
            stop["now"] = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        while not stop["now"]:
            for child in children:
                if child.poll() is not None:
                    print(f"TrialSite: {child.args[0]} exited with {child.returncode}; stopping.", flush=True)
                    stop["now"] = True
            time.sleep(0.5)
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        services.stop()
        print("TrialSite: stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
