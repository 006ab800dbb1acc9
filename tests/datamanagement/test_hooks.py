"""datamanagement/'s declared hooks (issue 23; DESIGN §3): subjects/ and adverse_events/
register each at start-up; one nobody registered fails the system checks (datamanagement.E001)
and its first call, never skips."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from adverse_events import alert_services
from datamanagement import hooks
from study.hooks import HookNotRegistered
from subjects import eligibility, lifecycle, selectors


def test_the_apps_above_register_every_hook_of_datamanagement_at_start_up():
    assert [(h.name, h.implementation) for h in hooks.HOOKS] == [
        ("subject_statuses", lifecycle.statuses),
        ("criteria_not_met", eligibility.not_met),
        ("visits_not_done", selectors.visits_not_done),
        ("safety_notifications", alert_services.visible_notifications),
        ("safety_alert_summary", alert_services.alert_summary),
        ("mark_safety_notifications_read", alert_services.mark_notifications_read),
    ]
    assert hooks.system_check() == []
    assert hooks.subject_statuses() is lifecycle.Status
    assert [c.code for c in hooks.criteria_not_met(answers={"IN1": False, "IN2": True, "EX1": True})] == ["IN1", "EX1"]


@pytest.mark.parametrize("hook", hooks.HOOKS, ids=lambda hook: hook.name)
def test_a_hook_nobody_registered_fails_the_checks_and_its_first_call(monkeypatch, hook):
    monkeypatch.setattr(hook, "_implementation", None)
    assert [(e.id, e.obj) for e in hooks.system_check()] == [("datamanagement.E001", hook)]
    with pytest.raises(SystemCheckError, match=rf"datamanagement\.E001.*datamanagement\.hooks\.{hook.name}"):
        call_command("check")
    with pytest.raises(HookNotRegistered, match=rf"{hook.registered_by} registers it in its AppConfig\.ready"):
        hook()
