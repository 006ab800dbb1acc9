"""The job kinds, declared by the apps that own them (DESIGN §3: jobs/ sits beside crf/ and never
imports upward). Each app declares its kind once — the model, the noun its audit reasons use
("<noun> started", "<noun> failed", "<noun> requeued: …"), the Celery task that runs it and the
keyword that task takes the job's id by — and registers it in its `AppConfig.ready`:

    RUN_JOB = JobKind(model=EndpointRun, noun="endpoint run",
                      task_name="endpoints.tasks.compute_endpoint_run", id_kwarg="run_id")
    jobs.kinds.register(RUN_JOB)

The stuck-job sweeps (`jobs.services.recover_stuck_jobs`, `fail_stuck_jobs`) iterate the
registered kinds, so a new job model needs no beat task of its own. A concrete `BackgroundJob`
model without a declared kind fails the system checks at start-up (`jobs.E001`) and the sweeps,
never silently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core import checks
from django.db import models


@dataclass(frozen=True)
class JobKind:
    model: type[models.Model]
    noun: str
    task_name: str
    id_kwarg: str

    def __str__(self) -> str:
        return self.noun


_KINDS: dict[type[models.Model], JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Declare a kind (once per model; registering the same declaration again is a no-op)."""
    known = _KINDS.get(kind.model)
    if known is not None and known != kind:
        raise ValueError(f"{kind.model.__name__} is already declared as the job kind {known.noun!r}")
    _KINDS[kind.model] = kind
    return kind


def job_models() -> list[type[models.Model]]:
    """The installed concrete models that are background jobs, in app order."""
    from jobs.models import BackgroundJob

    return [m for m in apps.get_models() if issubclass(m, BackgroundJob)]


def kinds() -> list[JobKind]:
    """Every declared kind, in the order of the installed job models; a job model without a
    declaration raises (a sweep must not skip a kind quietly)."""
    missing = [m.__name__ for m in job_models() if m not in _KINDS]
    if missing:
        raise LookupError(f"job models without a declared kind (jobs.kinds.register): {', '.join(missing)}")
    return [_KINDS[m] for m in job_models()]


def check_every_job_model_declared(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [
        checks.Error(
            f"{model._meta.label} is a background job without a declared kind.",
            hint="Register a jobs.kinds.JobKind for it in its app's AppConfig.ready.",
            obj=model,
            id="jobs.E001",
        )
        for model in job_models()
        if model not in _KINDS
    ]
