"""Data-management notifications (issue 31 item 1): what a user is told about queries and visits.

- `NotificationPreference`: per user and kind, how they want to hear — at once, in the daily
  digest, or not at all (no row: the kind's default, `DEFAULT_DELIVERY`).
- `Notice`: one item for one user (a query raised on their subject, their query answered, an
  automatic query, a visit due tomorrow, a visit overdue). It is the in-app list's row (read /
  unread) and what the mails list: the subject, the form and a link — never a field value or a
  query text.
- `NoticeMail`: one e-mail (one item sent at once, or one person's daily digest) with every
  attempt recorded (status, attempts, last error, next retry), as the safety alerts'
  `AlertDelivery`: failures and retries are visible.
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class NoticeKind(models.TextChoices):
    QUERY_RAISED = "query_raised", _("Query raised on my subject")
    QUERY_ANSWERED = "query_answered", _("Answer to my query")
    AUTO_QUERY = "auto_query", _("Automatic query (edit check)")
    VISIT_DUE = "visit_due", _("Visit due tomorrow")
    VISIT_OVERDUE = "visit_overdue", _("Visit overdue")


class NoticeDelivery(models.TextChoices):
    IMMEDIATE = "immediate", _("At once")
    DIGEST = "digest", _("Daily digest")
    NONE = "none", _("None")


#: What a user gets without choosing. Automatic queries and visits reach people in the daily
#: digest only (issue 31: never one mail per item), so "at once" is not offered for them.
DEFAULT_DELIVERY = {
    NoticeKind.QUERY_RAISED: NoticeDelivery.IMMEDIATE,
    NoticeKind.QUERY_ANSWERED: NoticeDelivery.IMMEDIATE,
    NoticeKind.AUTO_QUERY: NoticeDelivery.DIGEST,
    NoticeKind.VISIT_DUE: NoticeDelivery.DIGEST,
    NoticeKind.VISIT_OVERDUE: NoticeDelivery.DIGEST,
}
DIGEST_ONLY = frozenset({NoticeKind.AUTO_QUERY, NoticeKind.VISIT_DUE, NoticeKind.VISIT_OVERDUE})


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class NotificationPreference(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("notification"), max_length=16, choices=NoticeKind.choices)
    delivery = models.CharField(_("delivery"), max_length=10, choices=NoticeDelivery.choices)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_unique_kind"),
            models.CheckConstraint(
                condition=~Q(kind__in=sorted(k.value for k in DIGEST_ONLY), delivery="immediate"),
                name="notification_preference_digest_only_kinds",
            ),
        ]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: {self.delivery}"


class MailKind(models.TextChoices):
    IMMEDIATE = "immediate", _("At once")
    DIGEST = "digest", _("Daily digest")


class MailStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RETRYING = "retrying", _("Failed, will retry")
    SENT = "sent", _("Delivered")
    FAILED = "failed", _("Failed, no retries left")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class NoticeMail(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("mail"), max_length=10, choices=MailKind.choices)
    #: a digest's day (the recipient's calendar date it was built for): one digest per person per day
    digest_date = models.DateField(_("digest of"), null=True, blank=True)
    recipient = models.EmailField(_("recipient"))
    language = models.CharField(_("language"), max_length=10)
    status = models.CharField(_("status"), max_length=10, choices=MailStatus.choices, default=MailStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    next_retry_at = models.DateTimeField(_("next retry"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("notification e-mail")
        verbose_name_plural = _("notification e-mails")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "digest_date"], condition=Q(kind="digest"), name="notice_mail_one_digest_a_day"
            ),
            models.CheckConstraint(
                condition=Q(kind="immediate", digest_date__isnull=True) | Q(kind="digest", digest_date__isnull=False),
                name="notice_mail_digest_has_date",
            ),
        ]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient} ({self.status})"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Notice(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("notification"), max_length=16, choices=NoticeKind.choices)
    delivery = models.CharField(_("delivery"), max_length=10, choices=NoticeDelivery.choices)
    subject = models.ForeignKey(settings.TRIALSITE_SUBJECT_MODEL, on_delete=models.PROTECT, related_name="+")
    query = models.ForeignKey("crf.Query", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    visit = models.ForeignKey(
        settings.TRIALSITE_VISIT_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    #: a visit item's planned date (a re-planned visit is a new item); a query item's: none
    on_date = models.DateField(_("date"), null=True, blank=True)
    #: the form as its CRF code ("" for a visit or a visit-date query)
    crf_code = models.CharField(_("form"), max_length=10, blank=True)
    url = models.CharField(_("link"), max_length=300)
    mail = models.ForeignKey(NoticeMail, on_delete=models.PROTECT, null=True, blank=True, related_name="notices")
    created_at = models.DateTimeField(_("created at"))
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        indexes = [
            # the top bar's unread count: one index-only look-up per page
            models.Index(fields=["user"], condition=Q(read_at__isnull=True), name="notice_unread_by_user"),
            models.Index(fields=["user", "-created_at"], name="notice_by_user_recent"),
            # the digest collects what is waiting for it
            models.Index(
                fields=["user"], condition=Q(delivery="digest", mail__isnull=True), name="notice_waiting_for_digest"
            ),
        ]
        constraints = [
            # each visit is listed once per kind and planned date, each query event once
            models.UniqueConstraint(
                fields=["user", "kind", "visit", "on_date"],
                condition=Q(visit__isnull=False),
                name="notice_visit_once",
            ),
            models.UniqueConstraint(
                fields=["user", "kind", "query"],
                condition=Q(kind="auto_query"),
                name="notice_auto_query_once",
            ),
        ]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.subject_id}"
