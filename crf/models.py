"""What every form shares (DESIGN §4 "CRF instance"): the CRF base, queries, data locks and the
transactional outbox, SDV marks and the SDV plan. Signatures join them in a later issue."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crf import versions as crf_versions
from crf.csvfiles import ENCODINGS
from crf.versions import CrfVersion


class EntryStatus(models.TextChoices):
    NOT_STARTED = "not_started", _("Not started")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETE = "complete", _("Complete")


class MissingCode(models.TextChoices):
    NOT_DONE = "ND", _("Not done")
    UNKNOWN = "UNK", _("Unknown")
    NOT_APPLICABLE = "NA", _("Not applicable")


class CrfInstance(models.Model):
    """Abstract base of every case report form.

    Writes go through `crf.services.save_form` only: compare-and-set on `version`, reason for
    change once complete, refused under a freeze or lock, edit checks run, never hard-deleted.
    Concrete forms say what their data is: `crf_code`, `crf_title`, `casebook_order`,
    `clinical_date_field`, the fields `missing` may hold and their `crf_versions` (the form's
    identity and shape, like `Meta`). What the framework does with a form (derivation, checks,
    save service, dependants, API resource, page) is in its declaration (crf.declarations).
    """

    crf_code: str = ""
    crf_title: str = ""
    #: the form's column in the casebook, in clinical order
    casebook_order: int = 100
    clinical_date_field: str = ""
    #: fields that may carry a "not done / unknown" code instead of a value
    missing_allowed: tuple[str, ...] = ()
    #: the form's versions, oldest first, each with the fields it added or removed
    #: (`crf.versions.CrfVersion`); the newest is the one new records are entered under.
    #: Empty: one version, "1.0". How to change a form: docs/architecture.md.
    crf_versions: tuple[CrfVersion, ...] = ()

    subject = models.ForeignKey(
        settings.TRIALSITE_SUBJECT_MODEL,
        on_delete=models.PROTECT,
        related_name="%(app_label)s_%(class)s_set",
        verbose_name=_("subject"),
    )
    visit = models.ForeignKey(
        settings.TRIALSITE_VISIT_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="%(app_label)s_%(class)s_set",
        verbose_name=_("visit"),
    )
    entry_status = models.CharField(
        _("entry status"), max_length=12, choices=EntryStatus.choices, default=EntryStatus.NOT_STARTED
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    crf_version = models.CharField(_("CRF version"), max_length=10, default="1.0", editable=False)
    missing = models.JSONField(_("not done / unknown"), default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False)
    created_at = models.DateTimeField(_("created at"), editable=False)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False)
    updated_at = models.DateTimeField(_("updated at"), editable=False)
    entered_in_error = models.BooleanField(_("entered in error"), default=False, editable=False)
    error_reason = models.CharField(_("reason entered in error"), max_length=300, blank=True, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # A new record is entered under the form's current version and keeps it (issue 27 item 3).
        if self._state.adding and self.pk is None:
            self.crf_version = crf_versions.current(type(self))
        super().save(*args, **kwargs)

    @property
    def hidden_fields(self) -> frozenset[str]:
        """The form's fields this record's version does not have (crf.versions)."""
        return crf_versions.hidden_fields(type(self), self.crf_version if self.pk else None)

    def clinical_date(self):  # type: ignore[no-untyped-def]
        return getattr(self, self.clinical_date_field) if self.clinical_date_field else None


class QueryStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ANSWERED = "answered", _("Answered")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


ACTIVE_QUERY_STATUSES = (QueryStatus.OPEN, QueryStatus.ANSWERED)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Query(models.Model):
    """A data clarification on one field of one form instance (DESIGN §4 "Queries").

    Automatic queries carry the edit-check `rule_code` and no raiser; manual ones a raiser.
    `value` is the field's value when the query was (re-)raised, or the value the site confirmed: a closed
    automatic query whose
    value the site confirmed is not raised again for the same rule, field and value.
    """

    class Answer(models.TextChoices):
        CORRECTED = "corrected", _("Value corrected")
        CONFIRMED = "confirmed", _("Value confirmed")

    subject = models.ForeignKey(settings.TRIALSITE_SUBJECT_MODEL, on_delete=models.PROTECT, related_name="queries")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    form = GenericForeignKey("content_type", "object_id")
    field_name = models.CharField(_("field"), max_length=100)
    rule_code = models.CharField(_("rule"), max_length=60, blank=True)
    text = models.TextField(_("query text"))
    # A system-written text as its message code and parameters, rendered in the reader's
    # language (study.system_text; issue 25). Blank for a text a person wrote.
    text_code = models.TextField(_("message code"), blank=True)
    text_params = models.JSONField(_("message parameters"), default=dict, blank=True)
    value = models.JSONField(_("value queried"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=QueryStatus.choices, default=QueryStatus.OPEN)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    raised_at = models.DateTimeField(_("raised at"))
    answer = models.CharField(_("answer"), max_length=10, choices=Answer.choices, blank=True)
    answer_text = models.TextField(_("answer text"), blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    close_reason = models.CharField(_("closing note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("query")
        verbose_name_plural = _("queries")
        ordering = ["-raised_at", "-pk"]
        indexes = [models.Index(fields=["content_type", "object_id", "field_name"])]
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id", "field_name", "rule_code"],
                condition=Q(status__in=["open", "answered"]) & ~Q(rule_code=""),
                name="one_active_automatic_query_per_rule_field",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field_name}: {self.text[:40]}"

    @property
    def is_automatic(self) -> bool:
        return bool(self.rule_code)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class QueryStep(models.Model):
    """One step of a query's life, in order: its visible thread."""

    class Action(models.TextChoices):
        RAISED = "raised", _("Raised")
        ANSWERED = "answered", _("Answered")
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Re-opened")
        CANCELLED = "cancelled", _("Cancelled")
        AUTO_CLOSED = "auto_closed", _("Closed automatically: the rule no longer fires")

    query = models.ForeignKey(Query, on_delete=models.PROTECT, related_name="steps")
    action = models.CharField(_("action"), max_length=12, choices=Action.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    at = models.DateTimeField(_("at"))
    text = models.TextField(_("text"), blank=True)
    text_code = models.TextField(_("message code"), blank=True)
    text_params = models.JSONField(_("message parameters"), default=dict, blank=True)

    class Meta:
        verbose_name = _("query step")
        verbose_name_plural = _("query steps")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.query_id} {self.action}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class DataLock(models.Model):
    """A freeze (no data changes; queries, SDV and signing continue) or a lock (nothing changes)
    over the whole study, one subject, or one form instance (DESIGN §4). Lifted, never deleted."""

    class Kind(models.TextChoices):
        FREEZE = "freeze", _("Freeze")
        LOCK = "lock", _("Lock")

    kind = models.CharField(_("kind"), max_length=6, choices=Kind.choices)
    study = models.ForeignKey("study.Study", on_delete=models.PROTECT, related_name="data_locks")
    subject = models.ForeignKey(
        settings.TRIALSITE_SUBJECT_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="data_locks"
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, null=True, blank=True)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(_("set at"))
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lift_reason = models.CharField(_("reason for lifting"), max_length=300, blank=True)
    #: a lock set while its checklist listed open items (issue 26 item 3): why, and what was open
    override_reason = models.CharField(_("reason for locking with items open"), max_length=300, blank=True)
    open_items = models.JSONField(_("items open when locked"), default=list, blank=True)

    class Meta:
        verbose_name = _("data lock")
        verbose_name_plural = _("data locks")
        constraints = [
            models.CheckConstraint(
                condition=Q(object_id__isnull=True) | Q(subject__isnull=False, content_type__isnull=False),
                name="form_lock_names_subject_and_form",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.study_id}/{self.subject_id}/{self.object_id}"


class OutboxMessage(models.Model):
    """Background work requested in the same transaction as the data (DESIGN §2). The relay
    publishes unsent rows to Celery and marks them sent; tasks are idempotent, keyed by `pk`."""

    task_name = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["id"], name="outbox_unsent_idx", condition=Q(sent_at__isnull=True))]

    def __str__(self) -> str:
        return f"{self.pk} {self.task_name}"


