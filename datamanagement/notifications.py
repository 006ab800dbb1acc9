"""Notifications of data management (issue 31 item 1): queries and visits, by e-mail and in-app.

Who hears what:

- a query raised by a monitor or data manager → the coordinators of the subject's site;
- a query answered → the person who raised it;
- an automatic query (an edit check fired) → the site's coordinators, in the daily digest only;
- a visit planned for tomorrow, a visit overdue (CLINICAL_SPEC §7.1: its window has passed and
  an expected form is missing) → the site's coordinators, in ONE daily digest per person.

Each user chooses per kind: at once, daily digest or none (`set_preferences`; "none" means no
e-mail and no in-app item). Nobody hears about a subject they may not see: every recipient goes
through the visibility gate (`study.access.subjects_visible_to` and the VIEW_CRF role at
the subject's site), when the item is made and again when the e-mail is sent.

An item (`Notice`) is the in-app list's row; an e-mail (`NoticeMail`) carries one item (at once)
or the day's items (digest) — the subject ID, the form and a link, never a field value or a query
text — in the recipient's language, sent by the Celery worker through the outbox
(`datamanagement.tasks.send_notice_mail`), each attempt recorded and a failure retried as the
safety alerts' e-mails are (`SAFETY_ALERT_RETRY_SECONDS`, `SAFETY_ALERT_MAX_ATTEMPTS`).

The query items come from crf's declared hook (`crf.queries.on_query_step`), the digest from
the beat entry `datamanagement.tasks.daily_digest`: no lower app imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import DateField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crf import display
from crf.models import ACTIVE_QUERY_STATUSES, Query, QueryStep
from crf.outbox import enqueue
from crf.registry import crf_models
from datamanagement import hooks
from datamanagement.models import (
    DEFAULT_DELIVERY,
    DIGEST_ONLY,
    MailKind,
    MailStatus,
    Notice,
    NoticeDelivery,
    NoticeKind,
    NoticeMail,
    NotificationPreference,
)
from study import access
from study.access import subjects_visible_to
from study.language import user_language
from study.models import Membership, User
from study.roles import Action, Role

SEND_TASK = "datamanagement.tasks.send_notice_mail"


# --- preferences ---------------------------------------------------------------------------------


def choices_for(kind: str) -> list[str]:
    """The deliveries a user may choose for a kind: digest-only kinds are never mailed one by one."""
    if kind in DIGEST_ONLY:
        return [NoticeDelivery.DIGEST.value, NoticeDelivery.NONE.value]
    return [d.value for d in NoticeDelivery]


def preferences_of(user: User) -> dict[str, str]:
    """Every kind with the user's delivery (their choice, else the default)."""
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "delivery"))
    return {kind.value: chosen.get(kind.value, DEFAULT_DELIVERY[kind].value) for kind in NoticeKind}


@transaction.atomic
def set_preferences(*, user: User, choices: dict[str, str]) -> dict[str, str]:
    """Store the user's choice for each kind given. A kind or delivery not offered → ValidationError
    naming the kind; nothing is saved then."""
    errors = {}
    for kind, delivery in choices.items():
        if kind not in NoticeKind.values:
            errors[kind] = _("Unknown notification.")
        elif delivery not in choices_for(kind):
            errors[kind] = _("Choose one of the deliveries offered.")
    if errors:
        raise ValidationError(errors, code="invalid")
    stored = {p.kind: p for p in NotificationPreference.objects.select_for_update().filter(user=user)}
    for kind, delivery in choices.items():
        row = stored.get(kind) or NotificationPreference(user=user, kind=kind)
        if row.pk is not None and row.delivery == delivery:
            continue
        row.delivery = delivery
        row.full_clean()
        if row.pk is None:
            row.save()
        else:
            row.save(update_fields=["delivery", "updated_at"])
    return preferences_of(user)


# --- e-mail retries -----------------------------------------------------------------------------


def max_attempts() -> int:
    """Attempts before an e-mail shows failed: the notices' and the safety alerts' e-mails alike
    (settings.SAFETY_ALERT_MAX_ATTEMPTS; `adverse_events.services.alerts` uses these two)."""
    return int(getattr(settings, "SAFETY_ALERT_MAX_ATTEMPTS", 5))


def retry_delay(attempt: int) -> timedelta:
    """Delay after the `attempt`-th failure (settings.SAFETY_ALERT_RETRY_SECONDS, last one repeats)."""
    delays = list(getattr(settings, "SAFETY_ALERT_RETRY_SECONDS", (60, 300, 900, 3600)))
    return timedelta(seconds=delays[min(attempt, len(delays)) - 1])


