"""The columns every background job row carries (DESIGN §3 jobs/, §5): endpoint runs, exports and
PDF documents each subclass `BackgroundJob` and add what they compute over and hold. The concrete
tables stay in their apps; this app has no table of its own.

A job is a row with a status (queued → running → succeeded | failed), who asked and when, from
where, its attempts, start, finish, duration and error, the snapshot time it reads the database
as at, the code version that ran it, its progress and the worker's heartbeat. The lifecycle that
moves it is `jobs.services`; `track_job` audits its state changes but not its ticks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pghistory
from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class JobTrigger(models.TextChoices):
    PAGE = "page", _("Page")
    API = "api", _("API")
    COMMAND = "command", _("Management command")


#: the fields a job's update history leaves out: ticks, not state changes (DESIGN §4 audit)
UNAUDITED_TICKS = ("progress", "heartbeat_at")


def track_job(*, large: Sequence[str] = ()) -> Callable[[Any], Any]:
    """pghistory tracking of a job model: every state change is an event; the progress ticks make
    no update event and the heartbeat and the `large` result fields (files, tables) are left out
    of the history rows (they are big and reproducible from the inputs)."""
    return pghistory.track(
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(condition=pghistory.AnyChange(exclude=[*UNAUDITED_TICKS, *large])),
        pghistory.DeleteEvent(),
        exclude=[*large, "heartbeat_at"],
    )


class BackgroundJob(models.Model):
    """The columns every job row carries. Subclasses add what they compute over and hold."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"))
    trigger = models.CharField(_("requested from"), max_length=10, choices=JobTrigger.choices)
    snapshot_at = models.DateTimeField(
        _("snapshot time"), null=True, blank=True, help_text=_("Empty: the moment the job starts.")
    )
    code_version = models.CharField(_("code version"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0, validators=[MaxValueValidator(100)])
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    #: written by the worker while it works (jobs.services.beating); not audited, like progress
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def duration_seconds(self) -> float | None:
        return None if self.duration_ms is None else self.duration_ms / 1000
