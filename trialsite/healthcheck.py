"""The web container's healthcheck (docker-compose.yml): GET http://127.0.0.1:8000/health/ with a
Host header the settings accept — the first of DJANGO_ALLOWED_HOSTS — so the same check passes
with the shipped `.env.example` (localhost) and in production (edc.example.org behind a TLS
proxy). `/health/` is exempt from the HTTPS redirect (SECURE_REDIRECT_EXEMPT). Exit 0 when
healthy (200), 1 otherwise."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

URL = "http://127.0.0.1:{port}/health/"


def host_header(env: dict[str, str] | os._Environ[str]) -> str:
    hosts = [h.strip() for h in env.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
    first = hosts[0] if hosts else "localhost"
    if first == "*":
        return "localhost"
    return first.lstrip(".")  # ".example.org" allows example.org and its subdomains


def main() -> int:
    request = urllib.request.Request(  # noqa: S310 (a fixed http URL on this container)
        URL.format(port=os.environ.get("PORT", "8000")), headers={"Host": host_header(os.environ)}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
