"""CRF versions (issue 27 item 3): each form declares its versions and the fields each added or
removed; a record keeps the version it was entered under and is shown, edited, queried and
served with the fields of that version. The real change: vital signs 1.1 added the respiratory
rate — a record entered under 1.0 shows no respiratory rate, a new one shows it."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from crf import versions
from crf.services import save
from crf.versions import CrfVersion
from labs.models import VitalSigns
from tests.api.conftest import send, token_client
from tests.factories import protocol_v1, vital_signs

pytestmark = pytest.mark.req("ISSUE-27")


@pytest.fixture(autouse=True)
def protocol(study):
    return protocol_v1(study)


@pytest.fixture
def old_and_new(users_a, subject_a):
    """A record entered under 1.0 (before the migration that made 1.1: the column's default) and
    one entered now."""
    user = users_a["coordinator"]
    old = vital_signs(user, subject_a, heart_rate=88)
    VitalSigns.objects.filter(pk=old.pk).update(crf_version="1.0")
    new = vital_signs(user, subject_a, heart_rate=90, respiratory_rate=18)
    return VitalSigns.objects.get(pk=old.pk), VitalSigns.objects.get(pk=new.pk)


class Form:
    crf_code = "XX"
    crf_versions = (
        CrfVersion("1.0"),
        CrfVersion("1.1", added=("b",)),
        CrfVersion("1.2", added=("c",), removed=("a",)),
        CrfVersion("1.10", added=("d",)),
    )


def test_hidden_fields_by_version():
    assert versions.current(Form) == "1.10"  # 1.10 comes after 1.2
    assert versions.hidden_fields(Form, "1.0") == {"b", "c", "d"}
    assert versions.hidden_fields(Form, "1.1") == {"c", "d"}
    assert versions.hidden_fields(Form, "1.2") == {"a", "d"}
    assert versions.hidden_fields(Form, None) == {"a"}
    assert versions.field_versions(Form) == {
        "b": ("1.1", None),
        "c": ("1.2", None),
        "a": (None, "1.2"),
        "d": ("1.10", None),
    }


def test_every_declaration_is_sound():
    assert versions.system_check() == []
    assert versions.current(VitalSigns) == "1.1"


def test_a_bad_declaration_is_refused(monkeypatch):
    monkeypatch.setattr(VitalSigns, "crf_versions", (CrfVersion("1.0"), CrfVersion("1.1", added=("no_such",))))
    errors = versions.system_check()
    assert [e.id for e in errors] == ["crf.E001"]
    assert "no_such" in errors[0].msg
    monkeypatch.setattr(VitalSigns, "crf_versions", (CrfVersion("1.1"), CrfVersion("1.0")))
    assert [e.id for e in versions.system_check()] == ["crf.E001"]


def test_a_record_keeps_the_version_it_was_entered_under(users_a, old_and_new):
    old, new = old_and_new
    assert (old.crf_version, new.crf_version) == ("1.0", "1.1")
    old.heart_rate = 92
    saved = save(user=users_a["coordinator"], instance=old, expected_version=old.version)
    assert (saved.crf_version, saved.heart_rate) == ("1.0", 92)


def test_a_field_not_on_the_records_version_is_refused(users_a, old_and_new):
    old, _new = old_and_new
    old.respiratory_rate = 20
    with pytest.raises(ValidationError) as refused:
        save(user=users_a["coordinator"], instance=old, expected_version=old.version)
    assert refused.value.message_dict == {"respiratory_rate": ["This field is not on version 1.0 of this form."]}
    assert VitalSigns.objects.get(pk=old.pk).respiratory_rate is None


def test_form_page_shows_the_fields_of_the_records_version(users_a, subject_a, old_and_new, client, login):
    old, new = old_and_new
    login(users_a["coordinator"])
    old_page = client.get(f"/subjects/{subject_a.pk}/forms/VS/{old.pk}/").content.decode()
    new_page = client.get(f"/subjects/{subject_a.pk}/forms/VS/{new.pk}/").content.decode()
    blank = client.get(f"/subjects/{subject_a.pk}/forms/VS/new/").content.decode()
    assert 'name="respiratory_rate"' not in old_page
    assert 'name="missing__respiratory_rate"' not in old_page
    assert "CRF version 1.0" in old_page
    assert 'name="heart_rate"' in old_page
    assert 'name="respiratory_rate"' in new_page
    assert 'value="18"' in new_page
    assert "CRF version 1.1" in new_page
    assert 'name="respiratory_rate"' in blank
    assert "CRF version 1.1" in blank
    # a post of the old record's page saves it under 1.0, without the field
    response = client.post(
        f"/subjects/{subject_a.pk}/forms/VS/{old.pk}/",
        {
            "opened_version": old.version,
            "assessment_date": "2026-03-02",
            "temperature_c": "37.0",
            "systolic_bp": "120",
            "heart_rate": "95",
            "respiratory_rate": "30",  # not on the page: ignored
            "oxygen_device": "room_air",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    old.refresh_from_db()
    assert (old.heart_rate, old.respiratory_rate, old.crf_version) == (95, None, "1.0")


def test_query_and_verification_fields_follow_the_version(users_a, old_and_new):
    from crf.queries import queryable_fields, raise_query

    old, new = old_and_new
    assert "respiratory_rate" not in queryable_fields(VitalSigns, old)
    assert "respiratory_rate" in queryable_fields(VitalSigns, new)
    with pytest.raises(ValidationError) as refused:
        raise_query(user=users_a["monitor"], form=old, field_name="respiratory_rate", text="RR?")
    assert "field_name" in refused.value.message_dict


def test_api_serves_the_fields_of_the_records_version(users_a, old_and_new):
    old, new = old_and_new
    api = token_client(users_a["coordinator"])
    old_body = send(api, "GET", f"/api/v1/vital-signs/{old.pk}/")
    new_body = send(api, "GET", f"/api/v1/vital-signs/{new.pk}/").json()
    assert "respiratory_rate" not in old_body.json()
    assert old_body.json()["crf_version"] == "1.0"
    assert (new_body["respiratory_rate"], new_body["crf_version"]) == (18, "1.1")
    refused = send(api, "PATCH", f"/api/v1/vital-signs/{old.pk}/", {"respiratory_rate": 22}, if_match=old_body["ETag"])
    assert refused.status_code == 400
    assert refused.json() == {"respiratory_rate": ["This field is not on version 1.0 of this form."]}
    assert VitalSigns.objects.get(pk=old.pk).respiratory_rate is None
    created = send(
        api,
        "POST",
        "/api/v1/vital-signs/",
        {"subject": old.subject_id, "assessment_date": "2026-03-03", "respiratory_rate": 16, "heart_rate": 80},
    )
    assert created.status_code == 201, created.content
    assert (created.json()["crf_version"], created.json()["respiratory_rate"]) == ("1.1", 16)


def test_signature_content_of_an_old_record_has_no_new_field(old_and_new):
    from datamanagement.canonical import form_entry

    old, new = old_and_new
    assert "respiratory_rate" not in form_entry(old)["data"]
    assert form_entry(new)["data"]["respiratory_rate"] == 18
    assert form_entry(new)["crf_version"] == "1.1"


def test_a_new_record_is_entered_under_the_current_version(users_a, subject_a):
    vs = VitalSigns(subject=subject_a, assessment_date=date(2026, 3, 4), respiratory_rate=12)
    saved = save(user=users_a["coordinator"], instance=vs, expected_version=None)
    assert (saved.crf_version, saved.respiratory_rate) == ("1.1", 12)
