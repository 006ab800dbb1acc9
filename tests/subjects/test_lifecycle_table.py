"""The lifecycle transition table (issue 4 item 2), every (status, event) pair, without a
database. Expectations are written out here, not read from subjects.lifecycle."""

from __future__ import annotations

import pytest

from subjects.lifecycle import Event, Status, TransitionRefused, allowed_events, next_status

pytestmark = pytest.mark.req("ISSUE-4")

ALLOWED = {
    ("screening", "enrol"): "enrolled",
    ("screening", "fail_screening"): "screen_failed",
    ("enrolled", "lymphodeplete"): "lymphodepleted",
    ("enrolled", "not_infused"): "not_infused",
    ("lymphodepleted", "infuse"): "infused",
    ("lymphodepleted", "not_infused"): "not_infused",
    ("infused", "start_follow_up"): "follow_up",
    ("infused", "withdraw"): "withdrawn",
    ("infused", "die"): "died",
    ("infused", "lose_to_follow_up"): "lost",
    ("follow_up", "complete"): "completed",
    ("follow_up", "withdraw"): "withdrawn",
    ("follow_up", "die"): "died",
    ("follow_up", "lose_to_follow_up"): "lost",
    ("withdrawn", "die"): "died",
    ("lost", "die"): "died",  # issue 30: a subject lost to follow-up, then found to have died
}
STATUSES = [
    "screening",
    "screen_failed",
    "enrolled",
    "lymphodepleted",
    "infused",
    "follow_up",
    "completed",
    "withdrawn",
    "died",
    "lost",
    "not_infused",
]
EVENTS = [
    "enrol",
    "fail_screening",
    "lymphodeplete",
    "infuse",
    "start_follow_up",
    "complete",
    "not_infused",
    "withdraw",
    "die",
    "lose_to_follow_up",
]


def test_the_enums_are_the_ones_tested_here():
    assert [s.value for s in Status] == STATUSES
    assert [e.value for e in Event] == EVENTS


@pytest.mark.parametrize(("status", "event"), list(ALLOWED))
def test_allowed_transition(status, event):
    assert next_status(status, event) == ALLOWED[(status, event)]


@pytest.mark.parametrize(("status", "event"), [(s, e) for s in STATUSES for e in EVENTS if (s, e) not in ALLOWED])
def test_refused_transition(status, event):
    with pytest.raises(TransitionRefused) as refused:
        next_status(status, event)
    assert (refused.value.status, refused.value.event) == (status, event)


@pytest.mark.parametrize(
    ("status", "events"),
    [
        ("screening", ["enrol", "fail_screening"]),
        ("enrolled", ["lymphodeplete", "not_infused"]),
        ("lymphodepleted", ["infuse", "not_infused"]),
        ("infused", ["start_follow_up", "withdraw", "die", "lose_to_follow_up"]),
        ("follow_up", ["complete", "withdraw", "die", "lose_to_follow_up"]),
        ("withdrawn", ["die"]),
        ("screen_failed", []),
        ("completed", []),
        ("died", []),
        ("lost", ["die"]),
        ("not_infused", []),
    ],
)
def test_allowed_events_per_status(status, events):
    assert allowed_events(status) == events
