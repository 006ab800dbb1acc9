"""`manage.py create_study_admin` (issue 20 §4): the first study administrator of a new
installation, from the environment (automation) or by prompting for the password; a weak
password or a taken username saves nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from study.models import AccountEvent, Membership, User
from study.roles import Role

pytestmark = pytest.mark.req("ISSUE-20")

STRONG = "Quiet-Harbour-Lantern-42"


def test_from_the_environment_creates_an_administrator_who_can_sign_in(site_a, site_b, monkeypatch, client):
    monkeypatch.setenv("TRIALSITE_ADMIN_PASSWORD", STRONG)
    out = io.StringIO()
    call_command(
        "create_study_admin",
        "--no-input",
        "--username",
        "first_admin",
        "--email",
        "admin@example.org",
        "--study",
        "test-study",
        stdout=out,
    )
    user = User.objects.get(username="first_admin")
    membership = Membership.objects.get(user=user)
    assert (membership.site.code, membership.role, membership.ended_at) == ("01", Role.STUDY_ADMIN, None)
    assert AccountEvent.objects.get(user=user).kind == AccountEvent.Kind.ROLE_GRANTED
    assert "Study administrator first_admin created for test-study, site 01." in out.getvalue()
    response = client.post("/accounts/login/", {"username": "first_admin", "password": STRONG})
    assert response.status_code == 302


def test_prompts_for_the_password_twice(site_a, monkeypatch):
    monkeypatch.delenv("TRIALSITE_ADMIN_PASSWORD", raising=False)
    answers = iter([STRONG, STRONG])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    call_command("create_study_admin", "--username", "prompted", "--email", "p@example.org", stdout=io.StringIO())
    assert User.objects.get(username="prompted").check_password(STRONG)


def test_a_weak_password_or_a_taken_username_saves_nothing(site_a, monkeypatch):
    monkeypatch.setenv("TRIALSITE_ADMIN_PASSWORD", "password")
    with pytest.raises(CommandError, match="Nothing was saved"):
        call_command("create_study_admin", "--no-input", "--username", "weak", "--email", "w@example.org")
    assert not User.objects.filter(username="weak").exists()
    monkeypatch.setenv("TRIALSITE_ADMIN_PASSWORD", STRONG)
    User.objects.create(username="taken", email="t@example.org")
    with pytest.raises(CommandError, match="Nothing was saved"):
        call_command("create_study_admin", "--no-input", "--username", "taken", "--email", "t2@example.org")
    assert Membership.objects.count() == 0


def test_without_input_a_missing_value_is_named(site_a, monkeypatch):
    monkeypatch.delenv("TRIALSITE_ADMIN_USERNAME", raising=False)
    monkeypatch.setenv("TRIALSITE_ADMIN_PASSWORD", STRONG)
    with pytest.raises(CommandError, match="Username is required"):
        call_command("create_study_admin", "--no-input", "--email", "x@example.org")
