"""Endpoint runs (DESIGN §5): one computation of the study's endpoint tables over a data cut.

A run records who asked and when, the cut (clinical cut-off date and snapshot time), the
protocol settings version it used, the SHA-256 of its inputs, the code version, its status and
progress, and — written in one transaction at the end, never piecemeal — its results: the
tables as canonical JSON plus CSV and XLSX files. Runs are audited (pghistory); the result
files are left out of the history rows (they are large and reproducible from the inputs).
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from jobs.models import BackgroundJob, JobStatus, track_job

RESULT_FIELDS = ["results_json", "results_csv", "results_xlsx"]


#: the job statuses (jobs.models), under the name the endpoint code and its API schema use
RunStatus = JobStatus


class RunTrigger(models.TextChoices):
    PAGE = "page", _("Page")
    API = "api", _("API")
    NIGHTLY = "nightly", _("Nightly schedule")
    COMMAND = "command", _("Management command")


@track_job(large=RESULT_FIELDS)
class EndpointRun(BackgroundJob):
    """The job columns (jobs.models.BackgroundJob: who asked, when, snapshot time, code version,
    status, progress, attempts, heartbeat, error) and what a run computes over and holds."""

    study = models.ForeignKey("study.Study", on_delete=models.PROTECT, related_name="endpoint_runs")
    trigger = models.CharField(_("requested from"), max_length=10, choices=RunTrigger.choices)
    cutoff_date = models.DateField(_("clinical cut-off date"))
    settings_version = models.PositiveIntegerField(_("protocol settings version"), null=True, blank=True)
    # The protocol version (amendment) in force on the cut-off date, when the run was requested
    # (study.amendments, issue 27 item 2); blank when none was recorded.
    protocol_version = models.CharField(_("protocol version"), max_length=20, blank=True)
    #: The settings versions the derived inputs were derived under, per input: {"crs_assessments":
    #: {"1": 120, "2": 3}, …} (issue 30): a grade or response stored under an older version than
    #: the run's is not re-derived; the run page says so.
    input_settings_versions = models.JSONField(_("settings versions of the derived inputs"), default=dict, blank=True)
    #: Sensitivity analysis (issue 30): also re-derive the derived inputs in memory under the one
    #: settings version in force at the cut-off (endpoints.sensitivity); its tables are stored
    #: beside the main ones, in the results' "sensitivity" part, and marked as such.
    rederive_at_cutoff = models.BooleanField(
        _("sensitivity analysis: re-derive under the settings in force at the cut-off"), default=False
    )
    sensitivity_settings_version = models.PositiveIntegerField(
        _("protocol settings version of the sensitivity analysis"), null=True, blank=True
    )
    #: "v2:<hex>" (the digest scheme, then the SHA-256), or the bare hex of scheme v1 (runs
    #: computed before v2; endpoints.services.input_digest)
    input_sha256 = models.CharField(_("SHA-256 of the inputs"), max_length=80, blank=True)
    results_sha256 = models.CharField(_("SHA-256 of the tables"), max_length=64, blank=True)
    results_json = models.TextField(_("tables (canonical JSON)"), blank=True)
    results_csv = models.TextField(_("tables (CSV)"), blank=True)
    results_xlsx = models.BinaryField(_("tables (XLSX)"), null=True, blank=True)
    results_discarded_at = models.DateTimeField(_("stored results deleted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("endpoint run")
        verbose_name_plural = _("endpoint runs")
        ordering = ["-requested_at", "-pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="endpoint_run_progress_at_most_100"),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | (Q(progress=100) & ~Q(results_sha256="")),
                name="succeeded_run_has_results",
            ),
        ]

    def __str__(self) -> str:
        return f"endpoint run {self.pk} cut {self.cutoff_date}"

    @property
    def has_results(self) -> bool:
        return self.status == RunStatus.SUCCEEDED and bool(self.results_json)