# --- the visibility gate ----------------------------------------------------------------------------


def may_see(user: User, subject: Any) -> bool:
    """The recipient may see this subject (the visibility gate) and view its forms."""
    if not user.is_active:
        return False
    return subjects_visible_to(user).filter(pk=subject.pk).exists() and access.can(
        user, Action.VIEW_CRF, site=subject.site
    )


def _coordinators(site_id: int) -> list[User]:
    memberships = Membership.objects.filter(
        site_id=site_id, role=Role.COORDINATOR, ended_at__isnull=True, user__is_active=True
    ).select_related("user")
    return list({m.user_id: m.user for m in memberships.order_by("user_id")}.values())


# --- items ---------------------------------------------------------------------------------------


def _form_of(query: Query) -> tuple[str, str]:
    """The query's form as its CRF code and the link to the query (never its value or text)."""
    model = query.content_type.model_class()
    return getattr(model, "crf_code", "") or "", reverse("crf_dm:query_detail", args=[query.pk])


def _notice(
    *,
    user: User,
    kind: str,
    subject: Any,
    url: str,
    now: datetime,
    delivery: str,
    query: Query | None = None,
    visit: Any = None,
    on_date: date | None = None,
    crf_code: str = "",
) -> Notice:
    notice = Notice(
        user=user,
        kind=kind,
        delivery=delivery,
        subject=subject,
        query=query,
        visit=visit,
        on_date=on_date,
        crf_code=crf_code,
        url=url,
        created_at=now,
    )
    notice.full_clean(validate_constraints=False)
    notice.save()
    return notice


def _mail(*, user: User, kind: str, digest_date: date | None = None) -> NoticeMail | None:
    """A pending e-mail to the user and its outbox message; None for a user without an address."""
    if not user.email:
        return None
    mail = NoticeMail(user=user, kind=kind, digest_date=digest_date, recipient=user.email, language=user_language(user))
    mail.full_clean(validate_constraints=False)
    mail.save()
    enqueue(task_name=SEND_TASK, mail_id=mail.pk)
    return mail


def notify_query(*, kind: str, query: Query, recipients: Iterable[User], now: datetime) -> list[Notice]:
    """One item per recipient who may see the subject and did not choose "none"; e-mailed at once
    to those who chose it, kept for the digest for the others."""
    made = []
    subject = query.subject
    crf_code, url = _form_of(query)
    for user in recipients:
        delivery = preferences_of(user)[kind]
        if delivery == NoticeDelivery.NONE or not may_see(user, subject):
            continue
        notice = _notice(
            user=user, kind=kind, subject=subject, url=url, now=now, delivery=delivery, query=query, crf_code=crf_code
        )
        if delivery == NoticeDelivery.IMMEDIATE:
            notice.mail = _mail(user=user, kind=MailKind.IMMEDIATE)
            if notice.mail is not None:
                notice.save(update_fields=["mail"])
        made.append(notice)
    return made


def query_step_taken(*, query: Query, step: QueryStep) -> None:
    """crf's declared hook (`crf.queries.on_query_step`): a person raised (or re-opened) a query →
    the site's coordinators; answered one → its raiser. Nobody is told of their own step."""
    raised = (QueryStep.Action.RAISED, QueryStep.Action.REOPENED)
    if step.action in raised and step.by_id is not None:
        recipients = [u for u in _coordinators(query.subject.site_id) if u.pk != step.by_id]
        notify_query(kind=NoticeKind.QUERY_RAISED, query=query, recipients=recipients, now=step.at)
    elif step.action == QueryStep.Action.ANSWERED and query.raised_by is not None and query.raised_by_id != step.by_id:
        notify_query(kind=NoticeKind.QUERY_ANSWERED, query=query, recipients=[query.raised_by], now=step.at)


# --- the daily digest --------------------------------------------------------------------------------


def digest_hour() -> int:
    return int(getattr(settings, "NOTIFICATION_DIGEST_HOUR", 7))


def _home_zone(user: User) -> ZoneInfo:
    """The user's calendar for their digest: the zone of their first active site."""
    membership = (
        Membership.objects.filter(user=user, ended_at__isnull=True).select_related("site").order_by("pk").first()
    )
    return ZoneInfo(membership.site.time_zone if membership else settings.TIME_ZONE)


def _local_today(now: datetime, zone: str) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


def _coordinated_subjects(user: User) -> QuerySet[Any]:
    """Subjects the user coordinates and may see (the visibility gate, then the role)."""
    sites = Membership.objects.filter(user=user, role=Role.COORDINATOR, ended_at__isnull=True).values("site_id")
    return subjects_visible_to(user).filter(site__in=access.sites_where(user, Action.VIEW_CRF)).filter(site__in=sites)


