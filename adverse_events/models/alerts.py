"""SAE and severe-toxicity alerts (CLINICAL_SPEC §3 "alerts the investigator and sponsor contacts
at once and shows the 24-hour clock"; §3.1 confirmed DLTs).

`SafetyAlert` is one alert (an SAE, a CRS or ICANS grade ≥ 3, a confirmed DLT, or a break in
the audit hash chains found by the nightly verification), raised once per source. Each
recipient gets an `AlertDelivery` per channel (email, in-app); every email attempt is recorded
(`attempts`, `last_error`, `next_retry_at`) so failures and retries are visible.
`Notification` is the in-app message a user sees in the header. `SaeReport` carries an SAE's
awareness time and the investigator's "reported to the sponsor" mark (the 24-hour clock).
`SafetyContacts` holds the study's sponsor safety e-mail addresses (a study setting).
"""

from __future__ import annotations

from datetime import timedelta

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from study.models import Site, Study
from subjects.models import Subject

SAE_REPORTING_HOURS = 24


class AlertKind(models.TextChoices):
    SAE = "sae", _("Serious adverse event")
    CRS_G3 = "crs_g3", _("CRS grade ≥ 3")
    ICANS_G3 = "icans_g3", _("ICANS grade ≥ 3")
    DLT = "dlt", _("Confirmed DLT")
    AUDIT_BREAK = "audit", _("Audit trail integrity")


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    IN_APP = "in_app", _("In-app notification")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RETRYING = "retrying", _("Failed, will retry")
    SENT = "sent", _("Delivered")
    FAILED = "failed", _("Failed, no retries left")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class SafetyContacts(models.Model):
    study = models.OneToOneField(Study, on_delete=models.PROTECT, related_name="safety_contacts")
    sponsor_emails = ArrayField(models.EmailField(), default=list, blank=True, verbose_name=_("sponsor safety e-mails"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sponsor safety contacts")
        verbose_name_plural = _("sponsor safety contacts")
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return ", ".join(self.sponsor_emails)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class SafetyAlert(models.Model):
    """One alert. A clinical alert names its subject and site; an audit trail integrity alert
    (issue 21: the nightly chain verification found a break) concerns the whole database and
    has neither — it goes to every active study admin."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="safety_alerts", null=True, blank=True)
    kind = models.CharField(_("alert"), max_length=10, choices=AlertKind.choices)
    source_key = models.CharField(_("source"), max_length=80, unique=True)
    summary = models.CharField(_("summary"), max_length=400)
    # The summary as its message code and parameters, rendered in the reader's language
    # (study.system_text; issue 25); `summary` keeps the English text.
    summary_code = models.TextField(_("message code"), blank=True)
    summary_params = models.JSONField(_("message parameters"), default=dict, blank=True)
    url = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("raised at"), auto_now_add=True)

    class Meta:
        verbose_name = _("safety alert")
        verbose_name_plural = _("safety alerts")
        ordering = ["-created_at", "-pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return self.summary


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class AlertDelivery(models.Model):
    alert = models.ForeignKey(SafetyAlert, on_delete=models.PROTECT, related_name="deliveries")
    channel = models.CharField(_("delivery channel"), max_length=8, choices=Channel.choices)
    recipient = models.CharField(_("recipient"), max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    next_retry_at = models.DateTimeField(_("next retry"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert delivery")
        verbose_name_plural = _("alert deliveries")
        ordering = ["alert", "channel", "recipient"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "channel", "recipient"], name="alert_delivery_unique_recipient")
        ]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.alert_id} → {self.recipient} ({self.channel})"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notifications")
    alert = models.ForeignKey(SafetyAlert, on_delete=models.PROTECT, related_name="notifications")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["user", "alert"], name="notification_unique_user_alert")]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.alert}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class SaeReport(models.Model):
    """The 24-hour reporting clock of one SAE: from the site's awareness (set when the AE is
    first recorded as serious) until an investigator marks it reported to the sponsor."""

    adverse_event = models.OneToOneField(
        "adverse_events.AdverseEvent", on_delete=models.PROTECT, related_name="sae_report"
    )
    aware_at = models.DateTimeField(_("site aware at"))
    reported_at = models.DateTimeField(_("reported to the sponsor at"), null=True, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("SAE report")
        verbose_name_plural = _("SAE reports")
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"SAE report {self.adverse_event_id}"

    @property
    def due_at(self):  # type: ignore[no-untyped-def]
        return self.aware_at + timedelta(hours=SAE_REPORTING_HOURS)
