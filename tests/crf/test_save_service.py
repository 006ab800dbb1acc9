"""The one CRF save path (issue 3 item 2; DESIGN §4 "CRF instance")."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.utils import timezone

from crf.models import DataLock, EntryStatus
from crf.services import StaleVersionError, mark_entered_in_error
from labs.models import VitalSigns
from labs.services import record_vital_signs
from tests.factories import identity, protocol_v1, vital_signs

pytestmark = pytest.mark.req("ISSUE-3")


@pytest.fixture
def coordinator(users_a):
    return users_a["coordinator"]


@pytest.fixture
def subject(study, subject_a):
    protocol_v1(study)
    identity(subject_a)
    return subject_a


def _reload(vs):
    return VitalSigns.objects.get(pk=vs.pk)


def test_new_form_starts_in_progress_at_version_1(subject, coordinator):
    vs = vital_signs(coordinator, subject)
    assert (vs.version, vs.entry_status) == (1, EntryStatus.IN_PROGRESS)
    assert vs.created_by == coordinator


def test_update_bumps_version_and_stale_version_is_refused(subject, coordinator):
    vs = vital_signs(coordinator, subject)
    first = _reload(vs)
    first.heart_rate = 80
    record_vital_signs(user=coordinator, vital_signs=first, expected_version=1)
    second = _reload(vs)
    second.heart_rate = 95
    with pytest.raises(StaleVersionError) as refused:
        record_vital_signs(user=coordinator, vital_signs=second, expected_version=1)
    assert refused.value.current.heart_rate == 80
    assert _reload(vs).heart_rate == 80
    assert _reload(vs).version == 2


def test_version_is_required_to_update(subject, coordinator):
    vs = _reload(vital_signs(coordinator, subject))
    vs.heart_rate = 60
    with pytest.raises(ValidationError) as refused:
        record_vital_signs(user=coordinator, vital_signs=vs, expected_version=None)
    assert "version" in refused.value.message_dict


def test_complete_form_needs_a_reason_for_change(subject, coordinator):
    vs = vital_signs(coordinator, subject, entry_status=EntryStatus.COMPLETE)
    edited = _reload(vs)
    edited.temperature_c = Decimal("38.2")
    with pytest.raises(ValidationError) as refused:
        record_vital_signs(user=coordinator, vital_signs=edited, expected_version=1)
    assert refused.value.message_dict["reason"] == ["This form is complete: give a reason for the change."]
    assert _reload(vs).temperature_c == Decimal("37.0")
    edited = _reload(vs)
    edited.temperature_c = Decimal("38.2")
    record_vital_signs(user=coordinator, vital_signs=edited, expected_version=1, reason="source re-read")
    assert _reload(vs).temperature_c == Decimal("38.2")


def test_impossible_value_refused_and_nothing_saved(subject, coordinator):
    with pytest.raises(ValidationError) as refused:
        vital_signs(coordinator, subject, temperature_c=Decimal("46.0"))
    assert "temperature_c" in refused.value.message_dict
    assert VitalSigns.objects.count() == 0


def test_not_done_code_and_value_are_exclusive(subject, coordinator):
    with pytest.raises(ValidationError) as refused:
        vital_signs(coordinator, subject, heart_rate=80, missing={"heart_rate": "ND"})
    assert "heart_rate" in refused.value.message_dict
    vs = vital_signs(coordinator, subject, heart_rate=None, missing={"heart_rate": "ND"})
    assert _reload(vs).missing == {"heart_rate": "ND"}


def test_roles_without_edit_right_cannot_save(subject, users_a):
    for role in ("monitor", "data_manager", "statistician", "study_admin"):
        with pytest.raises(PermissionDenied):
            vital_signs(users_a[role], subject)


def test_entered_in_error_keeps_the_row_and_refuses_later_edits(subject, coordinator):
    vs = vital_signs(coordinator, subject)
    with pytest.raises(ValidationError):
        mark_entered_in_error(user=coordinator, instance=vs, expected_version=1, reason="  ")
    mark_entered_in_error(user=coordinator, instance=vs, expected_version=1, reason="wrong subject")
    kept = _reload(vs)
    assert (kept.entered_in_error, kept.error_reason, kept.version) == (True, "wrong subject", 2)
    kept.heart_rate = 70
    with pytest.raises(ValidationError):
        record_vital_signs(user=coordinator, vital_signs=kept, expected_version=2, reason="x")


@pytest.mark.parametrize(("kind", "code"), [("freeze", "frozen"), ("lock", "locked")])
@pytest.mark.parametrize("scope", ["study", "subject", "form"])
def test_writes_refused_under_freeze_or_lock(subject, coordinator, users_a, kind, code, scope):
    vs = vital_signs(coordinator, subject)
    target = {"study": subject.site.study}
    if scope in ("subject", "form"):
        target["subject"] = subject
    if scope == "form":
        from django.contrib.contenttypes.models import ContentType

        target.update(content_type=ContentType.objects.get_for_model(VitalSigns), object_id=vs.pk)
    lock = DataLock.objects.create(
        kind=kind, reason="interim analysis", set_by=users_a["data_manager"], set_at=timezone.now(), **target
    )
    edited = _reload(vs)
    edited.heart_rate = 99
    with pytest.raises(ValidationError) as refused:
        record_vital_signs(user=coordinator, vital_signs=edited, expected_version=1)
    assert refused.value.code == code
    lock.lifted_at = timezone.now()
    lock.lifted_by = users_a["data_manager"]
    lock.lift_reason = "done"
    lock.save()
    record_vital_signs(user=coordinator, vital_signs=edited, expected_version=1)
    assert _reload(vs).heart_rate == 99


def test_two_connections_race_exactly_one_wins(transactional_db, study, site_a, users_a):
    """Two simultaneous saves of version 1 on two database connections: one commits, the
    other is refused as stale (compare-and-set, DESIGN §4)."""
    from subjects.models import Subject

    protocol_v1(study)
    subject = Subject.objects.create(site=site_a, subject_id="A-900")
    identity(subject)
    coordinator = users_a["coordinator"]
    vs = vital_signs(coordinator, subject)
    barrier = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def save(rate: int) -> None:
        try:
            mine = VitalSigns.objects.get(pk=vs.pk)
            mine.heart_rate = rate
            barrier.wait(timeout=10)
            record_vital_signs(user=coordinator, vital_signs=mine, expected_version=1)
            outcomes[rate] = "saved"
        except StaleVersionError:
            outcomes[rate] = "stale"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=save, args=(rate,)) for rate in (71, 72)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes.values()) == ["saved", "stale"]
    winner = next(rate for rate, outcome in outcomes.items() if outcome == "saved")
    final = VitalSigns.objects.get(pk=vs.pk)
    assert (final.heart_rate, final.version) == (winner, 2)


def test_stale_save_on_the_page_keeps_typed_values(subject, users_a, login, client):
    coordinator = users_a["coordinator"]
    vs = vital_signs(coordinator, subject, entry_status=EntryStatus.IN_PROGRESS)
    other = _reload(vs)
    other.heart_rate = 64
    record_vital_signs(user=users_a["investigator"], vital_signs=other, expected_version=1)
    login(coordinator)
    url = f"/subjects/{subject.pk}/forms/VS/{vs.pk}/"
    response = client.post(
        url,
        {
            "opened_version": "1",
            "assessment_date": "2026-03-02",
            "temperature_c": "38.9",
            "systolic_bp": "118",
            "heart_rate": "101",
            "oxygen_device": "room_air",
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Someone else saved this form after you opened it." in page
    assert 'value="38.9"' in page and 'value="101"' in page
    assert "Values saved by the other user" in page
    assert _reload(vs).heart_rate == 64


def test_page_saves_and_requires_reason_once_complete(subject, users_a, login, client):
    coordinator = users_a["coordinator"]
    login(coordinator)
    response = client.post(
        f"/subjects/{subject.pk}/forms/VS/new/",
        {"assessment_date": "2026-03-02", "temperature_c": "37.2", "oxygen_device": "room_air", "mark_complete": "on"},
    )
    assert response.status_code == 302
    vs = VitalSigns.objects.get()
    assert vs.entry_status == EntryStatus.COMPLETE
    response = client.post(
        f"/subjects/{subject.pk}/forms/VS/{vs.pk}/",
        {"opened_version": "1", "assessment_date": "2026-03-02", "temperature_c": "37.9", "oxygen_device": "room_air"},
    )
    assert response.status_code == 200
    assert "This form is complete: give a reason for the change." in response.content.decode()
    assert _reload(vs).temperature_c == Decimal("37.2")


def test_page_is_read_only_for_monitor_and_hidden_from_other_sites(subject, subject_b, users_a, login, client):
    vs = vital_signs(users_a["coordinator"], subject)
    login(users_a["monitor"])
    page = client.get(f"/subjects/{subject.pk}/forms/VS/{vs.pk}/")
    assert page.status_code == 200
    assert b'type="submit" class="primary"' not in page.content
    assert client.post(f"/subjects/{subject.pk}/forms/VS/{vs.pk}/", {}).status_code == 403
    assert client.get(f"/subjects/{subject_b.pk}/forms/VS/new/").status_code == 404
    assert client.get(f"/subjects/{subject_b.pk}/forms/VS/{vs.pk}/").status_code == 404


def test_entered_in_error_checks_the_stored_form_not_the_callers_copy(subject, subject_b, users_a, study):
    """A coordinator of site A cannot mark a site-B form by swapping the subject on a copy."""
    from study.models import Membership
    from tests.conftest import make_user

    coordinator_b = make_user("coordinator_b", site=subject_b.site, role="coordinator")
    vs = vital_signs(users_a["coordinator"], subject)
    forged = _reload(vs)
    forged.subject = subject_b
    with pytest.raises((PermissionDenied, ValidationError)):
        mark_entered_in_error(user=coordinator_b, instance=forged, expected_version=1, reason="forged")
    assert _reload(vs).entered_in_error is False
    assert Membership.objects.filter(user=coordinator_b).count() == 1


def test_saving_without_protocol_settings_is_a_clear_error(study, subject_a, users_a):
    from tests.factories import identity

    identity(subject_a)
    with pytest.raises(ValidationError) as refused:
        vital_signs(users_a["coordinator"], subject_a)
    assert refused.value.code == "no_protocol_settings"
    assert VitalSigns.objects.count() == 0
