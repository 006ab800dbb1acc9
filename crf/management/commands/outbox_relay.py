"""`manage.py outbox_relay`: publish committed outbox rows to Celery (DESIGN §2).

Each pass takes up to `--batch-size` unsent rows in id order with
`SELECT … FOR UPDATE SKIP LOCKED` (several relays may run; each row goes to one of them),
publishes each with `send_task(task_name, kwargs={..., "outbox_id": id}, task_id="outbox-<id>")`
and marks it sent in the same transaction, which commits after the batch.

Delivery is at-least-once: a relay that dies after publishing but before its commit publishes the
rows again on restart, and `crf.outbox.outbox_task` makes the second delivery a no-op.

A row sent more than `--resend-after` seconds ago (default: the broker's visibility timeout)
whose `outbox_task` has not finished is published again, for up to `--resend-window` seconds after it was
written (default a day): a Redis that lost a message after accepting it (a crash before its
append-only file was flushed), or a task that failed, is retried without replaying history.

While the broker (or the database) is unreachable the relay does not exit: the row it could not
publish gets `attempts` + 1 and `last_error`, and the relay retries after a back-off that doubles
from `--poll-interval` up to `--max-backoff` seconds. SIGTERM and SIGINT finish the current
batch and exit 0.

Test-only hook: with the environment variable `TRIALSITE_RELAY_CRASH_AFTER_PUBLISH=1` the relay
calls `os._exit(75)` right after its first successful publish, before marking anything sent
(tests/crf/test_outbox_faults.py: "relay killed between publish and mark-sent"). Never set it in
a deployment.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import timedelta
from typing import Any

import redis.exceptions
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections, connections, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from crf.models import OutboxMessage
from crf.outbox import celery_app, run_once_task_names

logger = logging.getLogger("crf.outbox_relay")

CRASH_AFTER_PUBLISH_ENV = "TRIALSITE_RELAY_CRASH_AFTER_PUBLISH"
CRASH_EXIT_CODE = 75
# One publish gives up quickly (then the relay backs off) rather than blocking its batch.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


# What a publish raises while the broker is unreachable (kombu wraps most in its OperationalError).
BROKER_ERRORS = (
    BrokerOperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
)


class PublishFailed(Exception):
    pass


def _publish(rows: list[OutboxMessage], app: Any) -> tuple[int, PublishFailed | None]:
    """Publish rows in order, marking each sent; stop at the first refusal (recorded on its row)."""
    crash_after_publish = os.environ.get(CRASH_AFTER_PUBLISH_ENV) == "1"
    published = 0
    with app.producer_or_acquire() as producer:
        for row in rows:
            row.attempts += 1
            try:
                app.send_task(
                    row.task_name,
                    kwargs={**row.kwargs, "outbox_id": row.pk},
                    task_id=f"outbox-{row.pk}",
                    producer=producer,
                    retry=True,
                    retry_policy=PUBLISH_RETRY_POLICY,
                )
            except BROKER_ERRORS as exc:  # the broker is away: stop here, back off, retry this row
                row.last_error = f"{timezone.now().isoformat()} {type(exc).__name__}: {exc}"[:2000]
                row.save(update_fields=["attempts", "last_error"])
                return published, PublishFailed(f"outbox message {row.pk} ({row.task_name}): {exc}")
            except Exception as exc:  # this row cannot be published (written around enqueue()?)
                row.last_error = f"{timezone.now().isoformat()} {type(exc).__name__}: {exc}"[:2000]
                row.save(update_fields=["attempts", "last_error"])
                logger.exception("outbox message %s (%s) cannot be published; skipped", row.pk, row.task_name)
                continue
            if crash_after_publish:
                logger.warning("%s=1: exiting after publishing outbox message %s", CRASH_AFTER_PUBLISH_ENV, row.pk)
                logging.shutdown()
                os._exit(CRASH_EXIT_CODE)
            row.sent_at = timezone.now()
            row.save(update_fields=["attempts", "sent_at"])
            published += 1
    return published, None


def _celery_app(app: Any) -> Any:
    return celery_app() if app is None else app


def publish_batch(*, batch_size: int, app: Any = None) -> int:
    """Publish up to `batch_size` unsent rows; return how many were published and marked sent.

    Raises PublishFailed (after committing the rows published so far and recording the error on
    the row that failed) when the broker refuses."""
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True)
            .order_by("id")[:batch_size]
        )
        if not rows:
            return 0
        published, failure = _publish(rows, _celery_app(app))
    if published:
        logger.info("published %d outbox message(s), up to id %d", published, rows[published - 1].pk)
    if failure is not None:
        raise failure
    return published


def resend_stale(*, older_than: float, window: float, batch_size: int, app: Any = None) -> int:
    """Publish again rows sent more than `older_than` seconds ago whose task has not finished,
    written less than `window` seconds ago. Returns how many were published.

    Only tasks declared with `crf.outbox.outbox_task` are resent: they record their completion
    (TaskExecution) and run once per message; a plain Celery task would have no finished record."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(sent_at__lt=now - timedelta(seconds=older_than), created_at__gte=now - timedelta(seconds=window))
            .filter(task_name__in=run_once_task_names())
            .exclude(execution__finished_at__isnull=False)
            .order_by("id")[:batch_size]
        )
        if not rows:
            return 0
        for row in rows:
            logger.warning(
                "outbox message %s (%s) sent at %s has not run: publishing again", row.pk, row.task_name, row.sent_at
            )
        published, failure = _publish(rows, _celery_app(app))
    if failure is not None:
        raise failure
    return published