def _visit_items(user: User, now: datetime, prefs: dict[str, str]) -> list[Notice]:
    """New items for visits planned tomorrow and visits overdue (each visit once per planned
    date and kind), on the site's own calendar."""
    wanted = {k for k in (NoticeKind.VISIT_DUE, NoticeKind.VISIT_OVERDUE) if prefs[k] != NoticeDelivery.NONE}
    if not wanted:
        return []
    closes = ExpressionWrapper(
        F("planned_date") + Coalesce("window_after", "definition__window_after"), output_field=DateField()
    )
    visits = (
        hooks.visits_not_done(subjects=_coordinated_subjects(user))
        .annotate(closes=closes)
        .filter(
            planned_date__isnull=False,
            planned_date__lte=now.date() + timedelta(days=2),
        )
        .exclude(definition__anchor="event")
        .select_related("subject__site", "definition")
        .order_by("planned_date", "subject__subject_id", "definition__order")
    )
    already = set(
        Notice.objects.filter(user=user, kind__in=wanted, visit__isnull=False).values_list(
            "kind", "visit_id", "on_date"
        )
    )
    made = []
    for visit in visits:
        today = _local_today(now, visit.subject.site.time_zone)
        if visit.planned_date == today + timedelta(days=1):
            kind = NoticeKind.VISIT_DUE
        elif visit.closes < today:
            kind = NoticeKind.VISIT_OVERDUE
        else:
            continue
        if kind not in wanted or (kind.value, visit.pk, visit.planned_date) in already:
            continue
        made.append(
            _notice(
                user=user,
                kind=kind,
                subject=visit.subject,
                url=reverse("subjects:visit", args=[visit.subject_id, visit.pk]),
                now=now,
                delivery=NoticeDelivery.DIGEST,
                visit=visit,
                on_date=visit.planned_date,
            )
        )
        already.add((kind.value, visit.pk, visit.planned_date))
    return made


def _automatic_query_items(user: User, now: datetime, prefs: dict[str, str]) -> list[Notice]:
    """New items for the automatic queries still open on the user's subjects, raised in the last
    two days (a day missed by the beat is caught up), each query once."""
    if prefs[NoticeKind.AUTO_QUERY] == NoticeDelivery.NONE:
        return []
    queries = (
        Query.objects.filter(
            ~Q(rule_code=""),
            subject__in=_coordinated_subjects(user),
            status__in=ACTIVE_QUERY_STATUSES,
            raised_at__gt=now - timedelta(days=2),
            raised_at__lte=now,
        )
        .exclude(pk__in=Notice.objects.filter(user=user, kind=NoticeKind.AUTO_QUERY).values("query_id"))
        .select_related("subject__site", "content_type")
        .order_by("raised_at", "pk")
    )
    made = []
    for query in queries:
        crf_code, url = _form_of(query)
        made.append(
            _notice(
                user=user,
                kind=NoticeKind.AUTO_QUERY,
                subject=query.subject,
                url=url,
                now=now,
                delivery=NoticeDelivery.DIGEST,
                query=query,
                crf_code=crf_code,
            )
        )
    return made


def digest_recipients() -> QuerySet[Any]:
    """Active coordinators, and anyone with items waiting for their digest."""
    waiting = Notice.objects.filter(delivery=NoticeDelivery.DIGEST, mail__isnull=True).values("user_id")
    coordinators = Membership.objects.filter(role=Role.COORDINATOR, ended_at__isnull=True).values("user_id")
    return User.objects.filter(Q(pk__in=waiting) | Q(pk__in=coordinators), is_active=True).order_by("pk")


@transaction.atomic
def build_digest(*, user: User, now: datetime) -> NoticeMail | None:
    """The user's digest of `now`'s day in their zone, from the digest hour on: the new visit and
    automatic-query items, and every item waiting for the digest, in ONE e-mail. At most one per
    person and day (a second call that day does nothing); none when there is nothing to say."""
    user = User.objects.select_for_update().get(pk=user.pk)  # two beats racing: one digest
    local = now.astimezone(_home_zone(user))
    if local.hour < digest_hour():
        return None
    day = local.date()
    if NoticeMail.objects.filter(user=user, kind=MailKind.DIGEST, digest_date=day).exists():
        return None
    prefs = preferences_of(user)
    _visit_items(user, now, prefs)
    _automatic_query_items(user, now, prefs)
    waiting = Notice.objects.filter(user=user, delivery=NoticeDelivery.DIGEST, mail__isnull=True)
    visible = waiting.filter(subject__in=subjects_visible_to(user))
    if not visible.exists():
        return None
    mail = _mail(user=user, kind=MailKind.DIGEST, digest_date=day)
    if mail is None:  # no address: the items stay in the in-app list
        return None
    visible.update(mail=mail)
    return mail


