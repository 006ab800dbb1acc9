"""`make test`: run pytest against PostgreSQL (DATABASE_URL if set, else embedded) and Redis
(REDIS_URL if set, else embedded). pytest's "no tests collected" (exit 5) counts as failure.

Before pytest starts, the migrated template database is built if the migrations changed
(trialsite.testdb), so each run's test database is a copy made in about a second. The time taken
is printed at the end."""

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


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    for key, value in TEST_ENV.items():
        env.setdefault(key, value)
    started = time.monotonic()
    # matplotlib's font list cached for this checkout, built from the fonts installed now: a
    # shared ~/.cache/matplotlib written before fonts-noto-cjk was installed lacks the CJK family.
    env.setdefault("MPLCONFIGDIR", str(LOCAL_DIR / "test" / "matplotlib"))
    services = ensure_services(env, local_dir=LOCAL_DIR / "test")
    try:
        code = 0
        if "--reuse-db" not in argv and "--help" not in argv:
            code = subprocess.call(
                [sys.executable, "-m", "trialsite.testdb"], env={**env, "DJANGO_SETTINGS_MODULE": "trialsite.settings"}
            )
        if code == 0:
            code = subprocess.call([sys.executable, "-m", "pytest", *argv], env=env)
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
