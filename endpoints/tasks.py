"""Celery tasks of the endpoint runs. Thin (STYLE habit 7): ids in, call a service.

`compute_endpoint_run` is published by the outbox relay (with `outbox_id`) but is not an
`outbox_task`: a run shows progress while it works, so it cannot live inside the outbox's one
transaction; the run row is its own once-only guard (endpoints.services.compute_run)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from endpoints import services


@shared_task(name="endpoints.tasks.compute_endpoint_run")
def compute_endpoint_run(*, run_id: int, outbox_id: int | None = None, **_: Any) -> str:
    run = services.compute_run(run_id=run_id)
    return str(run.status)


@shared_task(name="endpoints.tasks.nightly_endpoint_runs")
def nightly_endpoint_runs() -> list[int]:
    return [run.pk for run in services.request_nightly_runs()]