def build_digests(*, now: datetime) -> dict[str, int]:
    """Every recipient's digest (the beat entry); each in its own transaction."""
    built = 0
    for user in digest_recipients():
        if build_digest(user=user, now=now) is not None:
            built += 1
    return {"digests": built}


# --- sending ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailLine:
    kind: str
    subject: str
    form: str
    when: str
    link: str


def form_title(crf_code: str) -> str:
    """A CRF code as the form's title in the active language ("" for none)."""
    model = crf_models().get(crf_code) if crf_code else None
    return str(model.crf_title) if model is not None else crf_code


def item_form(notice: Notice) -> str:
    """What the item is about, without any value: the form, or the visit and its planned date."""
    if notice.visit_id is not None and notice.visit is not None:
        planned = display.value_text(notice.on_date) if notice.on_date else ""
        return f"{display.visit_text(notice.visit)} · {planned}" if planned else display.visit_text(notice.visit)
    if notice.crf_code:
        return form_title(notice.crf_code)
    return _("Visit date")


def base_url() -> str:
    return str(getattr(settings, "NOTIFICATION_BASE_URL", "http://127.0.0.1:8000")).rstrip("/")


def _lines(notices: Iterable[Notice]) -> list[MailLine]:
    return [
        MailLine(
            kind=str(NoticeKind(n.kind).label),
            subject=n.subject.subject_id or n.subject.screening_number or str(n.subject_id),
            form=item_form(n),
            when=display.when(n.created_at, n.subject.site.time_zone),
            link=base_url() + n.url,
        )
        for n in notices
    ]


def render_mail(mail: NoticeMail, notices: list[Notice]) -> tuple[str, str]:
    """The e-mail's subject line and text in the active language (the recipient's)."""
    lines = _lines(notices)
    if mail.kind == MailKind.DIGEST:
        subject = _("[TrialSite] Daily digest: %(n)s items") % {"n": len(lines)}
    else:
        line = lines[0]
        subject = f"[TrialSite] {line.kind}: {line.subject}, {line.form}"
    body = render_to_string(
        "datamanagement/email/notice.txt",
        {
            "mail": mail,
            "lines": lines,
            "digest": mail.kind == MailKind.DIGEST,
            "list_url": base_url() + reverse("datamanagement:notifications"),
            "settings_url": base_url() + reverse("datamanagement:notification_settings"),
        },
    )
    return subject[:200], body


def send_notice_mail(*, mail_id: int, now: datetime | None = None) -> str:
    """Send one e-mail (the worker, through the outbox): the items whose subject the recipient
    may still see, in their language. A failure is recorded and retried after
    `retry_delay(attempts)` by a new outbox message, until `max_attempts()`. Returns the status."""
    now = now or timezone.now()
    # FOR UPDATE of the mail row only: locking the joined user row too deadlocked with a request
    # that raised a query (its new NoticeMail's foreign-key check on that user at COMMIT) while
    # each waited for the other's audit-chain lock (bench/load.py, issue 32)
    mail = NoticeMail.objects.select_for_update(of=("self",)).select_related("user").get(pk=mail_id)
    if mail.status not in (MailStatus.PENDING, MailStatus.RETRYING):
        return str(mail.status)
    notices = [
        n
        for n in Notice.objects.filter(mail=mail)
        .select_related("subject__site", "visit__definition")
        .order_by("kind", "on_date", "subject__subject_id", "pk")
        if may_see(mail.user, n.subject)
    ]
    mail.attempts += 1
    mail.last_attempt_at = now
    if not notices:  # the recipient lost access meanwhile: nothing may be said
        mail.status = MailStatus.FAILED
        mail.last_error = "the recipient may no longer see these subjects"
        mail.next_retry_at = None
        mail.save()
        return str(mail.status)
    try:
        with translation.override(mail.language):
            subject, body = render_mail(mail, notices)
        send_mail(subject=subject, message=body, from_email=None, recipient_list=[mail.recipient])
    except Exception as exc:
        mail.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if mail.attempts >= max_attempts():
            mail.status = MailStatus.FAILED
            mail.next_retry_at = None
        else:
            mail.status = MailStatus.RETRYING
            mail.next_retry_at = now + retry_delay(mail.attempts)
            enqueue(task_name=SEND_TASK, mail_id=mail.pk, not_before=mail.next_retry_at.isoformat())
        mail.save()
        return str(mail.status)
    mail.status = MailStatus.SENT
    mail.delivered_at = now
    mail.next_retry_at = None
    mail.save()
    return str(mail.status)


