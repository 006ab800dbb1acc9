"""`/health/`: database, Redis and worker reachability as JSON; 200 only when all are up. It also
shows the last audit chain verification (`audit_chain`, issue 21)."""

from __future__ import annotations

import redis
from celery import Celery
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from trialsite.services_urls import celery_broker_url, redis_client_url

CHECK_TIMEOUT_SECONDS = 2.0


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return "down"
    return "up"


def check_redis() -> str:
    try:
        client = redis.Redis.from_url(
            redis_client_url(settings.REDIS_URL),
            socket_timeout=CHECK_TIMEOUT_SECONDS,
            socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return "down"
    return "up"


def check_worker() -> str:
    """Ping the workers through the broker the settings name now.

    A throw-away Celery app is used, not the project's: the project app publishes control
    messages through a producer pool bound to the broker it first connected to, and retries a
    publish to a broker that has gone away forever, so a probe through it could hang."""
    probe = Celery("trialsite-health", broker=celery_broker_url(settings.CELERY_BROKER_URL), set_as_current=False)
    probe.conf.accept_content = ["json"]
    try:
        with probe.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
            replies = probe.control.ping(timeout=CHECK_TIMEOUT_SECONDS, connection=conn)
    except Exception:  # kombu raises many transport-specific errors; any of them means "down"
        return "down"
    finally:
        probe.close()
    return "up" if replies else "down"


def last_audit_verification() -> dict[str, object] | None:
    """The last `verify_audit` result (issue 21); None before the first run or without a database."""
    from crf.models import AuditVerification

    try:
        last = AuditVerification.objects.order_by("-started_at", "-pk").first()
    except DatabaseError:
        return None
    if last is None:
        return None
    return {
        "verified_at": last.started_at.isoformat(),
        "ok": last.ok,
        "tables": last.tables,
        "links": last.links,
        "first_break": last.first_break,
    }


@never_cache
@require_GET
@transaction.non_atomic_requests
def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": check_database(), "redis": check_redis()}
    checks["worker"] = check_worker() if checks["redis"] == "up" else "down"
    ok = all(v == "up" for v in checks.values())
    body: dict[str, object] = {"status": "ok" if ok else "degraded", "checks": checks}
    if checks["database"] == "up":
        body["audit_chain"] = last_audit_verification()
    return JsonResponse(body, status=200 if ok else 503)
