"""Export records (DESIGN §3 exports/, §4a "start de-identified exports"): one export of
datasets over a data cut, its files, and every download.

An export records who asked and when, the sites it covers (the requester's visibility gate),
the datasets and formats, the cut (clinical cut-off date and snapshot time), the code version,
status and progress, the row count per dataset, the conformance report, and — written in one
transaction at the end — its files with their SHA-256. Files live in the database (like the
endpoint results), so a clean clone's test run and a backup carry them. Exports are audited
(pghistory, without the progress ticks); files, dataset rows and downloads are audited too (their
history rows leave out the file content and the rows) and refuse UPDATE and DELETE.
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from jobs.models import BackgroundJob, JobStatus, JobTrigger, track_job

#: the job statuses and triggers (jobs.models), under the names the export code uses
ExportStatus = JobStatus
ExportTrigger = JobTrigger


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XPT = "xpt", _("SAS transport v5 (XPT)")
    #: CDISC Dataset-JSON 1.1: each dataset as <name>.json and <name>.ndjson (issue 29)
    JSON = "json", _("Dataset-JSON 1.1 (JSON and NDJSON)")
    #: one workbook of every dataset, a sheet each, for reviewers without SAS or R (issue 29)
    XLSX = "xlsx", _("Excel workbook (XLSX, a sheet per dataset)")
    #: the captured data with their metadata and audit trail as one CDISC ODM 1.3.2 file (issue 29)
    ODM = "odm", _("CDISC ODM 1.3.2 (captured data, metadata and audit trail)")


@track_job()
class Export(BackgroundJob):
    """The job columns (jobs.models.BackgroundJob: who asked, when, snapshot time, code version,
    status, progress, attempts, heartbeat, error) and what an export covers and holds."""

    study = models.ForeignKey("study.Study", on_delete=models.PROTECT, related_name="exports")
    site_ids = ArrayField(models.PositiveIntegerField(), verbose_name=_("sites covered"))
    datasets = ArrayField(models.CharField(max_length=8), verbose_name=_("datasets"))
    formats = ArrayField(models.CharField(max_length=4, choices=ExportFormat.choices), verbose_name=_("formats"))
    cutoff_date = models.DateField(_("clinical cut-off date"))
    # The protocol version (amendment) in force on the cut-off date, when the export was
    # requested (study.amendments, issue 27 item 2); blank when none was recorded.
    protocol_version = models.CharField(_("protocol version"), max_length=20, blank=True)
    row_counts = models.JSONField(_("rows per dataset"), default=dict, blank=True)
    conformance = models.JSONField(_("conformance report"), default=list, blank=True)
    conformance_errors = models.PositiveIntegerField(_("conformance errors"), default=0)
    conformance_warnings = models.PositiveIntegerField(_("conformance warnings"), default=0)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-requested_at", "-pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="export_progress_at_most_100"),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} cut {self.cutoff_date}"

    @property
    def format_labels(self) -> list[str]:
        """The formats as the reader names them (never the stored codes "csv", "xpt")."""
        return [str(ExportFormat(code).label) for code in self.formats]

    @property
    def has_files(self) -> bool:
        return self.status == ExportStatus.SUCCEEDED

    @property
    def passes_conformance(self) -> bool:
        return self.status == ExportStatus.SUCCEEDED and self.conformance_errors == 0


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), exclude=["content"])
class ExportFile(models.Model):
    """One file of an export: a dataset in one format, or the export's define file ("define.json").
    Written once with the export's final transaction; never changed or deleted."""

    export = models.ForeignKey(Export, on_delete=models.PROTECT, related_name="files")
    dataset = models.CharField(_("dataset"), max_length=8, blank=True)
    fmt = models.CharField(_("format"), max_length=4)
    name = models.CharField(_("file name"), max_length=40)
    rows = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    content = models.BinaryField(_("content"))

    class Meta:
        verbose_name = _("export file")
        verbose_name_plural = _("export files")
        ordering = ["export", "pk"]
        triggers = [
            pgtrigger.Protect(name="export_file_immutable", operation=pgtrigger.Update | pgtrigger.Delete),
        ]
        constraints = [models.UniqueConstraint(fields=["export", "name"], name="export_file_name_unique")]

    def __str__(self) -> str:
        return f"{self.export_id}/{self.name}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), exclude=["columns", "rows"])
