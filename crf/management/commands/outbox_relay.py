"""`manage.py outbox_relay`: publish committed outbox rows to Celery (DESIGN §2).

Each pass takes up to `--batch-size` unsent rows in id order with
`SELECT … FOR UPDATE SKIP LOCKED` (several relays may run; each row goes to one of them),
publishes each with `send_task(task_name, kwargs={..., "outbox_id": id}, task_id="outbox-<id>")`
and marks it sent in the same transaction, which commits after the batch.

Delivery is at-least-once: a relay that dies after publishing but before its commit publishes the
rows again on restart, and `crf.outbox.outbox_task` makes the second delivery a no-op.

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
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections, connections, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from crf.models import OutboxMessage

logger = logging.getLogger("crf.outbox_relay")

CRASH_AFTER_PUBLISH_ENV = "TRIALSITE_RELAY_CRASH_AFTER_PUBLISH"
CRASH_EXIT_CODE = 75
# One publish gives up quickly (then the relay backs off) rather than blocking its batch.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


class PublishFailed(Exception):
    pass


def publish_batch(*, batch_size: int, app: Any = None) -> int:
    """Publish up to `batch_size` unsent rows; return how many were published and marked sent.

    Raises PublishFailed (after committing the rows published so far and recording the error on
    the row that failed) when the broker refuses."""
    if app is None:
        from trialsite.celery import app
    crash_after_publish = os.environ.get(CRASH_AFTER_PUBLISH_ENV) == "1"
    failure: PublishFailed | None = None
    published = 0
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True)
            .order_by("id")[:batch_size]
        )
        if not rows:
            return 0
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
                except Exception as exc:  # kombu/redis raise a variety of connection errors
                    row.last_error = f"{timezone.now().isoformat()} {type(exc).__name__}: {exc}"[:2000]
                    row.save(update_fields=["attempts", "last_error"])
                    failure = PublishFailed(f"outbox message {row.pk} ({row.task_name}): {exc}")
                    break
                if crash_after_publish:
                    logger.warning("%s=1: exiting after publishing outbox message %s", CRASH_AFTER_PUBLISH_ENV, row.pk)
                    logging.shutdown()
                    os._exit(CRASH_EXIT_CODE)
                row.sent_at = timezone.now()
                row.save(update_fields=["attempts", "sent_at"])
                published += 1
    if published:
        logger.info("published %d outbox message(s), up to id %d", published, rows[published - 1].pk)
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
            "--max-backoff", type=float, default=30.0, help="Longest wait between retries while failing (default 30)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        poll_interval = max(float(options["poll_interval"]), 0.01)
        max_backoff = max(float(options["max_backoff"]), poll_interval)
        batch_size = max(int(options["batch_size"]), 1)
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
        while not stop.is_set():
            count = publish_batch(batch_size=batch_size)
            total += count
            if count < batch_size:
                break
            time.sleep(0)  # let signal handlers run between full batches
        return total
