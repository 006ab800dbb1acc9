"""DESIGN §6: "Django admin only for superuser configuration and support; clinical data is never
edited there, because admin saves would bypass the services." The admin registers no case report
form, no subject and no derived clinical record, and only a superuser gets past its sign-in."""

from __future__ import annotations

import pytest
from django.contrib import admin

from crf.declarations import declarations
from study.roles import Role
from tests.conftest import make_user

pytestmark = pytest.mark.req("DESIGN-6")

#: what the admin may keep: accounts' groups, sign-in lockouts (django-axes), API tokens
#: (knox: revoke), the site laboratories' reference ranges (saved through labs.services), and the
#: audit trail read-only (pghistory's Events view)
CONFIGURATION = {
    "auth.Group",
    "axes.AccessAttempt",
    "axes.AccessFailureLog",
    "axes.AccessLog",
    "knox.AuthToken",
    "labs.ReferenceRange",
    "pghistory.Events",
}


def test_the_admin_registers_configuration_only_and_no_clinical_record():
    registered = {model._meta.label for model in admin.site._registry}
    assert registered == CONFIGURATION
    forms = {declaration.model._meta.label for declaration in declarations()}
    # reference ranges are declared for what they re-derive, and the admin saves them through
    # labs.services.record_reference_range; no other declared form is in the admin
    assert len(forms) > 30 and forms & registered == {"labs.ReferenceRange"}
    clinical_apps = {"subjects", "labs", "adverse_events", "response", "survival", "crf", "datamanagement"}
    assert {label for label in registered if label.split(".")[0] in clinical_apps} == {"labs.ReferenceRange"}


def test_only_a_superuser_gets_past_the_admins_sign_in(client, login, site_a):
    study_admin = make_user("admin_scope", site=site_a, role=Role.STUDY_ADMIN)
    study_admin.is_staff = True  # even marked staff, a study admin without superuser stays out
    study_admin.save(update_fields=["is_staff"])
    login(study_admin)
    assert client.get("/django-admin/labs/referencerange/").status_code in (302, 403)
    client.logout()
    root = make_user("root_scope", site=site_a, role=Role.STUDY_ADMIN)
    root.is_staff = root.is_superuser = True
    root.save(update_fields=["is_staff", "is_superuser"])
    login(root)
    assert client.get("/django-admin/labs/referencerange/").status_code == 200
