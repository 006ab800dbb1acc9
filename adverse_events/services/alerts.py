"""Raising and delivering safety alerts (CLINICAL_SPEC §3: an SAE reaches the sponsor within 24
hours of awareness; the system alerts the investigator and sponsor contacts at once).

`raise_alert` runs in the caller's transaction: one `SafetyAlert` per source (an SAE, a CRS or
ICANS episode reaching grade ≥ 3, a confirmed DLT), one `AlertDelivery` per recipient and
channel, and an outbox message (`adverse_events.tasks.deliver_alert`). `deliver_alert` (run by
the Celery worker) writes in-app notifications and sends e-mails through Django's mail backend;
a failed e-mail is recorded (attempts, last error, next retry) and retried later by another
outbox message that waits for `next_retry_at`, up to `SAFETY_ALERT_MAX_ATTEMPTS`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from adverse_events.models import (
    AdverseEvent,
    AlertDelivery,
    AlertKind,
    Channel,
    CrsAssessment,
    CrsEpisode,
    DeliveryStatus,
    IcansAssessment,
    IcansEpisode,
    Notification,
    SaeReport,
    SafetyAlert,
    SafetyContacts,
)
from crf import audit_integrity, display
from crf.outbox import enqueue
from datamanagement.notifications import max_attempts, retry_delay
from dbtools.prepared import Prepared
from study import access, system_text
from study.language import name_of, user_language
from study.models import Membership
from study.roles import Action, Role

if TYPE_CHECKING:
    from study.models import Study, User
    from subjects.models import Subject

TASK = "adverse_events.tasks.deliver_alert"


def sponsor_emails(study: Study) -> list[str]:
    contacts = SafetyContacts.objects.filter(study=study).first()
    return list(contacts.sponsor_emails) if contacts else []


def _investigators(subject: Subject) -> list[Any]:
    return [
        m.user
        for m in Membership.objects.filter(
            site=subject.site, role=Role.INVESTIGATOR, ended_at__isnull=True, user__is_active=True
        ).select_related("user")
    ]


def raise_alert(
    *, kind: str, subject: Subject, source_key: str, summary: tuple[str, dict[str, Any]], url: str = ""
) -> SafetyAlert | None:
    """Raise one alert per source (a second call for the same source does nothing). `summary` is
    a message code and its parameters (`system_text.compose`): shown in each reader's language,
    kept in English in `summary` for the audit trail and plain-text readers."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("raise_alert runs inside the transaction that records its source")
    code, params = summary
    with translation.override("en"):
        english = display.render_message(code, params)
    alert, created = SafetyAlert.objects.get_or_create(
        source_key=source_key,
        defaults={
            "kind": kind,
            "subject": subject,
            "site": subject.site,
            "summary": english[:400],
            "summary_code": code,
            "summary_params": params,
            "url": url,
        },
    )
    if not created:
        return None
    for user in _investigators(subject):
        AlertDelivery.objects.create(alert=alert, channel=Channel.IN_APP, recipient=user.username, user=user)
        if user.email:
            AlertDelivery.objects.get_or_create(
                alert=alert, channel=Channel.EMAIL, recipient=user.email, defaults={"user": user}
            )
    for email in sponsor_emails(subject.site.study):
        AlertDelivery.objects.get_or_create(alert=alert, channel=Channel.EMAIL, recipient=email)
    enqueue(task_name=TASK, alert_id=alert.pk)
    return alert


def deliver_alert(*, alert_id: int) -> dict[str, int]:
    """Deliver what is due: in-app notifications at once; e-mails through the mail backend, a
    failure recorded and scheduled for retry. Returns counts by outcome."""
    alert = SafetyAlert.objects.select_related("subject", "site").get(pk=alert_id)
    now = timezone.now()
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    due = AlertDelivery.objects.select_for_update().filter(
        alert=alert, status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING]
    )
    for delivery in due:
        if delivery.next_retry_at and delivery.next_retry_at > now:
            continue
        delivery.attempts += 1
        delivery.last_attempt_at = now
        if delivery.channel == Channel.IN_APP:
            Notification.objects.get_or_create(user=delivery.user, alert=alert)
            _delivered(delivery, now)
            counts["sent"] += 1
            continue
        try:
            with translation.override(_recipient_language(delivery)):
                send_mail(
                    subject=f"[TrialSite] {alert.get_kind_display()}: {alert_summary(alert)}"[:200],
                    message=_email_body(alert),
                    from_email=None,
                    recipient_list=[delivery.recipient],
                    fail_silently=False,
                )
        except Exception as exc:
            delivery.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if delivery.attempts >= max_attempts():
                delivery.status = DeliveryStatus.FAILED
                delivery.next_retry_at = None
                counts["failed"] += 1
            else:
                delivery.status = DeliveryStatus.RETRYING
                delivery.next_retry_at = now + retry_delay(delivery.attempts)
                counts["retrying"] += 1
            delivery.save()
            continue
        _delivered(delivery, now)
        counts["sent"] += 1
    next_retry = (
        AlertDelivery.objects.filter(alert=alert, status=DeliveryStatus.RETRYING)
        .order_by("next_retry_at")
        .values_list("next_retry_at", flat=True)
        .first()
    )
    if next_retry is not None:
        enqueue(task_name=TASK, alert_id=alert.pk, not_before=next_retry.isoformat())
    return counts


