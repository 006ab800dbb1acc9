"""Electronic signatures (DESIGN §4 "E-signatures"; 21 CFR Part 11 §11.50, §11.70, §11.100,
§11.200; issue 26 item 1).

A signature is a separate record, bound to the SHA-256 of the canonical JSON of the content it
covers (datamanagement.canonical): one form, every form of one visit, or the whole casebook of a
subject. It is never deleted or edited (database triggers refuse it); the only change a
signature ever takes is being marked **broken**, once, when covered content changed after it was
given — the row keeps who and what broke it, and the change's own audit context names the
signatures it broke.
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from jobs.models import BackgroundJob, JobStatus, JobTrigger, track_job


class SignatureScope(models.TextChoices):
    FORM = "form", _("Form")
    VISIT = "visit", _("Visit")
    CASEBOOK = "casebook", _("Casebook")


class SignatureMeaning(models.TextChoices):
    """§11.50(a)(3): the meaning associated with the signature."""

    REVIEWED_APPROVED = "reviewed_approved", _("Reviewed and approved")
    REVIEWED = "reviewed", _("Reviewed")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Signature(models.Model):
    subject = models.ForeignKey(settings.TRIALSITE_SUBJECT_MODEL, on_delete=models.PROTECT, related_name="signatures")
    scope = models.CharField(_("what was signed"), max_length=10, choices=SignatureScope.choices)
    visit = models.ForeignKey(
        settings.TRIALSITE_VISIT_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, null=True, blank=True)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    printed_name = models.CharField(_("printed name of the signer"), max_length=200)
    meaning = models.CharField(_("meaning"), max_length=20, choices=SignatureMeaning.choices)
    signed_at = models.DateTimeField(_("signed at"))
    #: the site's time zone when signed: the manifestation shows the time in it
    time_zone = models.CharField(_("time zone"), max_length=64)
    canonical_format = models.CharField(_("canonical content format"), max_length=40)
    content_sha256 = models.CharField(_("SHA-256 of the signed content"), max_length=64)
    #: the forms covered when signed: [[CRF code, id, version], …]
    covered = models.JSONField(_("forms covered"), default=list, blank=True)
    broken_at = models.DateTimeField(_("broken at"), null=True, blank=True)
    broken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    broken_reason = models.CharField(_("what broke the signature"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        ordering = ["-signed_at", "-pk"]
        indexes = [models.Index(fields=["subject", "broken_at"], name="signature_subject_broken_idx")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(scope="form", object_id__isnull=False, content_type__isnull=False))
                | Q(scope="visit", visit__isnull=False, object_id__isnull=True)
                | Q(scope="casebook", visit__isnull=True, object_id__isnull=True),
                name="signature_scope_names_its_target",
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="signature_no_delete", operation=pgtrigger.Delete),
            # Only the "broken" fields may ever be written after insert …
            pgtrigger.ReadOnly(name="signature_read_only", exclude=["broken_at", "broken_by", "broken_reason"]),
            # … and only once: a broken signature stays broken, as it was recorded.
            pgtrigger.Protect(
                name="signature_broken_once",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__broken_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"signature {self.pk} {self.scope} {self.subject_id}"

    @property
    def is_broken(self) -> bool:
        return self.broken_at is not None


class AuditIndex(models.Model):
    """One row per history (event) row of a record that belongs to a subject (issue 26 item 4):
    who, when, what and which fields, indexed for audit search and paging at any study size.

    Written only by a database trigger on every subject-scoped event table (AFTER INSERT, as the
    table owner: datamanagement.audit_index), never by the application, which may only read it;
    append-only like the history it indexes. `fields` lists the data fields the event set (an
    insert or delete: every non-empty one; an update: those that differ from the record's previous
    event, `previous_id`). The event row itself stays the source of the values shown.
    """

    event_table = models.CharField(max_length=63)
    event_id = models.BigIntegerField()
    previous_id = models.BigIntegerField(null=True)
    at = models.DateTimeField()
    action = models.CharField(max_length=20)
    obj_model = models.CharField(max_length=100)
    obj_id = models.CharField(max_length=64)
    subject_pk = models.BigIntegerField()
    site_pk = models.BigIntegerField()
    user_pk = models.BigIntegerField(null=True)
    fields = ArrayField(models.CharField(max_length=100), default=list)

    class Meta:
        indexes = [
            models.Index(F("at").desc(), F("id").desc(), name="auditindex_at"),
            models.Index("subject_pk", F("at").desc(), F("id").desc(), name="auditindex_subject"),
            models.Index("user_pk", F("at").desc(), F("id").desc(), name="auditindex_user"),
            models.Index("obj_model", "obj_id", F("at").desc(), name="auditindex_record"),
            GinIndex(fields=["fields"], name="auditindex_fields"),
            # the API's exact count over the viewer's sites as an index-only scan (issue 26 item 4:
            # a scan of the whole table was 3 of the 3.3 s of a page at 3.76 million rows)
            models.Index("site_pk", name="auditindex_site"),
        ]
        constraints = [models.UniqueConstraint(fields=["event_table", "event_id"], name="auditindex_one_per_event")]

    def __str__(self) -> str:
        return f"{self.event_table}:{self.event_id}"


# --- PDF casebooks, the study archive, the blank and annotated CRF (issue 26 item 2) ----------


class PdfKind(models.TextChoices):
    CASEBOOK = "casebook", _("Subject casebook (PDF)")
    ARCHIVE = "archive", _("Study archive (ZIP of every casebook)")
    BLANK_CRF = "blank_crf", _("Blank CRF (PDF)")
    ANNOTATED_CRF = "annotated_crf", _("Annotated CRF (PDF)")


class PdfLanguage(models.TextChoices):
    ENGLISH = "en", "English"
    CHINESE = "zh-hans", "简体中文"


@track_job(large=["content"])
class PdfJob(BackgroundJob):
    """One PDF (or the archive ZIP) generated in the background (jobs.services lifecycle): what, for
    which subject or sites, in which language, and — written in the job's final transaction — the
    file with its SHA-256 and page count. The content lives in the database like export files
    (a backup carries it) and is left out of the history rows. Never deleted."""

    study = models.ForeignKey("study.Study", on_delete=models.PROTECT, related_name="pdf_jobs")
    kind = models.CharField(_("document"), max_length=16, choices=PdfKind.choices)
    subject = models.ForeignKey(
        settings.TRIALSITE_SUBJECT_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="pdf_jobs"
    )
    #: the sites whose subjects the document holds (the requester's gate when requested); empty
    #: for the blank and annotated CRF, which hold no subject data
    site_ids = ArrayField(models.PositiveIntegerField(), default=list, blank=True, verbose_name=_("sites covered"))
    language = models.CharField(_("language"), max_length=8, choices=PdfLanguage.choices)
    file_name = models.CharField(_("file name"), max_length=120, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    pages = models.PositiveIntegerField(_("pages"), null=True, blank=True)
    #: the archive: how many casebooks it holds
    documents = models.PositiveIntegerField(_("casebooks"), null=True, blank=True)
    content = models.BinaryField(_("content"), null=True, blank=True)

    class Meta:
        verbose_name = _("PDF document")
        verbose_name_plural = _("PDF documents")
        ordering = ["-requested_at", "-pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="pdf_job_progress_at_most_100"),
            models.CheckConstraint(
                condition=~Q(kind="casebook") | Q(subject__isnull=False), name="pdf_casebook_has_subject"
            ),
            models.CheckConstraint(condition=~Q(status="succeeded") | ~Q(sha256=""), name="succeeded_pdf_job_has_file"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk}"

    @property
    def has_file(self) -> bool:
        return self.status == JobStatus.SUCCEEDED and bool(self.sha256)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class PdfDownload(models.Model):
    """Who downloaded which PDF document, when, and through what. Append-only."""

    job = models.ForeignKey(PdfJob, on_delete=models.PROTECT, related_name="downloads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("at"))
    channel = models.CharField(_("channel"), max_length=4, choices=JobTrigger.choices[:2])

    class Meta:
        verbose_name = _("PDF download")
        verbose_name_plural = _("PDF downloads")
        ordering = ["-at", "-pk"]
        triggers = [
            pgtrigger.Protect(name="pdf_download_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.job_id} {self.at:%Y-%m-%d %H:%M}"
