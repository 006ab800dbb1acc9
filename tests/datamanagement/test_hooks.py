"""datamanagement/'s declared hooks (issue 23; DESIGN §3): subjects/ and adverse_events/
register each at start-up (one nobody registered fails the checks: tests/study/test_hooks.py)."""

from __future__ import annotations

from adverse_events.services import alerts as alert_services
from datamanagement import hooks
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
