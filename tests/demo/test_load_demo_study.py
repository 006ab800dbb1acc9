"""`load_demo_study` (ISSUE-2 §4): idempotent, refuses published-password accounts with DEBUG off
unless told explicitly, and loads the visit schedule of CLINICAL_SPEC §7."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from study.models import Membership, Site, Study, User, VisitDefinition

pytestmark = pytest.mark.req("ISSUE-2")

DEMO_PASSWORD = "TrialSite-Demo-2026!"  # the documented demo password (README)


def counts() -> dict[str, int]:
    return {
        "studies": Study.objects.count(),
        "sites": Site.objects.count(),
        "visits": VisitDefinition.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
    }


def load(*args: str) -> str:
    out = io.StringIO()
    # the synthetic subjects have their own test: tests/subjects/test_demo_subjects.py
    call_command("load_demo_study", "--no-subjects", *args, stdout=out)
    return out.getvalue()


def test_refuses_demo_accounts_with_debug_off(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--with-demo-accounts"):
        load()
    assert counts()["users"] == 0
    assert counts()["studies"] == 0  # nothing half-loaded


def test_loads_study_only_without_accounts(db, settings):
    settings.DEBUG = False
    load("--no-accounts")
    # SCR, COL, BRG, LD, D0, D1–D14, D21, D28, D60, D90, D180, D270, D365
    assert counts() == {"studies": 1, "sites": 1, "visits": 26, "users": 0, "memberships": 0}


def test_debug_on_creates_accounts_without_the_flag(db, settings):
    settings.DEBUG = True
    load()
    assert User.objects.filter(username="coordinator").exists()


def test_idempotent(db, settings):
    settings.DEBUG = False
    load("--with-demo-accounts")
    first = counts()
    load("--with-demo-accounts")
    assert counts() == first
    assert first["studies"] == 1
    assert first["sites"] == 1
    assert first["users"] == 6
    assert first["memberships"] == 6


def test_demo_study_and_accounts(db, settings):
    settings.DEBUG = False
    out = load("--with-demo-accounts")
    study = Study.objects.get()
    assert (study.code, study.registry_id, study.phase, study.planned_subjects) == (
        "cd7-cart-01",
        "NCT05212584",
        "I",
        24,
    )
    site = Site.objects.get()
    assert (site.name, site.time_zone) == ("Hebei Yanda Lu Daopei Hospital", "Asia/Shanghai")
    roles = dict(Membership.objects.filter(ended_at__isnull=True).values_list("user__username", "role"))
    assert roles == {
        "coordinator": "coordinator",
        "investigator": "investigator",
        "monitor": "monitor",
        "datamanager": "data_manager",
        "statistician": "statistician",
        "studyadmin": "study_admin",
    }
    assert DEMO_PASSWORD in out
    client = Client()
    assert client.post("/accounts/login/", {"username": "investigator", "password": DEMO_PASSWORD}).status_code == 302


def test_ended_demo_role_is_granted_again_not_duplicated(db, settings):
    settings.DEBUG = False
    load("--with-demo-accounts")
    from django.utils import timezone

    Membership.objects.filter(user__username="monitor").update(ended_at=timezone.now(), end_reason="test")
    load("--with-demo-accounts")
    assert Membership.objects.filter(user__username="monitor", ended_at__isnull=True).count() == 1


# CLINICAL_SPEC §7: code → (anchor, day, window before, window after, marrow)
SCHEDULE_ROWS = {
    "D0": ("infusion", 0, 0, 0, ""),
    "D1": ("infusion", 1, 1, 1, ""),
    "D14": ("infusion", 14, 1, 1, "optional"),
    "D21": ("infusion", 21, 3, 3, ""),
    "D28": ("infusion", 28, 3, 3, "required"),
    "D60": ("infusion", 60, 7, 7, "required"),
    "D90": ("infusion", 90, 7, 7, "required"),
    "D365": ("infusion", 365, 7, 7, "required"),
}


def test_visit_schedule_of_clinical_spec_7(db, settings):
    settings.DEBUG = False
    load("--no-accounts")
    rows = {
        v.code: (v.anchor, v.day, v.window_before, v.window_after, v.marrow)
        for v in VisitDefinition.objects.filter(code__in=SCHEDULE_ROWS)
    }
    assert rows == SCHEDULE_ROWS
    codes = list(VisitDefinition.objects.values_list("code", flat=True))
    # Inpatient days 1–14 daily, then 21, 28 and follow-up 60, 90, 180, 270, 365, in order.
    for day in range(1, 15):
        assert f"D{day}" in codes
    tail = codes[codes.index("D14") + 1 :]
    assert tail == ["D21", "D28", "D60", "D90", "D180", "D270", "D365"]
    # Marrow on day 14 (optional), 28, 60, 90, 180, 270, 365 and on no other day.
    marrow = dict(VisitDefinition.objects.exclude(marrow="").values_list("code", "marrow"))
    assert marrow == {
        "D14": "optional",
        "D28": "required",
        "D60": "required",
        "D90": "required",
        "D180": "required",
        "D270": "required",
        "D365": "required",
    }
    screening = VisitDefinition.objects.get(code="SCR")
    assert (screening.anchor, screening.window_before) == ("enrolment", 28)
    lymphodepletion = VisitDefinition.objects.get(code="LD")
    assert (lymphodepletion.day, lymphodepletion.day + lymphodepletion.window_after) == (-5, -3)
