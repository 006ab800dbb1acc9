"""Transactional outbox (DESIGN §2, STYLE habits 3 and 7).

A service that needs background work calls `enqueue(task_name=..., **ids)` inside its own
transaction: the request is a row in `crf_outboxmessage`, committed (or rolled back) with the data.
The relay (`manage.py outbox_relay`) publishes committed rows to Celery with
`kwargs={..., "outbox_id": id}` and `task_id="outbox-<id>"`, then marks them sent. Publishing is
at-least-once (a relay killed between publish and mark-sent publishes again; Redis redelivers a
task whose worker died), so tasks are written with `@outbox_task`: the body and its completion
mark (`TaskExecution`) commit in one transaction, under a lock on the message row, so the body's
effect happens at most once per message:

- a duplicate delivery after completion finds `finished_at` set and does nothing;
- a duplicate delivered while the first is still running waits for the lock, then does nothing;
- a delivery after a crash mid-run runs the body again: the crashed run's work rolled back.

A message published but never run (Redis lost it, or the task failed) is published again by the
relay after a while (`outbox_relay --resend-after`), which is safe for the same reason.

Tasks take ids (JSON), fetch, and call a service; long-running work that must show progress
belongs in its own status model, not in this one transaction.
"""

from __future__ import annotations

import functools
import importlib
import logging
import math
import re
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from crf import hooks
from crf.models import OutboxMessage, TaskExecution

logger = logging.getLogger(__name__)

TASK_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
RESERVED_KWARGS = frozenset({"outbox_id"})


class OutboxError(Exception):
    """A misuse of the outbox: outside a transaction, unknown task, non-JSON arguments."""


def _check_json(value: Any, path: str) -> None:
    """Only what JSON carries unchanged: str, int, finite float, bool, None, lists, str-keyed dicts."""
    if value is None or isinstance(value, bool | str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise OutboxError(f"{path}: {value!r} is not a JSON number")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise OutboxError(f"{path}: key {key!r} is not a string")
            _check_json(item, f"{path}.{key}")
        return
    raise OutboxError(
        f"{path}: {type(value).__name__} is not JSON; pass ids and plain values (STYLE habit 7), not objects"
    )


def check_kwargs(kwargs: dict[str, Any]) -> None:
    reserved = RESERVED_KWARGS & kwargs.keys()
    if reserved:
        raise OutboxError(f"{', '.join(sorted(reserved))} is set by the relay, not by the caller")
    for key, value in kwargs.items():
        _check_json(value, key)


def celery_app() -> Any:
    """The project's Celery app, the one the outbox publishes through and whose tasks it accepts:
    the hook `crf.hooks.celery_app`, registered by `trialsite/celery.py` as it creates the app
    (trialsite sits above crf, DESIGN §3). None registered: `study.hooks.HookNotRegistered`, never
    a fallback to `celery.current_app` (tests make Celery apps of their own)."""
    return hooks.celery_app()


@functools.cache
def _registered_task_names() -> frozenset[str]:
    # Import every installed app's tasks.py (what Celery's autodiscovery imports), NOT through
    # `app.loader.import_default_modules()`: in a worker that sends Celery's `import_modules`
    # signal, whose Django fixup runs django.setup() and the system checks again, and the new
    # logging configuration silenced the worker process's log for good (seen after a job
    # enqueued from a worker: recover_stuck, issue 32).
    app = celery_app()
    for config in apps.get_app_configs():
        try:
            importlib.import_module(f"{config.name}.tasks")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.tasks":
                raise
    return frozenset(app.tasks.keys())


def run_once_task_names() -> frozenset[str]:
    """Names of the registered tasks declared with `outbox_task` (they record their completion)."""
    _registered_task_names()
    return frozenset(name for name, task in celery_app().tasks.items() if getattr(task, "runs_once_per_message", False))


def check_task_name(task_name: str) -> None:
    if not TASK_NAME.match(task_name):
        raise OutboxError(f"{task_name!r} is not a dotted Celery task name")
    if task_name not in _registered_task_names():
        raise OutboxError(f"no Celery task is registered as {task_name!r}")


def enqueue(*, task_name: str, **kwargs: Any) -> OutboxMessage:
    """Request background work in the caller's transaction (which must be open)."""
    if not transaction.get_connection().in_atomic_block:
        raise OutboxError("enqueue() must run inside transaction.atomic(), with the data it belongs to")
    check_task_name(task_name)
    check_kwargs(kwargs)
    message = OutboxMessage(task_name=task_name, kwargs=kwargs)
    try:
        message.full_clean()
    except ValidationError as exc:
        raise OutboxError(str(exc)) from exc
    message.save()
    return message


def run_once(*, outbox_id: int, task_name: str, body: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Run `body(**kwargs)` for one outbox message at most once to completion.

    Returns the body's result, or None when the message was already processed."""
    with transaction.atomic():
        # The row lock serialises concurrent deliveries of one message (a redelivery racing a slow
        # first run): the second waits here, then sees the first one's finished_at.
        message = OutboxMessage.objects.select_for_update().get(pk=outbox_id)
        if message.task_name != task_name:
            raise OutboxError(f"outbox message {outbox_id} is for {message.task_name!r}, not {task_name!r}")
        execution = TaskExecution.objects.filter(message=message).first()
        if execution is not None and execution.finished_at is not None:
            logger.info("outbox message %s (%s) already processed; duplicate delivery ignored", outbox_id, task_name)
            return None
        if execution is None:
            execution = TaskExecution(message=message, task_name=task_name, started_at=timezone.now())
        else:  # not normally reached: a run's execution row commits only with its finished_at
            execution.started_at = timezone.now()
        result = body(**kwargs)
        execution.finished_at = timezone.now()
        execution.runs += 1
        execution.save()
        logger.info("outbox message %s (%s) processed", outbox_id, task_name)
        return result


def outbox_task(name: str, **task_options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a Celery task fed by the outbox; its body runs to completion at most once.

        @outbox_task("exports.tasks.build_export")
        def build_export(*, export_id: int) -> None:
            services.build_export(export_id=export_id)

    The registered task takes `outbox_id` plus the body's keyword arguments. A lost database
    connection (or a deadlock) is retried by Celery with backoff; other errors fail the task: the
    message keeps no finished execution, so the relay publishes it again after `--resend-after`
    (within `--resend-window`), and an operator sees it unfinished after that.
    """
    options: dict[str, Any] = {
        "autoretry_for": (OperationalError, InterfaceError),
        "retry_backoff": True,
        "retry_backoff_max": 300,
        "max_retries": 8,
        **task_options,
    }

    def decorator(body: Callable[..., Any]) -> Any:
        # Not functools.wraps: Celery checks call arguments against the run function's signature.
        def run(self: Any, *, outbox_id: int, **kwargs: Any) -> Any:
            return run_once(outbox_id=outbox_id, task_name=self.name, body=body, kwargs=kwargs)

        run.__doc__ = body.__doc__
        run.__module__ = body.__module__
        task = shared_task(name=name, bind=True, **options)(run)
        task.body = body
        task.runs_once_per_message = True
        return task

    return decorator


__all__ = ["OutboxError", "check_kwargs", "enqueue", "outbox_task", "run_once"]
