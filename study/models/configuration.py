"""Study configuration: users, studies, sites and role memberships (DESIGN §3, §4a)."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from study.roles import Role

LANGUAGE_CHOICES = [("en", "English"), ("zh-hans", "简体中文")]


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    exclude=["password", "last_login"],
)
class User(AbstractUser):
    """A person who signs in. Deactivated, never deleted (their audit trail must resolve)."""

    language = models.CharField(
        _("language"),
        max_length=10,
        choices=LANGUAGE_CHOICES,
        blank=True,
        help_text=_("Blank: the default language of your site."),
    )
    printed_name = models.CharField(_("printed name"), max_length=150, blank=True)

    def display_name(self) -> str:
        return self.printed_name or self.get_full_name() or self.username


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Study(models.Model):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=300)
    title_zh = models.CharField(_("title (Chinese)"), max_length=300, blank=True)
    registry_id = models.CharField(_("registry ID"), max_length=40, blank=True)
    phase = models.CharField(_("phase"), max_length=20, blank=True)
    planned_subjects = models.PositiveIntegerField(_("planned subjects"), default=0)

    class Meta:
        verbose_name = _("study")
        verbose_name_plural = _("studies")

    def __str__(self) -> str:
        return self.code


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Site(models.Model):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="sites")
    code = models.CharField(_("site code"), max_length=10)
    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    default_language = models.CharField(
        _("default language"), max_length=10, choices=LANGUAGE_CHOICES, default="zh-hans"
    )
    subject_prefix = models.CharField(_("subject ID prefix"), max_length=10)
    # Study build (issue 27 item 1): where the site is and when it may register subjects.
    country = models.CharField(_("country"), max_length=2, blank=True)
    active_from = models.DateField(_("active from"), null=True, blank=True)
    active_to = models.DateField(_("active to"), null=True, blank=True)

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="site_code_unique_in_study"),
            models.CheckConstraint(
                condition=Q(active_to__isnull=True)
                | Q(active_from__isnull=True)
                | Q(active_to__gte=models.F("active_from")),
                name="site_active_to_not_before_from",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Membership(models.Model):
    """A user's role at a site. Ended, never deleted; at most one active row per user/site/role."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    granted_at = models.DateTimeField(_("granted at"))
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("reason for ending"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "site", "role"],
                condition=Q(ended_at__isnull=True),
                name="one_active_membership_per_role",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("granted_at")),
                name="membership_ends_after_grant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} @ {self.site.code}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class AccountEvent(models.Model):
    """A readable log of account administration (invitations, role changes, lockout unlocks),
    shown on the user's page. The database triggers record the row-level history as well."""

    class Kind(models.TextChoices):
        INVITED = "invited", _("Invited")
        ROLE_GRANTED = "role_granted", _("Role granted")
        ROLE_ENDED = "role_ended", _("Role ended")
        DEACTIVATED = "deactivated", _("Deactivated")
        REACTIVATED = "reactivated", _("Reactivated")
        UNLOCKED = "unlocked", _("Lockout lifted")
        API_TOKEN_CREATED = "api_token_created", _("API token created")
        API_TOKEN_REVOKED = "api_token_revoked", _("API token revoked")
        API_TOKENS_REVOKED = "api_tokens_revoked", _("All API tokens revoked")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="account_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("event"), max_length=20, choices=Kind.choices)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("account event")
        verbose_name_plural = _("account events")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.user}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class VisitDefinition(models.Model):
    """One time point of the study schedule (CLINICAL_SPEC §7): a day offset from its anchor and
    a window. Event-driven steps (collection, bridging) have no planned day."""

    class Anchor(models.TextChoices):
        ENROLMENT = "enrolment", _("Enrolment")
        INFUSION = "infusion", _("First infusion (day 0)")
        EVENT = "event", _("When it happens")

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="visit_definitions")
    code = models.CharField(_("visit code"), max_length=20)
    name = models.CharField(_("name"), max_length=100)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100)
    anchor = models.CharField(_("anchor"), max_length=10, choices=Anchor.choices)
    day = models.IntegerField(_("planned day"), null=True, blank=True)
    window_before = models.PositiveSmallIntegerField(_("window before (days)"), default=0)
    window_after = models.PositiveSmallIntegerField(_("window after (days)"), default=0)
    marrow = models.CharField(
        _("bone marrow"),
        max_length=10,
        choices=[("", _("none")), ("optional", _("optional")), ("required", _("required"))],
        blank=True,
    )
    order = models.PositiveSmallIntegerField(_("order"))

    class Meta:
        verbose_name = _("visit definition")
        verbose_name_plural = _("visit definitions")
        ordering = ["study", "order"]
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="visit_code_unique_in_study"),
            models.CheckConstraint(
                condition=Q(anchor="event", day__isnull=True) | (~Q(anchor="event") & Q(day__isnull=False)),
                name="visit_day_matches_anchor",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def display_name(self) -> str:
        """The name in the language of the page."""
        return self.name_zh if (get_language() or "").startswith("zh") and self.name_zh else self.name


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class DoseLevelName(models.Model):
    """A dose level's name in English and Chinese (issue 25 item 4), by its code. The level itself
    (target dose and range, CLINICAL_SPEC §3.1) is part of the versioned protocol settings; its
    name is what people read, edited by the study admin on the names page (study/names.py)."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="dose_level_names")
    code = models.CharField(_("dose level"), max_length=20)
    name = models.CharField(_("name (English)"), max_length=100)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("dose level name")
        verbose_name_plural = _("dose level names")
        ordering = ["study", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="dose_level_name_unique_in_study"),
        ]

    def __str__(self) -> str:
        return self.code


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ProtocolSettings(models.Model):
    """One version of the study's protocol choices (DESIGN §4; CLINICAL_SPEC's open choices).

    Versions are never edited: a change is a new version with an effective date. The version in
    force on a clinical date is the newest version effective on or before it.
    """

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="protocol_settings")
    version = models.PositiveIntegerField(_("version"))
    effective_from = models.DateField(_("effective from"))
    values = models.JSONField(_("values"))
    reason = models.CharField(_("reason"), max_length=300)
    # The protocol version (amendment) this settings version came in with (issue 27 item 2).
    protocol_version = models.ForeignKey(
        "study.ProtocolVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="settings_versions",
        verbose_name=_("protocol version"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("protocol settings")
        verbose_name_plural = _("protocol settings")
        ordering = ["study", "version"]
        constraints = [
            models.UniqueConstraint(fields=["study", "version"], name="protocol_settings_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.study} v{self.version} from {self.effective_from}"

    def choices(self):  # type: ignore[no-untyped-def]
        from clinical.protocol import ProtocolChoices

        return ProtocolChoices.from_json(self.values)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class AssessmentSchedule(models.Model):
    """One version of the schedule of assessments (CLINICAL_SPEC §7.1): which forms each visit
    expects, and which forms are logs kept apart from the visits. Versions are never edited; the
    version in force for a visit is the newest effective on or before its planned date.

    `matrix` is {"visits": {visit code: [CRF codes]}, "logs": [CRF codes]}."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="assessment_schedules")
    version = models.PositiveIntegerField(_("version"))
    effective_from = models.DateField(_("effective from"))
    matrix = models.JSONField(_("schedule matrix"))
    reason = models.CharField(_("reason"), max_length=300)
    protocol_version = models.ForeignKey(
        "study.ProtocolVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="schedule_versions",
        verbose_name=_("protocol version"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("schedule of assessments")
        verbose_name_plural = _("schedules of assessments")
        ordering = ["study", "version"]
        constraints = [
            models.UniqueConstraint(fields=["study", "version"], name="assessment_schedule_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.study} schedule v{self.version} from {self.effective_from}"


class Rederivation(models.Model):
    """What a new settings version re-derived: one row per form instance whose stored derived
    values were recomputed (DESIGN §4: a new version re-derives values dated on or after its
    effective date and lists them)."""

    class Outcome(models.TextChoices):
        REDERIVED = "rederived", _("Re-derived")
        SKIPPED_LOCKED = "skipped_locked", _("Not re-derived: frozen or locked")

    settings = models.ForeignKey(ProtocolSettings, on_delete=models.PROTECT, related_name="rederivations")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.REDERIVED)
    form_label = models.CharField(max_length=100)
    object_id = models.PositiveBigIntegerField()
    clinical_date = models.DateField()
    changed = models.JSONField(default=dict)  # {field: new value} of the fields that changed
    previous = models.JSONField(default=dict)  # {field: value before} of the same fields
    at = models.DateTimeField()

    class Meta:
        ordering = ["settings", "clinical_date", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["settings", "form_label", "object_id"], name="rederived_once_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.form_label}#{self.object_id} under v{self.settings_id}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ProtocolVersion(models.Model):
    """One version of the protocol (issue 27 item 2): the original (often "1.0") and each
    amendment, with its date, the date the ethics committee approved it and a summary. The
    settings versions that came in with it point at it (`protocol_version` on every model of
    `study.amendments.AMENDABLE`). Versions are never edited or deleted. The version in force on
    a date is the newest approved on or before it."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="protocol_versions")
    number = models.CharField(_("protocol version"), max_length=20)
    protocol_date = models.DateField(_("protocol date"))
    approval_date = models.DateField(_("approval date"))
    summary = models.TextField(_("summary of changes"), max_length=4000)
    reason = models.CharField(_("reason"), max_length=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("protocol version")
        verbose_name_plural = _("protocol versions")
        ordering = ["study", "approval_date", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["study", "number"], name="protocol_version_number_unique"),
            models.CheckConstraint(
                condition=Q(approval_date__gte=models.F("protocol_date")), name="protocol_version_approved_after_date"
            ),
        ]

    def __str__(self) -> str:
        return str(self.number)
