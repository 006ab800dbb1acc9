"""The daily digest driven through a REAL Celery worker on a private Redis with a fixed clock, its
e-mail sent through the outbox relay (issue 31 item 4): one digest per person, tomorrow's visit
listed once, nothing for a coordinator who chose "none", nothing about another site's subject,
and a query raised by a monitor reaching the Chinese coordinator in Chinese."""

from __future__ import annotations

import json

import pytest
from kombu import Connection

from crf.queries import raise_query
from datamanagement.models import Notice, NoticeMail
from datamanagement.notifications import set_preferences
from study.roles import Role
from tests.conftest import make_user, stop_process
from tests.crf.test_outbox import child_env, start_relay, start_worker, wait_until
from tests.datamanagement.conftest import NOW, SITE_TODAY, TOMORROW
from trialsite.celery import app

pytestmark = [pytest.mark.slow, pytest.mark.req("issue-31")]

BACKEND = "tests.datamanagement.mail_backends.FileJsonEmailBackend"


@pytest.fixture
def stack(private_redis, tmp_path):
    """Worker and relay subprocesses on the private Redis, mail written to tmp_path/sent.jsonl."""
    env = child_env(str(private_redis["url"]), EMAIL_BACKEND=BACKEND, NOTIFY_MAIL_DIR=str(tmp_path))
    worker_log = tmp_path / "worker.log"
    worker = start_worker(env, worker_log, f"notify-{private_redis['port']}@localhost")
    started = [worker]
    try:
        wait_until(lambda: "ready." in worker_log.read_text(), timeout=90, what="the Celery worker to be ready")
        started.append(start_relay(env, tmp_path / "relay.log", "--poll-interval", "0.2"))
        yield {"folder": tmp_path, "redis": str(private_redis["url"])}
    finally:
        for proc in reversed(started):
            stop_process(proc, timeout=10)


def sent_mail(folder):
    path = folder / "sent.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_digest_by_a_real_worker_with_a_fixed_clock(
    transactional_db, visits, crf_ready, save_vs, zh_coordinator, users_a, site_b, stack
):
    make_user("coordinator_b", site=site_b, role=Role.COORDINATOR)
    refuser = make_user("coordinator_a2", site=zh_coordinator.memberships.get().site, role=Role.COORDINATOR)
    set_preferences(
        user=refuser,
        choices={"query_raised": "none", "visit_due": "none", "visit_overdue": "none", "auto_query": "none"},
    )

    # what celery beat sends (CELERY_BEAT_SCHEDULE "notification-digest"), with the clock fixed
    with Connection(stack["redis"]) as connection:
        app.send_task("datamanagement.tasks.daily_digest", kwargs={"now": NOW.isoformat()}, connection=connection)

    wait_until(
        lambda: NoticeMail.objects.filter(status="sent").count() == 2,
        timeout=120,
        what="the two digests sent",
        interval=0.3,
    )
    mails = sent_mail(stack["folder"])
    assert sorted(m["to"][0] for m in mails) == ["coordinator_a@example.org", "coordinator_b@example.org"]
    assert not any("coordinator_a2" in m["to"][0] for m in mails)  # chose none: nothing
    assert not Notice.objects.filter(user=refuser).exists()
    mine = next(m for m in mails if m["to"] == ["coordinator_a@example.org"])
    assert mine["subject"] == "[TrialSite] 每日摘要：2 条"
    assert mine["body"].count("第 9 天 · 2026-03-12") == 1  # tomorrow's visit, once
    assert mine["body"].count("访视已超窗") == 1 and mine["body"].count("明日到期访视") == 1
    assert "B-001" not in mine["body"]  # another site's subject: never
    theirs = next(m for m in mails if m["to"] == ["coordinator_b@example.org"])
    assert "B-001" in theirs["body"] and "A-001" not in theirs["body"]
    assert NoticeMail.objects.get(user=zh_coordinator).digest_date == SITE_TODAY
    assert Notice.objects.get(user=zh_coordinator, kind="visit_due").on_date == TOMORROW

    # the beat again an hour later: no second digest. The worker runs one task at a time in the
    # order received, so once the query raised after it is mailed, the second beat has run.
    with Connection(stack["redis"]) as connection:
        second = app.send_task(
            "datamanagement.tasks.daily_digest",
            kwargs={"now": NOW.replace(minute=59).isoformat()},
            connection=connection,
        )
    log = stack["folder"] / "worker.log"
    wait_until(lambda: f"[{second.id}] received" in log.read_text(), timeout=60, what="the second beat")

    # a query raised by a monitor reaches the Chinese coordinator at once, in Chinese
    form = save_vs(subject=crf_ready)
    query = raise_query(user=users_a["monitor"], form=form, field_name="systolic_bp", text="Please check SBP 120.")
    wait_until(lambda: len(sent_mail(stack["folder"])) == 3, timeout=120, what="the query's mail", interval=0.3)
    assert NoticeMail.objects.filter(kind="digest").count() == 2  # the second beat made none
    sent = sent_mail(stack["folder"])[2]
    assert sent["to"] == ["coordinator_a@example.org"]
    assert sent["subject"] == "[TrialSite] 我的受试者有新质疑: A-001, 生命体征"
    assert f"/data/queries/{query.pk}/" in sent["body"] and "SBP" not in sent["body"] and "120" not in sent["body"]
    assert Notice.objects.filter(user=zh_coordinator, kind="query_raised", query=query).count() == 1
