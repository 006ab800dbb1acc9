"""crf/'s declared hooks (issue 23; DESIGN §3): the apps above register each at start-up (one
nobody registered fails the checks: tests/study/test_hooks.py); the outbox has no fallback."""

from __future__ import annotations

import pytest

from crf import hooks
from crf.management.commands.outbox_relay import publish_batch
from crf.models import OutboxMessage
from crf.outbox import celery_app, run_once_task_names
from response import labels
from study.hooks import HookNotRegistered
from subjects import checks
from subjects.services import visits
from trialsite.celery import app as project_app


def test_the_apps_above_register_every_hook_of_crf_at_start_up():
    assert [(h.name, h.implementation) for h in hooks.HOOKS] == [
        ("site_today", visits.today_at_site),
        ("procedure_before_consent", checks.procedure_before_consent),
        ("response_label_text", labels.response_label_text),
        ("celery_app", hooks.celery_app.implementation),
    ]
    assert hooks.celery_app.implementation.__module__ == "trialsite.celery"
    assert hooks.system_check() == []


def test_the_outbox_publishes_through_the_project_celery_app():
    assert celery_app() is project_app


def test_the_outbox_refuses_to_publish_with_no_celery_app_registered(monkeypatch, db):
    row = OutboxMessage.objects.create(task_name="crf.tasks.record_delivery", kwargs={})
    # trialsite/celery.py forgot its registration: no fallback to celery.current_app
    monkeypatch.setattr(hooks.celery_app, "_implementation", None)
    with pytest.raises(HookNotRegistered, match=r"crf\.hooks\.celery_app.*trialsite registers it in trialsite/celery"):
        publish_batch(batch_size=10)
    with pytest.raises(HookNotRegistered):
        run_once_task_names()
    row.refresh_from_db()
    assert (row.sent_at, row.attempts) == (None, 0)