# --- the in-app list ----------------------------------------------------------------------------------

SAFETY = "safety"


@dataclass(frozen=True)
class ListItem:
    """One row of the one notifications list: a data-management item or a safety alert."""

    source: str  # "dm" or "safety"
    pk: int
    kind: str
    kind_label: str
    subject: str
    what: str
    url: str
    created_at: datetime
    zone: str
    read: bool
    delivery: str = ""
    mail: NoticeMail | None = None

    @property
    def key(self) -> str:
        return f"{self.source}:{self.pk}"


def kind_filters() -> list[tuple[str, str]]:
    return [(SAFETY, _("Safety alert")), *((k.value, str(k.label)) for k in NoticeKind)]


def notifications_of(user: User, *, kind: str = "", unread_only: bool = False, limit: int = 200) -> list[ListItem]:
    """The user's notifications newest first — data-management items and safety alerts in one
    list — on subjects the user may see (the visibility gate). Two queries whatever the length.
    The safety alerts are adverse_events', read through the hooks of datamanagement/hooks.py."""
    items: list[ListItem] = []
    if kind != SAFETY:
        rows = Notice.objects.filter(user=user, subject__in=subjects_visible_to(user))
        if kind:
            rows = rows.filter(kind=kind)
        if unread_only:
            rows = rows.filter(read_at__isnull=True)
        for n in rows.select_related("subject__site", "visit__definition", "mail").order_by("-created_at", "-pk")[
            :limit
        ]:
            items.append(
                ListItem(
                    source="dm",
                    pk=n.pk,
                    kind=n.kind,
                    kind_label=str(NoticeKind(n.kind).label),
                    subject=n.subject.subject_id or n.subject.screening_number or str(n.subject_id),
                    what=item_form(n),
                    url=n.url,
                    created_at=n.created_at,
                    zone=n.subject.site.time_zone,
                    read=n.read_at is not None,
                    delivery=n.delivery,
                    mail=n.mail,
                )
            )
    if not kind or kind == SAFETY:
        # alerts at sites the user sees, and the study-wide audit-trail alerts of a study admin
        alerts = hooks.safety_notifications(user=user)
        if unread_only:
            alerts = alerts.filter(read_at__isnull=True)
        for a in alerts.select_related("alert__subject", "alert__site").order_by("-created_at", "-pk")[:limit]:
            items.append(
                ListItem(
                    source=SAFETY,
                    pk=a.pk,
                    kind=SAFETY,
                    kind_label=str(a.alert.get_kind_display()),
                    subject=(a.alert.subject.subject_id or str(a.alert.subject_id)) if a.alert.subject else "",
                    what=hooks.safety_alert_summary(alert=a.alert),
                    url=a.alert.url or _episodes_url(a.alert),
                    created_at=a.created_at,
                    zone=a.alert.site.time_zone if a.alert.site else settings.TIME_ZONE,
                    read=a.read_at is not None,
                )
            )
    items.sort(key=lambda item: (item.created_at, item.pk), reverse=True)
    return items[:limit]


def _episodes_url(alert: Any) -> str:
    """CRS/ICANS grade-3 alerts raised before alerts carried their own link: the subject's episodes."""
    if alert.kind in ("crs_g3", "icans_g3") and alert.subject_id:
        return reverse("adverse_events:episodes", args=[alert.subject_id])
    return ""


@transaction.atomic
def mark_read(*, user: User, keys: Iterable[str] = (), everything: bool = False, now: datetime | None = None) -> int:
    """Mark the user's own items read: the ones named "dm:<id>" / "safety:<id>", or all of them.
    Another user's item, or a key that names nothing, is ignored. Returns how many changed."""
    now = now or timezone.now()
    notices = Notice.objects.filter(user=user, read_at__isnull=True)
    safety_ids: list[int] | None = None  # None: every one of the user's safety notifications
    if not everything:
        dm_ids: list[int] = []
        safety_ids = []
        for key in keys:
            source, _sep, pk = str(key).partition(":")
            if pk.isdigit():
                (safety_ids if source == SAFETY else dm_ids if source == "dm" else []).append(int(pk))
        notices = notices.filter(pk__in=dm_ids)
    changed = notices.update(read_at=now)
    return changed + hooks.mark_safety_notifications_read(user=user, ids=safety_ids, now=now)


def unread_count(user: User) -> int:
    """The top bar's count of unread data-management items (the partial index on unread rows)."""
    return Notice.objects.filter(user=user, read_at__isnull=True).count()
