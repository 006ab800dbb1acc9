"""`make test`: run pytest against PostgreSQL (DATABASE_URL if set, else embedded) and Redis
(REDIS_URL if set, else embedded). pytest's "no tests collected" (exit 5) counts as failure.

Before pytest starts, the migrated template database is built if the migrations changed
(trialsite.testdb), so each run's test database is a copy made in about a second. The time taken
is printed at the end.

The suite runs in parallel processes (pytest-xdist): `TEST_WORKERS` of them (default: one per
CPU, at most 4; `TEST_WORKERS=0` runs in this process). Each worker has its own test database
(`test_<name>_gw<N>`, copied from the template), its own demo study and live-server port; the
tests that need Redis or Celery start private servers on free ports. A run that selects by hand
(`--reuse-db`, `-n`/`-p no:xdist`, or a single test id) is not split.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from trialsite.embedded import LOCAL_DIR, ensure_services

TEST_ENV = {
    "DJANGO_SECRET_KEY": "test-only-secret-key-not-for-production-0123456789abcdef",
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_COOKIES": "0",
    "STATIC_MANIFEST": "0",
}


def workers(argv: list[str], env: dict[str, str]) -> int:
    """How many xdist workers: 0 (no split) when the caller chose, else TEST_WORKERS or
    min(CPUs, 4). `--reuse-db` keeps one process: its kept database is per process."""
    if any(a in ("-n", "--numprocesses", "--reuse-db", "--pdb") or a.startswith("--numprocesses=") for a in argv):
        return 0
    if any(a.startswith("-n") and not a.startswith("--") for a in argv) or "no:xdist" in argv:
        return 0
    if any("::" in a for a in argv):  # one test or a few: starting workers costs more
        return 0
    wanted = env.get("TEST_WORKERS", "")
    if wanted:
        return max(0, int(wanted))
    return max(1, min(os.cpu_count() or 1, 4))


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    for key, value in TEST_ENV.items():
        env.setdefault(key, value)
    started = time.monotonic()
    # matplotlib's font list cached for this checkout, built from the fonts installed now: a
    # shared ~/.cache/matplotlib written before fonts-noto-cjk was installed lacks the CJK family.
    env.setdefault("MPLCONFIGDIR", str(LOCAL_DIR / "test" / "matplotlib"))
    # The compiled catalogue before any test reads it: a test that finds it stale compiles it
    # (tests/labs/conftest.py), and a worker that loaded the stale one meanwhile keeps it.
    from trialsite import i18n

    if i18n.compile_if_stale():
        print("make test: compiled the translation catalogue (it was older than the .po)", flush=True)
    services = ensure_services(env, local_dir=LOCAL_DIR / "test", disposable=True)
    if argv == ["--schema-snapshot"]:  # `make schema-snapshot`: see trialsite.testdb
        try:
            return subprocess.call(
                [sys.executable, "-m", "trialsite.testdb", "--snapshot"],
                env={**env, "DJANGO_SETTINGS_MODULE": "trialsite.settings"},
            )
        finally:
            services.stop()
    try:
        code = 0
        if "--reuse-db" not in argv and "--help" not in argv:
            code = subprocess.call(
                [sys.executable, "-m", "trialsite.testdb"], env={**env, "DJANGO_SETTINGS_MODULE": "trialsite.settings"}
            )
        if code == 0:
            n = workers(argv, env)
            # worksteal: a worker that runs out takes pending tests from the other, so the run
            # does not end with one worker busy on its queue while the other idles
            split = ["-n", str(n), "--dist", "worksteal"] if n > 1 else []
            if split:
                print(f"make test: pytest in {n} worker processes (TEST_WORKERS=0 for one)", flush=True)
            code = subprocess.call([sys.executable, "-m", "pytest", *split, *argv], env=env)
    finally:
        services.stop()
        minutes, seconds = divmod(round(time.monotonic() - started), 60)
        print(f"make test: {minutes} min {seconds:02d} s in all (services, template check, pytest)", flush=True)
    if code == 5:
        print("pytest collected no tests: failing on purpose", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