class ExportDataset(models.Model):
    """A dataset of an export as JSON (columns with labels and types, rows in column order): what
    the API pages through. Written with the files; never changed."""

    export = models.ForeignKey(Export, on_delete=models.PROTECT, related_name="dataset_rows")
    name = models.CharField(_("dataset"), max_length=8)
    label = models.CharField(_("label"), max_length=200)
    columns = models.JSONField(_("columns"))
    rows = models.JSONField(_("rows"))
    row_count = models.PositiveIntegerField(_("rows"))

    class Meta:
        ordering = ["export", "pk"]
        triggers = [
            pgtrigger.Protect(name="export_dataset_immutable", operation=pgtrigger.Update | pgtrigger.Delete),
        ]
        constraints = [models.UniqueConstraint(fields=["export", "name"], name="export_dataset_name_unique")]

    def __str__(self) -> str:
        return f"{self.export_id}/{self.name}"


class DownloadChannel(models.TextChoices):
    PAGE = "page", _("Page")
    API = "api", _("API")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ExportDownload(models.Model):
    """Who downloaded (or read through the API) what of an export, and when. Append-only."""

    export = models.ForeignKey(Export, on_delete=models.PROTECT, related_name="downloads")
    file = models.ForeignKey(ExportFile, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    what = models.CharField(_("what"), max_length=60)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("at"))
    channel = models.CharField(_("channel"), max_length=4, choices=DownloadChannel.choices)

    class Meta:
        verbose_name = _("export download")
        verbose_name_plural = _("export downloads")
        ordering = ["-at", "-pk"]
        triggers = [
            pgtrigger.Protect(name="export_download_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.what} {self.at:%Y-%m-%d %H:%M}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), exclude=["data"])
class ExportFilePart(models.Model):
    """A piece of a large export file (issue 29 item 7): a file over
    exports.services.INLINE_MAX_BYTES is stored as consecutive parts of at most
    exports.services.PART_BYTES each (its ExportFile.content left empty), so that neither writing
    nor reading it holds the whole file in memory, and no value nears PostgreSQL's 1 GB limit.
    Written with the file; never changed."""

    file = models.ForeignKey(ExportFile, on_delete=models.PROTECT, related_name="parts")
    number = models.PositiveIntegerField(_("part"))
    data = models.BinaryField(_("data"))

    class Meta:
        ordering = ["file", "number"]
        triggers = [
            pgtrigger.Protect(name="export_file_part_immutable", operation=pgtrigger.Update | pgtrigger.Delete),
        ]
        constraints = [models.UniqueConstraint(fields=["file", "number"], name="export_file_part_unique")]

    def __str__(self) -> str:
        return f"{self.file_id} part {self.number}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), exclude=["rows"])
class ExportDatasetPart(models.Model):
    """A page of the rows of a large export dataset (issue 29 item 7): a dataset over
    exports.services.INLINE_MAX_ROWS rows keeps ExportDataset.rows empty and its rows here,
    exports.services.PART_ROWS a part, in order (what the API pages through). Never changed."""

    dataset = models.ForeignKey(ExportDataset, on_delete=models.PROTECT, related_name="parts")
    number = models.PositiveIntegerField(_("part"))
    rows = models.JSONField(_("rows"))

    class Meta:
        ordering = ["dataset", "number"]
        triggers = [
            pgtrigger.Protect(name="export_dataset_part_immutable", operation=pgtrigger.Update | pgtrigger.Delete),
        ]
        constraints = [models.UniqueConstraint(fields=["dataset", "number"], name="export_dataset_part_unique")]

    def __str__(self) -> str:
        return f"{self.dataset_id} page {self.number}"