class Command(BaseCommand):
    help = "Publish committed outbox rows to Celery and mark them sent; retries while Redis is down."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass over the unsent rows, then exit.")
        parser.add_argument(
            "--poll-interval", type=float, default=1.0, help="Seconds between polls when idle (default 1)."
        )
        parser.add_argument("--batch-size", type=int, default=100, help="Rows per transaction (default 100).")
        parser.add_argument(
            "--resend-after",
            type=float,
            default=None,
            help="Publish again a row sent this many seconds ago whose task has not finished "
            "(default: the broker visibility timeout; 0 turns resending off).",
        )
        parser.add_argument(
            "--resend-window",
            type=float,
            default=24 * 3600,
            help="Resend only rows written less than this many seconds ago (default one day).",
        )
        parser.add_argument(
            "--max-backoff", type=float, default=30.0, help="Longest wait between retries while failing (default 30)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        poll_interval = max(float(options["poll_interval"]), 0.01)
        max_backoff = max(float(options["max_backoff"]), poll_interval)
        batch_size = max(int(options["batch_size"]), 1)
        resend_after = options["resend_after"]
        if resend_after is None:
            resend_after = float(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"])
        self.resend = {"after": float(resend_after), "window": float(options["resend_window"]), "last": None}
        # sweep for stale rows at most every few minutes (and on the first pass)
        self.resend["every"] = min(max(self.resend["after"] / 4, poll_interval), 300.0)
        stop = threading.Event()

        def _stop(signum: int, frame: object) -> None:
            logger.info("outbox relay: signal %d received, stopping after this batch", signum)
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        logger.info("outbox relay started (poll %.2fs, batch %d)", poll_interval, batch_size)

        failures = 0
        while not stop.is_set():
            try:
                published = self._pass(batch_size, stop)
            except (PublishFailed, BrokerOperationalError, DatabaseError) as exc:
                failures += 1
                wait = min(poll_interval * 2 ** min(failures - 1, 30), max_backoff)
                logger.warning("outbox relay: %s (failure %d in a row; retrying in %.1fs)", exc, failures, wait)
                if isinstance(exc, DatabaseError):
                    for conn in connections.all():
                        conn.close_if_unusable_or_obsolete()
                if options["once"]:
                    raise SystemExit(1) from exc
                stop.wait(wait)
                continue
            if failures:
                logger.info("outbox relay: publishing again after %d failure(s)", failures)
                failures = 0
            if options["once"]:
                break
            if not published:
                stop.wait(poll_interval)
        logger.info("outbox relay stopped")

    def _pass(self, batch_size: int, stop: threading.Event) -> int:
        """Publish until no unsent row is left (or a stop is asked); return how many were sent."""
        close_old_connections()
        total = 0
        resend = self.resend
        due = resend["last"] is None or time.monotonic() - resend["last"] >= resend["every"]
        if resend["after"] > 0 and due:
            total += resend_stale(older_than=resend["after"], window=resend["window"], batch_size=batch_size)
            resend["last"] = time.monotonic()
        while not stop.is_set():
            count = publish_batch(batch_size=batch_size)
            total += count
            if count < batch_size:
                break
            time.sleep(0)  # let signal handlers run between full batches
        return total
