"""Celery tasks of the exports. Thin (STYLE habit 7): ids in, call a service.

`build_export` is published by the outbox relay (with `outbox_id`) but is not an `outbox_task`:
an export shows progress while it works; the export row is its own once-only guard
(exports.services.compute_export), as for endpoint runs."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from exports import services


@shared_task(name="exports.tasks.build_export")
def build_export(*, export_id: int, outbox_id: int | None = None, **_: Any) -> str:
    export = services.compute_export(export_id=export_id)
    return str(export.status)
