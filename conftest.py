"""Test database roles (DESIGN §4 "Audit trail"): like production, the suite migrates as the
owner and then runs as the application role, which owns no table and cannot switch the audit
triggers off. Transactional tests reset their tables (TRUNCATE) as the owner. Tests that use no
database set nothing up."""

from __future__ import annotations

import os

import pytest

_credentials: dict[str, tuple[str, str]] = {}


def _switch_user(user: str, password: str) -> None:
    from django.db import connections

    for conn in connections.all():
        conn.close()
        conn.settings_dict["USER"] = user
        conn.settings_dict["PASSWORD"] = password


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # extends pytest-django's
    from django.db import connections

    from trialsite.dbroles import ensure_app_role

    settings = connections["default"].settings_dict
    owner = (settings["USER"], settings.get("PASSWORD", ""))
    app_password = os.environ.get("DB_APP_PASSWORD", "")
    with django_db_blocker.unblock():
        role = ensure_app_role(connections["default"], app_password or None)
    _credentials["owner"] = owner
    _credentials["app"] = (role, app_password)
    _switch_user(*_credentials["app"])
    yield
    _switch_user(*owner)


@pytest.fixture(scope="session")
def db_owner(django_db_setup):
    """(user, password) of the database owner."""
    return _credentials["owner"]


@pytest.fixture(scope="session")
def db_app_role(django_db_setup):
    return _credentials["app"][0]


@pytest.fixture
def _as_owner(django_db_setup):
    _switch_user(*_credentials["owner"])
    yield
    _switch_user(*_credentials["app"])


@pytest.fixture
def transactional_db(_as_owner, _django_db_helper):  # overrides pytest-django's
    """A transactional test. It runs as the database owner because Django resets the tables with
    TRUNCATE, which the app role may not do to audit history. Open an explicit app-role
    connection where a transactional test must prove a privilege."""
