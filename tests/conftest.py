"""Shared fixtures: a study with two sites and one user per role at each (DESIGN §4a)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from study.models import Membership, Site, Study, User
from study.roles import Role
from subjects.models import Subject

PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture
def study(db):
    return Study.objects.create(code="test-study", title="Test study", registry_id="NCT00000000", phase="I")


@pytest.fixture
def site_a(study):
    return Site.objects.create(study=study, code="01", name="Site A", subject_prefix="A", default_language="en")


@pytest.fixture
def site_b(study):
    return Site.objects.create(study=study, code="02", name="Site B", subject_prefix="B", default_language="zh-hans")


def make_user(username: str, *, site: Site | None = None, role: str | None = None, **extra) -> User:
    user = User(username=username, email=f"{username}@example.org", **extra)
    user.set_password(PASSWORD)
    user.save()
    if site is not None and role is not None:
        Membership.objects.create(user=user, site=site, role=role, granted_at=timezone.now())
    return user


@pytest.fixture
def users_a(site_a):
    """One user per role at site A, keyed by role value."""
    return {role.value: make_user(f"{role.value}_a", site=site_a, role=role.value) for role in Role}


@pytest.fixture
def subject_a(site_a):
    return Subject.objects.create(site=site_a, subject_id="A-001")


@pytest.fixture
def subject_b(site_b):
    return Subject.objects.create(site=site_b, subject_id="B-001")


@pytest.fixture
def login(client):
    """Log a user in through the real sign-in page, so the session carries its login stamp."""

    def _login(user: User, password: str = PASSWORD):
        response = client.post("/accounts/login/", {"username": user.username, "password": password})
        assert response.status_code == 302, response.content[:500]
        return client

    return _login