class TaskExecution(models.Model):
    """Idempotency record: a task run for an outbox message completes at most once."""

    message = models.OneToOneField(OutboxMessage, on_delete=models.PROTECT, related_name="execution")
    task_name = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.message_id} {self.task_name}"


class FormDraft(models.Model):
    """What a user typed into a form page and has not saved yet, kept on the server (DESIGN §4:
    drafts never in the browser's storage) so a session that expires mid-form loses nothing.
    One per user and page; deleted when the form is saved. Not clinical data: never exported,
    never shown to anyone but its author."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    path = models.CharField(max_length=300)
    data = models.JSONField(default=dict)
    saved_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "path"], name="one_draft_per_user_and_page")]

    def __str__(self) -> str:
        return f"draft {self.user_id} {self.path}"


class IdempotentRequest(models.Model):
    """A create sent with an `Idempotency-Key` header (issue 32 §1): the same user's retry with
    the same key within a day gets the first answer, not a second record. Written in the
    transaction of the save it answers, so a request that died before its commit left no key and
    its retry runs afresh. Operational, not clinical data: the record itself is audited."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of method, path and canonical body
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    response_etag = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"idempotency {self.user_id} {self.key}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ImportRecord(models.Model):
    """One CSV import of one form (issue 6 item 3): who, when, which form, which file (name and
    sha256), how it was read, how many rows, and the outcome. Kept for rejected imports and dry
    runs too; the saved rows' history names it in their audit context (`import_record`)."""

    class Outcome(models.TextChoices):
        IMPORTED = "imported", _("Imported")
        REJECTED = "rejected", _("Rejected: nothing saved")
        CHECKED = "checked", _("Checked only (dry run): nothing saved")

    class Channel(models.TextChoices):
        PAGE = "page", _("Import page")
        API = "api", _("API")
        COMMAND = "command", _("Management command")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(_("started at"))
    crf_code = models.CharField(_("form"), max_length=20)
    file_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    encoding = models.CharField(_("encoding"), max_length=20)
    delimiter = models.CharField(_("delimiter"), max_length=4)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    rows = models.PositiveIntegerField(_("data rows"))
    created = models.PositiveIntegerField(_("forms created"), default=0)
    updated = models.PositiveIntegerField(_("forms updated"), default=0)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    #: the report: [{"row": n, "field": column, "message": text}], in the importer's language
    errors = models.JSONField(_("errors"), default=list, blank=True)
    #: the saved forms: {"created": [pk, …], "updated": [pk, …]}
    saved_ids = models.JSONField(_("saved forms"), default=dict, blank=True)

    class Meta:
        verbose_name = _("CSV import")
        verbose_name_plural = _("CSV imports")
        ordering = ["-started_at", "-pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.crf_code} {self.file_name} {self.outcome}"

    @property
    def encoding_name(self) -> str:
        return str(ENCODINGS.get(self.encoding, self.encoding))


class ImportUpload(models.Model):
    """An uploaded CSV file between the preview and the confirmation of the import page, kept on
    the server (not in the session or the browser). Not clinical data until imported: deleted
    once confirmed, and after a day."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    crf_code = models.CharField(max_length=20)
    file_name = models.CharField(max_length=255)
    content = models.BinaryField()
    uploaded_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"upload {self.user_id} {self.crf_code} {self.file_name}"


# --- source data verification (issue 7 item 2) ------------------------------------------------


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class SdvMark(models.Model):
    """A monitor's source data verification of one form (`field_name` blank) or one of its
    fields (DESIGN §4 "SDV marks … are separate records"). A later change to the verified data
    clears the mark (`cleared_at`, with the change that cleared it); the row stays, so the page
    can say "SDV cleared by change on …". Never deleted."""

    subject = models.ForeignKey(settings.TRIALSITE_SUBJECT_MODEL, on_delete=models.PROTECT, related_name="sdv_marks")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    form = GenericForeignKey("content_type", "object_id")
    field_name = models.CharField(_("field"), max_length=100, blank=True)
    form_version = models.PositiveIntegerField(_("form version verified"))
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(_("verified at"))
    cleared_at = models.DateTimeField(_("cleared at"), null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cleared_reason = models.CharField(_("why the mark was cleared"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("SDV mark")
        verbose_name_plural = _("SDV marks")
        ordering = ["verified_at", "pk"]
        indexes = [models.Index(fields=["content_type", "object_id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id", "field_name"],
                condition=Q(cleared_at__isnull=True),
                name="one_active_sdv_mark_per_form_field",
            ),
        ]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"SDV {self.content_type_id}/{self.object_id} {self.field_name or '*'}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class SdvPlan(models.Model):
    """A study's SDV plan: forms verified in full (100%) and a reproducible sample of the rest.
    A form instance outside the full list is in the sample when a SHA-256 of the recorded
    `seed`, its CRF code and its id falls under `sample_percent` (crf.sdv.in_sample) — the same
    seed gives the same sample on every machine, and the plan's history records every seed."""

    study = models.OneToOneField("study.Study", on_delete=models.PROTECT, related_name="sdv_plan")
    full_forms = models.JSONField(_("forms verified in full"), default=list, blank=True)
    sample_percent = models.PositiveSmallIntegerField(
        _("sample of the other forms (%)"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    seed = models.PositiveIntegerField(_("sample seed"))
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("SDV plan")
        verbose_name_plural = _("SDV plans")
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"SDV plan {self.study_id}"


class AuditChainLink(models.Model):
    """One link of an event table's hash chain (issue 21, 21 CFR Part 11 §11.10(e)): written by a
    trigger on the event table as its owner, never by the application (crf/auditchain.py)."""

    table_name = models.CharField(max_length=63)
    seq = models.BigIntegerField()
    event_id = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)
    columns = ArrayField(models.CharField(max_length=63), default=list)
    linked_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["table_name", "seq"], name="audit_chain_unique_seq"),
            models.UniqueConstraint(fields=["table_name", "event_id"], name="audit_chain_unique_event"),
        ]

    def __str__(self) -> str:
        return f"{self.table_name}#{self.seq}"


class AuditChainHead(models.Model):
    """The last link of each event table's chain, so the trigger finds it by key (one row a table)."""

    table_name = models.CharField(max_length=63, primary_key=True)
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.table_name}#{self.seq}"


class AuditVerification(models.Model):
    """The outcome of one `verify_audit` run, shown on the health page."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    tables = models.PositiveIntegerField()
    links = models.BigIntegerField()
    first_break = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'broken'}"
