"""Test database roles (DESIGN §4 "Audit trail"): like production, the suite migrates as the
owner and then runs as the application role, which owns nothing and cannot switch the audit
triggers off. Transactional tests reset their tables (TRUNCATE) as the owner."""

from __future__ import annotations

import pytest


def _switch_user(user: str, password: str) -> None:
    from django.db import connections

    for conn in connections.all():
        conn.close()
        conn.settings_dict["USER"] = user
        conn.settings_dict["PASSWORD"] = password


@pytest.fixture(scope="session")
def db_owner(django_db_setup, django_db_blocker):
    from django.db import connections

    return connections["default"].settings_dict["USER"], connections["default"].settings_dict.get("PASSWORD", "")


@pytest.fixture(scope="session")
def db_app_role(db_owner, django_db_blocker):
    """Create the app role on the test database, then connect every test as it."""
    import os

    from django.db import connections

    from trialsite.dbroles import ensure_app_role

    password = os.environ.get("DB_APP_PASSWORD", "")
    with django_db_blocker.unblock():
        role = ensure_app_role(connections["default"], password or None)
    _switch_user(role, password)
    yield role
    _switch_user(*db_owner)


@pytest.fixture(autouse=True, scope="session")
def _run_as_app_role(db_app_role):
    return db_app_role


@pytest.fixture
def _as_owner(db_owner, db_app_role):
    _switch_user(*db_owner)
    yield
    import os

    _switch_user(db_app_role, os.environ.get("DB_APP_PASSWORD", ""))


@pytest.fixture
def transactional_db(_as_owner, _django_db_helper):  # overrides pytest-django's
    """A transactional test. It runs as the database owner because Django resets the tables with
    TRUNCATE, which the app role may not do to audit history. Use explicit app-role connections
    (tests/helpers) where a transactional test must prove a privilege."""
