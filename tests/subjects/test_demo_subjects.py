"""The demo loader's 24 synthetic subjects (issue 6 item 4): realistic courses written through
the coordinator's services, deterministic for a given day, idempotent."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command

from clinical.schedule import VisitState
from labs.models import VitalSigns
from study.models import Site, User
from subjects.demo import load_demo_subjects, plan
from subjects.models import Infusion, Subject
from subjects.selectors import due_and_overdue

pytestmark = pytest.mark.req("ISSUE-6")

TODAY = date(2026, 11, 25)


@pytest.fixture
def demo(db, settings):
    settings.DEBUG = True
    call_command("load_demo_study", "--no-subjects", stdout=io.StringIO())
    site = Site.objects.get(code="01")
    coordinator = User.objects.get(username="coordinator")
    written = load_demo_subjects(site=site, user=coordinator, today=TODAY)
    return site, coordinator, written


def test_demo_subjects(demo):
    """One load (about 15 s), three views of it."""
    courses(*demo)
    first_weeks(*demo)
    audit_and_idempotence(*demo)


def courses(site, _coordinator, written):
    assert written == 24
    statuses = Counter(Subject.objects.filter(site=site).values_list("status", flat=True))
    assert statuses["screen_failed"] == 2
    assert statuses["not_infused"] == 1
    assert sum(statuses.values()) == 24
    # 21 infused: some still in their first four weeks, the rest in follow-up, completed or died
    assert statuses["died"] == 2
    assert statuses["infused"] + statuses["follow_up"] + statuses["completed"] + statuses["died"] == 21
    assert statuses["completed"] >= 1 and statuses["infused"] >= 1
    infusions = Infusion.objects.filter(subject__site=site)
    assert infusions.count() == 21
    assert set(infusions.values_list("state", flat=True)) == {"fresh", "thawed"}
    assert Counter(infusions.values_list("dose_level", flat=True)) == {"DL1": 3, "DL2": 6, "DL3": 12}
    assert not infusions.filter(dose_in_range=False).exists()  # the demo products are within range
    ids = sorted(Subject.objects.exclude(subject_id="").values_list("subject_id", flat=True))
    assert ids[0] == "YD-001" and ids[-1] == "YD-022"


def first_weeks(site, coordinator, _written):
    latest = Subject.objects.filter(site=site, infusion_date__isnull=False).order_by("-infusion_date").first()
    days = sorted(
        (d - latest.infusion_date).days
        for d in VitalSigns.objects.filter(subject=latest).values_list("assessment_date", flat=True)
    )
    assert days == list(range(-1, (TODAY - latest.infusion_date).days + 1))
    # A febrile course exists (for the CRS pages) and every value passed the form's validators.
    assert VitalSigns.objects.filter(subject__site=site, temperature_c__gte=38).exists()
    now = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)
    states = Counter(item.state for item in due_and_overdue(coordinator, now=now))
    assert states[VisitState.OVERDUE] == 2 and states[VisitState.DUE] >= 1


def audit_and_idempotence(site, coordinator, _written):
    subject = Subject.objects.get(site=site, subject_id="YD-001")
    event = subject.events.order_by("pgh_id").first()  # the audit row of the consent
    assert event.pgh_context["user"] == coordinator.pk
    assert load_demo_subjects(site=site, user=coordinator, today=TODAY) == 0
    assert Subject.objects.filter(site=site).count() == 24


def test_plan_is_deterministic():
    assert plan(TODAY) == plan(TODAY)
    assert [c.outcome for c in plan(TODAY)].count("infused") == 21
