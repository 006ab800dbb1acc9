"""Identity record pages (issue 4 item 1, DESIGN §4 "Identity record", §4a): coordinators,
investigators and monitors view it; coordinators and investigators edit it; every other role
gets 403 at its own site, and everyone gets 404 outside the gate. Identity values appear on no
other page, for any role. Expectations are literals from DESIGN §4a."""

from __future__ import annotations

from datetime import date

import pytest

from subjects.models import IdentityRecord
from tests.factories import identity

pytestmark = [pytest.mark.req("ISSUE-4"), pytest.mark.req("DESIGN-4a")]

#                 view identity   edit identity
DESIGN_4A = {
    "coordinator": (200, 200),
    "investigator": (200, 200),
    "monitor": (200, 403),
    "data_manager": (403, 403),
    "statistician": (403, 403),
    "study_admin": (403, 403),
}
IDENTITY_VALUES = ("张三", "1990-05-01", "H001", "13800000000")


@pytest.fixture
def identified(subject_a):
    identity(subject_a)
    return subject_a


@pytest.mark.parametrize("role", list(DESIGN_4A))
def test_identity_pages_follow_design_4a(role, users_a, identified, login):
    client = login(users_a[role])
    view, edit = DESIGN_4A[role]
    response = client.get(f"/subjects/{identified.pk}/identity/")
    assert response.status_code == view
    body = response.content.decode()
    assert all(value in body for value in IDENTITY_VALUES) is (view == 200)
    assert client.get(f"/subjects/{identified.pk}/identity/edit/").status_code == edit


@pytest.mark.parametrize("role", list(DESIGN_4A))
def test_identity_pages_outside_the_gate_are_404(role, users_a, subject_b, login):
    identity(subject_b)
    client = login(users_a[role])
    assert client.get(f"/subjects/{subject_b.pk}/identity/").status_code == 404
    assert client.get(f"/subjects/{subject_b.pk}/identity/edit/").status_code == 404
    assert client.get("/subjects/999999/identity/").status_code == 404


@pytest.mark.parametrize("role", ["monitor", "data_manager", "statistician", "study_admin"])
def test_roles_that_may_not_edit_cannot_post(role, users_a, identified, login):
    client = login(users_a[role])
    response = client.post(
        f"/subjects/{identified.pk}/identity/edit/",
        {"full_name": "李四", "date_of_birth": "1980-01-01", "reason": "typo"},
    )
    assert response.status_code == 403
    assert IdentityRecord.objects.get(subject=identified).full_name == "张三"


def test_coordinator_enters_a_new_identity_record(users_a, subject_a, login):
    client = login(users_a["coordinator"])
    response = client.post(
        f"/subjects/{subject_a.pk}/identity/edit/",
        {"full_name": "王五", "date_of_birth": "1975-12-31", "hospital_number": "H777", "phone": "139"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/subjects/{subject_a.pk}/identity/"
    record = IdentityRecord.objects.get(subject=subject_a)
    assert (record.full_name, record.date_of_birth, record.hospital_number, record.phone) == (
        "王五",
        date(1975, 12, 31),
        "H777",
        "139",
    )


def test_a_change_needs_a_reason_and_is_audited_with_it(users_a, identified, login):
    client = login(users_a["investigator"])
    url = f"/subjects/{identified.pk}/identity/edit/"
    refused = client.post(url, {"full_name": "张叁", "date_of_birth": "1990-05-01"})
    assert refused.status_code == 200
    assert "Give a reason for changing the identity record." in refused.content.decode()
    assert IdentityRecord.objects.get(subject=identified).full_name == "张三"
    saved = client.post(url, {"full_name": "张叁", "date_of_birth": "1990-05-01", "reason": "Spelling per ID card"})
    assert saved.status_code == 302
    record = IdentityRecord.objects.get(subject=identified)
    event = record.events.order_by("-pgh_id").first()
    assert (event.full_name, event.pgh_context["reason"]) == ("张叁", "Spelling per ID card")


def test_the_form_types_dates_and_labels_every_control(users_a, identified, login):
    body = login(users_a["coordinator"]).get(f"/subjects/{identified.pk}/identity/edit/").content.decode()
    assert 'type="date" name="date_of_birth" value="1990-05-01"' in body
    for control in ("full_name", "date_of_birth", "hospital_number", "phone", "reason"):
        assert f'<label for="id_{control}">' in body


@pytest.mark.parametrize("role", ["coordinator", "investigator", "monitor", "data_manager"])
def test_identity_values_never_show_on_the_subject_pages(role, users_a, identified, login):
    client = login(users_a[role])
    for url in ("/subjects/", f"/subjects/{identified.pk}/"):
        body = client.get(url).content.decode()
        assert not any(value in body for value in IDENTITY_VALUES), url
    link = f'href="/subjects/{identified.pk}/identity/"'
    assert (link in client.get(f"/subjects/{identified.pk}/").content.decode()) is (role != "data_manager")