def _delivered(delivery: AlertDelivery, now: Any) -> None:
    delivery.status = DeliveryStatus.SENT
    delivery.delivered_at = now
    delivery.next_retry_at = None
    delivery.save()


def alert_summary(alert: SafetyAlert) -> str:
    """The alert's summary in the active language (its stored English text for an alert raised
    before summaries were stored as codes)."""
    return display.system_message(alert, "summary")


def _recipient_language(delivery: AlertDelivery) -> str:
    """A user's language (their choice, else their site's); English for a sponsor address."""
    if delivery.user is None:
        return "en"
    return user_language(delivery.user)


def _email_body(alert: SafetyAlert) -> str:
    """The e-mail text in the active language (the recipient's), times in the site's zone."""
    lines = [
        alert_summary(alert),
        f"{_('Site')}: {alert.site.code} {name_of(alert.site)}",
        f"{_('Subject')}: {alert.subject.subject_id or alert.subject.pk}",
        f"{_('Raised')}: {display.when(alert.created_at, alert.site.time_zone)}",
    ]
    if alert.kind == AlertKind.SAE:
        lines.append(_("Report to the sponsor within 24 hours of the site's awareness."))
    if alert.url:
        lines.append(alert.url)
    return "\n".join(lines)


# --- SAE reporting clock -------------------------------------------------------------------------


@transaction.atomic
def mark_sae_reported(*, user: User, report: SaeReport, expected_version: int) -> SaeReport:
    """An investigator marks the SAE reported to the sponsor (DESIGN §4a "sign")."""
    ae = report.adverse_event
    if not access.can(user, Action.SIGN, site=ae.subject.site):
        raise PermissionDenied
    row = SaeReport.objects.select_for_update().get(pk=report.pk)
    if row.version != expected_version:
        raise ValidationError(_("Someone else changed this SAE report: reload the page."), code="stale")
    if row.reported_at is not None:
        raise ValidationError(_("This SAE is already marked reported."), code="reported")
    row.reported_at = timezone.now()
    row.reported_by = user
    row.version = F("version") + 1
    row.save()
    row.refresh_from_db()
    return row


def visible_notifications(user: Any) -> Any:
    """The user's notifications: those of alerts at sites they still see, and the study-wide
    audit trail alerts while they are a study admin."""
    if not user.is_authenticated:
        return Notification.objects.none()
    visible_sites = access.sites_visible_to(user)
    audit = Q(alert__kind=AlertKind.AUDIT_BREAK, alert__site__isnull=True) if _is_study_admin(user) else Q(pk__in=[])
    return Notification.objects.filter(Q(alert__site__in=visible_sites) | audit, user=user).select_related(
        "alert", "alert__subject"
    )


def mark_notifications_read(*, user: Any, ids: list[int] | None, now: datetime) -> int:
    """The user's own unread notifications marked read: those of `ids`, or all of them (None);
    another user's, or an id that names nothing, is ignored. Returns how many changed
    (`datamanagement.hooks.mark_safety_notifications_read`, the one notifications list)."""
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return rows.update(read_at=now)


def alerts_visible_filter(user: Any) -> Q:
    """Alerts on the delivery page: those at the sites where the user views safety, and the
    audit trail alerts for a study admin."""
    at_sites = Q(site__in=access.sites_where(user, Action.VIEW_SAFETY))
    if _is_study_admin(user):
        return at_sites | Q(kind=AlertKind.AUDIT_BREAK, site__isnull=True)
    return at_sites


def unread_notifications(user: Any) -> Any:
    return visible_notifications(user).filter(read_at__isnull=True)


