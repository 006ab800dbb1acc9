"""`/health/`: database, Redis and worker reachability as JSON; 200 only when all are up."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from trialsite.celery import app as celery_app
from trialsite.services_urls import redis_client_url

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
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
            replies = celery_app.control.ping(timeout=CHECK_TIMEOUT_SECONDS, connection=conn)
    except Exception:  # kombu raises many transport-specific errors; any of them means "down"
        return "down"
    return "up" if replies else "down"


@never_cache
@require_GET
@transaction.non_atomic_requests
def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": check_database(), "redis": check_redis()}
    checks["worker"] = check_worker() if checks["redis"] == "up" else "down"
    ok = all(v == "up" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503)
