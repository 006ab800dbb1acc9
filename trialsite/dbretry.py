"""A request whose transaction PostgreSQL chose as a deadlock victim runs again (issue 21).

Why a retry, not a lock order. Every audited write takes the audit hash chain's per-table
advisory lock (`crf.auditchain`, `pg_advisory_xact_lock(21, hashtext(table))`) when its
history row is inserted, and holds it to the end of the request's transaction
(`ATOMIC_REQUESTS`). Two requests that write the same two audited tables in opposite orders (T1:
table A then B; T2: B then A) each hold one lock and wait for the other: PostgreSQL detects the
cycle after `deadlock_timeout` and aborts one of them with SQLSTATE 40P01, which reached the user
as a failed save (`tests/trialsite/test_chain_deadlock.py` shows it). A lock scheme that cannot
deadlock would need every transaction to take its chain locks in one global order, but the
tables a request writes are only known as it writes them (a save re-derives dependants, raises
queries, alerts, signature breaks…); one global chain lock would remove the chain-vs-chain cycle
but not the cycle between it and ordinary row locks (`SELECT … FOR UPDATE` on a subject), and
it would serialise every audited write in the application. Deferring the linking to commit time
(a deferred constraint trigger) would change when links exist, and tests that run in a
rolled-back transaction would never see them. A deadlock victim's transaction is rolled back
whole — nothing of it was saved — so running the whole request again is safe and the one place
that covers every cause of a deadlock, not only the chain's.

How. `DeadlockRetryMiddleware.process_view` runs the view itself inside the request transaction
that Django would have opened (`ATOMIC_REQUESTS`; a view marked `non_atomic_requests` is left to
Django), and on SQLSTATE 40P01 (deadlock detected) or 40001 (serialization failure) rolls back and
runs it again, up to `ATTEMPTS` times, after a short random pause so the two victims do not meet
again. The request body is read into memory first so that the retry parses it again (an upload
too large for memory is not retried), and uploaded files are rewound. Only the database work is
undone: a view must not do work outside the database before its transaction commits (the
outbox exists for that — e-mails and tasks are enqueued in the transaction). Celery tasks are
not requests: their own `autoretry_for=(OperationalError, …)` covers them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError, connections, transaction
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

ATTEMPTS = 3
RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE behind a database error, if any (psycopg2 `pgcode`, psycopg 3 `sqlstate`)."""
    cause: BaseException | None = exc
    while cause is not None:
        code = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
        if code:
            return str(code)
        cause = cause.__cause__
    return None


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and sqlstate(exc) in RETRY_SQLSTATES


def _atomic_aliases(view: Callable[..., Any]) -> list[str]:
    non_atomic = getattr(view, "_non_atomic_requests", set())
    return [
        alias
        for alias, settings_dict in connections.settings.items()
        if settings_dict.get("ATOMIC_REQUESTS") and alias not in non_atomic
    ]


def _replayable(request: HttpRequest) -> bool:
    """Keep the body so a second run of the view can parse it again."""
    if request.content_type == "multipart/form-data":
        return True  # Django parses POST and FILES once and keeps them; files are rewound
    try:
        request.body  # noqa: B018 (reads and keeps the body)
    except RequestDataTooBig:
        return False
    return True


def _rewind(request: HttpRequest) -> None:
    if request.content_type == "multipart/form-data" and hasattr(request, "_files"):
        for upload in request.FILES.values():
            upload.seek(0)


class DeadlockRetryMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        aliases = _atomic_aliases(view)
        if not aliases or any(connections[alias].in_atomic_block for alias in aliases):
            return None  # Django runs the view as usual
        if not _replayable(request):
            return None
        atomic_view = view
        for alias in aliases:
            atomic_view = transaction.atomic(using=alias)(atomic_view)
        attempt = 1
        while True:
            try:
                response: HttpResponse = atomic_view(request, *args, **kwargs)
                return response
            except OperationalError as exc:
                if not is_retryable(exc) or attempt >= ATTEMPTS:
                    raise
                logger.warning(
                    "request %s %s: transaction aborted (SQLSTATE %s), attempt %s of %s; running it again",
                    request.method,
                    request.path,
                    sqlstate(exc),
                    attempt,
                    ATTEMPTS,
                )
                attempt += 1
                _rewind(request)
                time.sleep(random.uniform(0.02, 0.2) * attempt)  # noqa: S311 (jitter, not a secret)