def _is_study_admin(user: Any) -> bool:
    return access.active_memberships(user).filter(role=Role.STUDY_ADMIN).exists()


def _active_study_admins() -> list[Any]:
    users = {
        m.user.pk: m.user
        for m in Membership.objects.filter(role=Role.STUDY_ADMIN, ended_at__isnull=True, user__is_active=True)
        .select_related("user")
        .order_by("user__pk")
    }
    return list(users.values())


@audit_integrity.on_chain_break
def raise_audit_break_alert(*, verification: Any) -> SafetyAlert | None:
    """The nightly verification found a break in the audit hash chains (issue 21; 21 CFR Part 11
    §11.10(e)): a safety-style alert in the app, beside the e-mail, for every active study admin.
    One alert per break — the source is the first broken link, so the nights that find the same
    break again raise nothing new; a different break raises a new alert. Delivered in the
    verification's transaction (in-app only: the e-mail goes by `crf.tasks.audit_break_alert`)."""
    first_break = verification.first_break or ""
    source_key = "audit:" + hashlib.sha256(first_break.encode()).hexdigest()
    code, params = system_text.compose(
        gettext_noop("Audit trail integrity check failed: %(detail)s"), detail=first_break[:300]
    )
    with translation.override("en"):
        english = system_text.render(code, params)
    alert, created = SafetyAlert.objects.get_or_create(
        source_key=source_key,
        defaults={
            "kind": AlertKind.AUDIT_BREAK,
            "summary": english[:400],
            "summary_code": code,
            "summary_params": params,
        },
    )
    if not created:
        return None
    now = timezone.now()
    for user in _active_study_admins():
        AlertDelivery.objects.create(
            alert=alert,
            channel=Channel.IN_APP,
            recipient=user.username,
            user=user,
            attempts=1,
            last_attempt_at=now,
            status=DeliveryStatus.SENT,
            delivered_at=now,
        )
        Notification.objects.create(user=user, alert=alert)
    return alert


# --- hooks -------------------------------------------------------------------------------------------


def _subject_label(subject: Subject) -> str:
    return subject.subject_id or subject.screening_number or str(subject.pk)


def _sae_recorded(*, user: User, saved: AdverseEvent, previous: AdverseEvent | None) -> None:
    if saved.entered_in_error or not saved.serious:
        return
    SaeReport.objects.get_or_create(adverse_event=saved, defaults={"aware_at": timezone.now()})
    url = reverse("adverse_events:sae", args=[saved.subject_id, saved.pk])
    raise_alert(
        kind=AlertKind.SAE,
        subject=saved.subject,
        source_key=f"sae:{saved.pk}",
        summary=system_text.compose(
            gettext_noop("SAE, subject %(subject)s: %(term)s grade %(grade)s, onset %(onset)s"),
            subject=_subject_label(saved.subject),
            term=saved.ctcae_term,
            grade=saved.grade,
            onset=saved.onset_date,
        ),
        url=url,
    )


#: the subject's episodes not superseded, per episode model (statements compiled once, dbtools.prepared)
_live_episodes = {
    model: Prepared(
        lambda subject_id, model=model: model.objects.filter(subject_id=subject_id, superseded=False), ("subject_id",)
    )
    for model in (CrsEpisode, IcansEpisode)
}


def _severe_episodes(model: type[Any], label: str, kind: str, subject: Subject) -> None:
    for episode in _live_episodes[model].objects(subject_id=subject.pk):
        if episode.grade >= 3:
            raise_alert(
                kind=kind,
                subject=subject,
                source_key=f"{kind}:{episode.pk}",
                summary=system_text.compose(
                    gettext_noop("%(what)s grade %(grade)s, subject %(subject)s, episode %(n)s from study day %(day)s"),
                    what=label,
                    grade=episode.grade,
                    subject=_subject_label(subject),
                    n=episode.number,
                    day=episode.onset_day,
                ),
                # the episode itself, where the investigator reviews and adjudicates it (issue 24 item 5)
                url=reverse("adverse_events:episode", args=[subject.pk, label.lower(), episode.pk]),
            )


def _crs_severe(*, user: User, saved: CrsAssessment, previous: CrsAssessment | None) -> None:
    _severe_episodes(CrsEpisode, "CRS", AlertKind.CRS_G3, saved.subject)


def _icans_severe(*, user: User, saved: IcansAssessment, previous: IcansAssessment | None) -> None:
    _severe_episodes(IcansEpisode, "ICANS", AlertKind.ICANS_G3, saved.subject)
