"""Celery tasks of the CRF core. Thin (STYLE habit 7): ids in, fetch, call a service."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from crf import idempotency, rederive
from crf.outbox import outbox_task

logger = logging.getLogger(__name__)

MAX_HOLD_SECONDS = 60.0


@outbox_task("crf.tasks.record_delivery")
def record_delivery(*, note: str = "", hold_seconds: float = 0.0) -> str:
    """Delivery probe: proves the outbox → relay → broker → worker path end to end.

    Its effect is the message's `TaskExecution` (runs = 1, finished_at set), committed once by
    `outbox_task`. `hold_seconds` (at most a minute) keeps the task running, so fault tests and
    operators can catch a worker mid-task."""
    hold = min(max(float(hold_seconds), 0.0), MAX_HOLD_SECONDS)
    if hold:
        time.sleep(hold)
    logger.info("outbox delivery probe ran: %s", note)
    return note


@outbox_task(rederive.SETTINGS_TASK)
def rederive_for_settings(*, settings_id: int) -> int:
    """After a new protocol settings version (study.hooks.request_settings_rederivation): the
    forms dated on or after its effective date, re-derived; returns how many were listed."""
    return len(rederive.rederive_for_settings(settings_id=settings_id))


@shared_task(name="crf.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Keys of creates live a day (crf/idempotency.py)."""
    return idempotency.purge_expired()


@shared_task(name="crf.tasks.verify_audit")
def verify_audit() -> bool:
    """Nightly (CELERY_BEAT_SCHEDULE): walk every audit hash chain; alert the study admins on a break."""
    from crf.audit_integrity import verify_and_alert

    return verify_and_alert().ok


@outbox_task("crf.tasks.audit_break_alert")
def audit_break_alert(*, verification_id: int) -> int:
    from crf.audit_integrity import send_break_alert

    return send_break_alert(verification_id=verification_id)
