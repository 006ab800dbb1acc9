"""`make test`: run pytest against PostgreSQL (DATABASE_URL if set, else embedded) and Redis
(REDIS_URL if set, else embedded). pytest's "no tests collected" (exit 5) counts as failure."""

from __future__ import annotations

import os
import subprocess
import sys

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
    services = ensure_services(env, local_dir=LOCAL_DIR / "test")
    try:
        code = subprocess.call([sys.executable, "-m", "pytest", *argv], env=env)
    finally:
        services.stop()
    if code == 5:
        print("pytest collected no tests: failing on purpose", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
