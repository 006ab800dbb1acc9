"""Notifications of data management (issue 31 item 1 and item 4): queries raised and answered,
visits due tomorrow and overdue in one daily digest per person, each user's choice per kind, the
visibility gate, the recipient's language, and the one in-app list with read/unread."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import transaction
from django.utils import translation

from crf.models import OutboxMessage, Query
from crf.queries import answer_query, close_query, raise_query, reopen_query
from datamanagement.models import Notice, NoticeMail, NotificationPreference
from datamanagement.notifications import build_digest, build_digests, mark_read, send_notice_mail, set_preferences
from study.models import Membership
from study.roles import Role
from tests.conftest import make_user
from tests.datamanagement.conftest import NOW, SITE_TODAY, TOMORROW

pytestmark = pytest.mark.req("issue-31")


def send_all() -> list[str]:
    """What the worker does for each pending e-mail (the worker test runs the real one)."""
    statuses = []
    for mail_id in NoticeMail.objects.filter(status="pending").order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            statuses.append(send_notice_mail(mail_id=mail_id))
    return statuses


# --- a query raised by a monitor --------------------------------------------------------------------


def test_a_query_raised_by_a_monitor_reaches_the_chinese_coordinator_in_chinese_and_in_their_list(
    vs, users_a, zh_coordinator, login, client
):
    query = raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Please check SBP 120.")

    notice = Notice.objects.get()
    assert (notice.user, notice.kind, notice.delivery, notice.crf_code) == (
        zh_coordinator,
        "query_raised",
        "immediate",
        "VS",
    )
    assert notice.url == f"/data/queries/{query.pk}/"
    assert OutboxMessage.objects.filter(task_name="datamanagement.tasks.send_notice_mail").count() == 1
    assert send_all() == ["sent"]
    [sent] = mail.outbox
    assert sent.to == ["coordinator_a@example.org"]
    assert sent.subject == "[TrialSite] 我的受试者有新质疑: A-001, 生命体征"
    assert f"http://127.0.0.1:8000/data/queries/{query.pk}/" in sent.body
    assert "受试者: A-001" in sent.body and "病例报告表: 生命体征" in sent.body
    assert "+08:00" in sent.body  # the time in the site's zone
    # no value and no query text by e-mail
    assert "120" not in sent.body + sent.subject and "SBP" not in sent.body + sent.subject

    login(zh_coordinator)
    page = client.get("/data/notifications/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f'data-key="dm:{notice.pk}" data-read="0"' in page
    assert "我的受试者有新质疑" in page and "A-001" in page and "生命体征" in page
    assert 'data-mail-status="sent"' in page
    assert "data-unread>1</span>" in page  # the top bar


def test_nobody_else_hears_of_the_query_and_the_raiser_hears_of_the_answer_in_english(
    vs, users_a, zh_coordinator, site_b
):
    site_b_coordinator = make_user("coordinator_b", site=site_b, role=Role.COORDINATOR)
    monitor = users_a["monitor"]
    query = raise_query(user=monitor, form=vs, field_name="systolic_bp", text="Please check SBP.")
    assert list(Notice.objects.values_list("user__username", flat=True)) == ["coordinator_a"]
    assert not Notice.objects.filter(user__in=[site_b_coordinator, monitor, users_a["investigator"]]).exists()

    answer_query(user=zh_coordinator, query=query, answer=Query.Answer.CONFIRMED, text="Source says 120.")
    answered = Notice.objects.get(kind="query_answered")
    assert answered.user == monitor
    send_all()
    sent = {m.to[0]: m for m in mail.outbox}
    assert sent["monitor_a@example.org"].subject == "[TrialSite] Answer to my query: A-001, Vital signs"
    assert "Source says" not in sent["monitor_a@example.org"].body

    # closed, then re-opened by the monitor: the site is asked again
    close_query(user=monitor, query=query)
    reopen_query(user=monitor, query=query, text="The source shows 118.")
    assert list(Notice.objects.filter(kind="query_raised", query=query).values_list("user__username", flat=True)) == [
        "coordinator_a",
        "coordinator_a",
    ]


# --- choices per kind -----------------------------------------------------------------------------------


def test_a_coordinator_who_chose_none_gets_nothing(vs, users_a, zh_coordinator, visits):
    set_preferences(
        user=zh_coordinator,
        choices={"query_raised": "none", "auto_query": "none", "visit_due": "none", "visit_overdue": "none"},
    )
    raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Please check SBP.")
    assert build_digest(user=zh_coordinator, now=NOW) is None
    send_all()
    assert not Notice.objects.filter(user=zh_coordinator).exists()
    assert not NoticeMail.objects.filter(user=zh_coordinator).exists()
    assert mail.outbox == []


def test_a_query_chosen_for_the_digest_waits_for_it(vs, users_a, zh_coordinator):
    set_preferences(user=zh_coordinator, choices={"query_raised": "digest"})
    raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Please check SBP.")
    assert Notice.objects.get().mail is None and not NoticeMail.objects.exists()
    digest = build_digest(user=zh_coordinator, now=NOW)
    assert list(Notice.objects.values_list("mail", flat=True)) == [digest.pk]


def test_visits_and_automatic_queries_are_never_offered_at_once(zh_coordinator):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        set_preferences(user=zh_coordinator, choices={"visit_due": "immediate", "query_raised": "none"})
    assert refused.value.message_dict == {"visit_due": ["Choose one of the deliveries offered."]}
    assert not NotificationPreference.objects.exists()  # nothing saved, not even the valid one


# --- the daily digest ----------------------------------------------------------------------------------


def test_the_digest_lists_tomorrows_visit_and_the_overdue_one_once_in_one_mail(visits, users_a, zh_coordinator, site_b):
    site_b_coordinator = make_user("coordinator_b", site=site_b, role=Role.COORDINATOR)
    assert build_digests(now=NOW) == {"digests": 2}
    mine = Notice.objects.filter(user=zh_coordinator)
    assert sorted(mine.values_list("kind", "visit__definition__code", "on_date")) == [
        ("visit_due", "D9", TOMORROW),
        ("visit_overdue", "D7", date(2026, 3, 9)),
    ]
    # site B's coordinator: site B's visit only (the visibility gate)
    assert list(Notice.objects.filter(user=site_b_coordinator).values_list("visit", flat=True)) == [visits["b_due"].pk]
    assert NoticeMail.objects.filter(user=zh_coordinator, kind="digest", digest_date=SITE_TODAY).count() == 1

    # the beat runs every hour: nothing more that day, and the next day the visits are not listed again
    assert build_digests(now=NOW + timedelta(hours=1)) == {"digests": 0}
    assert build_digests(now=NOW + timedelta(days=1)) == {"digests": 0}
    assert mine.count() == 2

    send_all()
    [sent] = [m for m in mail.outbox if m.to == ["coordinator_a@example.org"]]
    assert sent.subject == "[TrialSite] 每日摘要：2 条"
    assert sent.body.count("第 9 天 · 2026-03-12") == 1
    assert sent.body.count("第 7 天") == 1
    assert "第 8 天" not in sent.body and "第 14 天" not in sent.body  # done, not yet due
    assert f"/subjects/{visits['due'].subject_id}/visits/{visits['due'].pk}/" in sent.body


def test_no_digest_before_the_digest_hour_at_the_site(visits, zh_coordinator):
    assert build_digests(now=NOW - timedelta(hours=1)) == {"digests": 0}  # 06:30 in Shanghai
    assert not Notice.objects.exists()


def test_an_automatic_query_goes_to_the_digest_only(crf_ready, save_vs, zh_coordinator, users_a):
    form = save_vs(subject=crf_ready, user=users_a["investigator"], systolic_bp=120, diastolic_bp=130)
    query = Query.objects.get(rule_code="VS-DBP-GE-SBP")
    assert not Notice.objects.exists() and not NoticeMail.objects.exists()  # nothing at once
    now = query.raised_at + timedelta(minutes=1)
    local_hour = now.astimezone(ZoneInfo(crf_ready.site.time_zone)).hour
    if local_hour < 7:  # the digest hour at the site
        now += timedelta(hours=7 - local_hour)
    build_digest(user=zh_coordinator, now=now)
    notice = Notice.objects.get()
    assert (notice.kind, notice.query, notice.crf_code, notice.subject_id) == (
        "auto_query",
        query,
        "VS",
        form.subject_id,
    )
    assert notice.mail.kind == "digest"


def test_nobody_is_mailed_about_a_subject_they_no_longer_see(vs, users_a, zh_coordinator):
    raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Please check SBP.")
    Membership.objects.filter(user=zh_coordinator).update(
        ended_at=Membership.objects.get(user=zh_coordinator).granted_at
    )
    assert send_all() == ["failed"]
    assert mail.outbox == []
    assert NoticeMail.objects.get().last_error == "the recipient may no longer see these subjects"


def test_a_raiser_who_left_the_site_hears_nothing_of_the_answer(vs, users_a, zh_coordinator):
    monitor = users_a["monitor"]
    query = raise_query(user=monitor, form=vs, field_name="systolic_bp", text="Please check SBP.")
    Membership.objects.filter(user=monitor).update(ended_at=Membership.objects.get(user=monitor).granted_at)
    answer_query(user=zh_coordinator, query=query, answer=Query.Answer.CONFIRMED, text="Correct.")
    assert not Notice.objects.filter(user=monitor).exists()


# --- the list: read / unread -------------------------------------------------------------------------------


def test_mark_one_read_then_all_read_and_never_another_users_item(vs, users_a, zh_coordinator, login, client):
    monitor = users_a["monitor"]
    raise_query(user=monitor, form=vs, field_name="systolic_bp", text="One.")
    raise_query(user=monitor, form=vs, field_name="diastolic_bp", text="Two.")
    first, second = Notice.objects.order_by("pk")
    assert mark_read(user=monitor, keys=[f"dm:{first.pk}"]) == 0  # not the monitor's

    login(zh_coordinator)
    client.post("/data/notifications/", {"read": f"dm:{first.pk}"})
    page = client.get("/data/notifications/").content.decode()
    assert f'data-key="dm:{first.pk}" data-read="1"' in page
    assert f'data-key="dm:{second.pk}" data-read="0"' in page
    unread = client.get("/data/notifications/?unread=1").content.decode()
    assert f"dm:{first.pk}" not in unread and f"dm:{second.pk}" in unread
    client.post("/data/notifications/", {"all": "1"})
    assert not Notice.objects.filter(read_at__isnull=True).exists()
    assert "data-unread" not in client.get("/data/notifications/").content.decode()


def test_the_list_holds_the_safety_alerts_too(vs, users_a, login, client):
    from adverse_events.models import AlertKind, Notification, SafetyAlert

    investigator = users_a["investigator"]
    alert = SafetyAlert.objects.create(
        site=vs.subject.site,
        subject=vs.subject,
        kind=AlertKind.SAE,
        source_key="sae:test",
        summary="SAE, subject A-001",
    )
    note = Notification.objects.create(user=investigator, alert=alert)
    login(investigator)
    page = client.get("/data/notifications/?kind=safety").content.decode()
    assert f'data-key="safety:{note.pk}" data-read="0"' in page and "Serious adverse event" in page
    assert "data-unread>1</span>" in page
    client.post("/data/notifications/", {"read": f"safety:{note.pk}"})
    note.refresh_from_db()
    assert note.read_at is not None


def test_the_old_safety_list_address_leads_to_the_one_list(vs, users_a, login, client):
    """/safety/notifications/ was the safety-only list; it now sends to the one list (its kind
    filter kept), and an alert raised before alerts carried their link still links somewhere."""
    from adverse_events.models import AlertKind, Notification, SafetyAlert

    investigator = users_a["investigator"]
    alert = SafetyAlert.objects.create(
        site=vs.subject.site, subject=vs.subject, kind=AlertKind.CRS_G3, source_key="crs:old", summary="CRS grade 3"
    )
    note = Notification.objects.create(user=investigator, alert=alert)
    login(investigator)
    moved = client.get("/safety/notifications/?kind=safety")
    assert (moved.status_code, moved["Location"]) == (301, "/data/notifications/?kind=safety")
    page = client.get(moved["Location"]).content.decode()
    assert f'data-key="safety:{note.pk}"' in page
    assert f'<a href="/safety/subjects/{vs.subject.pk}/episodes/">CRS grade 3</a>' in page
    assert client.get("/safety/notifications/", follow=True).redirect_chain == [("/data/notifications/", 301)]


# --- the settings page ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "heading"), [("en", "Notification settings"), ("zh-hans", "通知设置")])
def test_settings_page_in_both_languages_saves_and_refuses_what_is_not_offered(
    zh_coordinator, login, client, language, heading
):
    zh_coordinator.language = language
    zh_coordinator.save(update_fields=["language"])
    login(zh_coordinator)
    page = " ".join(client.get("/data/notifications/settings/").content.decode().split())
    assert heading in page
    assert 'name="query_raised" value="immediate" checked' in page
    assert 'name="visit_due" value="immediate"' not in page
    response = client.post(
        "/data/notifications/settings/",
        {
            "query_raised": "digest",
            "query_answered": "none",
            "auto_query": "digest",
            "visit_due": "none",
            "visit_overdue": "digest",
        },
    )
    assert response.status_code == 302
    assert dict(NotificationPreference.objects.values_list("kind", "delivery")) == {
        "query_raised": "digest",
        "query_answered": "none",
        "auto_query": "digest",
        "visit_due": "none",
        "visit_overdue": "digest",
    }
    bad = client.post("/data/notifications/settings/", {"query_raised": "now", "visit_due": "immediate"})
    assert bad.status_code == 400
    with translation.override(language):
        assert translation.gettext("Choose one of the deliveries offered.") in bad.content.decode()
    assert NotificationPreference.objects.get(kind="query_raised").delivery == "digest"


# --- retried and visible; cost -------------------------------------------------------------------------------


def test_a_refused_mail_is_retried_later_and_the_list_shows_the_attempts(
    vs, users_a, zh_coordinator, settings, monkeypatch, tmp_path, login, client
):
    settings.EMAIL_BACKEND = "tests.adverse_events.mail_backends.FlakyEmailBackend"
    settings.SAFETY_ALERT_RETRY_SECONDS = (60,)
    monkeypatch.setenv("FLAKY_MAIL_DIR", str(tmp_path))
    monkeypatch.setenv("FLAKY_MAIL_FAILURES", "1")
    raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Please check SBP.")
    assert send_all() == ["retrying"]
    row = NoticeMail.objects.get()
    assert (row.attempts, row.last_error) == (1, "SMTPServerDisconnected: 421 mail relay unavailable (refusal 1)")
    retry = OutboxMessage.objects.filter(task_name="datamanagement.tasks.send_notice_mail").order_by("pk").last()
    assert retry.kwargs == {"mail_id": row.pk, "not_before": row.next_retry_at.isoformat()}
    login(zh_coordinator)
    page = client.get("/data/notifications/").content.decode()
    assert 'data-mail-status="retrying"' in page and "421 mail relay unavailable (refusal 1)" in page

    with transaction.atomic():
        assert send_notice_mail(mail_id=row.pk) == "sent"  # what the retry message does when due
    row.refresh_from_db()
    assert (row.attempts, row.status) == (2, "sent")
    assert [line for line in (tmp_path / "sent.jsonl").read_text().splitlines() if "coordinator_a" in line]


def test_the_list_costs_the_same_queries_for_two_items_or_eight(vs, users_a, zh_coordinator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from datamanagement.notifications import notifications_of

    def cost() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            items = notifications_of(zh_coordinator)
        return len(captured), len(items)

    for field in ("systolic_bp", "diastolic_bp"):
        raise_query(user=users_a["monitor"], form=vs, field_name=field, text="Check.")
    few = cost()
    for field in ("systolic_bp", "diastolic_bp", "heart_rate") * 2:
        raise_query(user=users_a["monitor"], form=vs, field_name=field, text="Check again.")
    many = cost()
    assert (few[1], many[1]) == (2, 8)
    assert few[0] == many[0] == 3  # the items, whether a study admin (audit-trail alerts), the safety alerts


@pytest.mark.req("ISSUE-32")
def test_sending_a_mail_locks_the_mail_row_and_not_its_recipient(vs, users_a, zh_coordinator):
    """bench/load.py (issue 32 §2) saw deadlocks: the worker's FOR UPDATE over the mail joined to
    its user locked the user row, which a request raising a query needs (FOR KEY SHARE, its new
    NoticeMail's foreign key checked at COMMIT) while it held the audit-chain lock the worker's
    update waited for. The worker now locks the mail row only."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Please check SBP 120.")
    with CaptureQueriesContext(connection) as queries:
        assert send_all() == ["sent"]
    locking = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert locking and all('FOR UPDATE OF "datamanagement_noticemail"' in sql for sql in locking), locking
