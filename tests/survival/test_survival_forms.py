"""Follow-up contacts, death and subsequent therapy through the save path, and the time-to-event
records of CLINICAL_SPEC §8's survival data sets entered as forms (§5.3 day convention, §6
censoring). The Kaplan–Meier and Aalen–Johansen numbers themselves are the endpoint engine's
(tests/clinical/test_survival.py); here they are re-checked on the records the forms give."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from clinical.survival import aalen_johansen, kaplan_meier
from crf.models import Query, QueryStatus
from crf.services import save
from response.models import Relapse
from subjects.models import Subject
from survival.models import Death, FollowUpContact, SubsequentTherapy
from survival.selectors import last_known_alive, time_to_event
from tests.response.conftest import DAY0, day, marrow

pytestmark = pytest.mark.req("ISSUE-9")

CUTOFF = day(730)


def contact(user, subject, n: int, alive: bool = True) -> FollowUpContact:
    return save(
        user=user,
        instance=FollowUpContact(subject=subject, contact_date=day(n), method="telephone", alive=alive),
        expected_version=None,
    )


def die(user, subject, n: int, cause: str = "disease") -> Death:
    return save(
        user=user,
        instance=Death(subject=subject, death_date=day(n), primary_cause=cause, autopsy="no"),
        expected_version=None,
    )


def enter_os(user, infused, times: list[tuple[int, bool]]) -> list[Subject]:
    """One subject per (day, died): a contact alive at day 14, then the death or a last contact."""
    subjects = []
    for n, died in times:
        subject = infused(baseline_blasts=None)
        contact(user, subject, 14)
        if died:
            die(user, subject, n)
        else:
            contact(user, subject, n)
        subjects.append(subject)
    return subjects


@pytest.mark.req("CLINICAL_SPEC-8")
def test_survival_data_set_1(infused, coordinator):
    """45†, 90, 120†, 150†, 200, 250†, 300, 365, 400, 500 → S(365) = 0.5400, median not reached."""
    times = [(45, True), (90, False), (120, True), (150, True), (200, False), (250, True), (300, False),
             (365, False), (400, False), (500, False)]  # fmt: skip
    subjects = enter_os(coordinator, infused, times)
    records = [time_to_event(s, cutoff=CUTOFF).os for s in subjects]
    assert [(r.days, r.event) for r in records] == [
        (45, True), (90, False), (120, True), (150, True), (200, False),
        (250, True), (300, False), (365, False), (400, False), (500, False),
    ]  # fmt: skip
    assert [s.status for s in Subject.objects.filter(pk__in=[s.pk for s in subjects]).order_by("pk")] == [
        "died", "infused", "died", "died", "infused", "died", "infused", "infused", "infused", "infused",
    ]  # fmt: skip
    curve = kaplan_meier(r.as_observation() for r in records)
    at_365 = curve.at(365)
    assert round(at_365.survival, 4) == 0.5400
    assert (round(at_365.lower, 4), round(at_365.upper, 4)) == (0.1812, 0.8007)
    assert not curve.median().reached


@pytest.mark.req("CLINICAL_SPEC-8")
def test_survival_data_set_2_with_a_cutoff(infused, coordinator):
    """30†, 60†, 90, 120†, 150†, 200, 240†, 300†, 330, 400 → median 240."""
    times = [(30, True), (60, True), (90, False), (120, True), (150, True), (200, False), (240, True),
             (300, True), (330, False), (400, False)]  # fmt: skip
    subjects = enter_os(coordinator, infused, times)
    records = [time_to_event(s, cutoff=CUTOFF).os for s in subjects]
    assert [(r.days, r.event) for r in records] == [
        (30, True), (60, True), (90, False), (120, True), (150, True),
        (200, False), (240, True), (300, True), (330, False), (400, False),
    ]  # fmt: skip
    assert kaplan_meier(r.as_observation() for r in records).median().estimate == 240
    # §6: at a day-365 cut-off the contact on day 400 is ignored: that subject was last known
    # alive at the day-14 contact and is censored there.
    at_365 = [time_to_event(s, cutoff=day(365)).os for s in subjects]
    assert [(r.days, r.event) for r in at_365][-3:] == [(300, True), (330, False), (14, False)]
    contact(coordinator, subjects[8], 500)  # a contact after the cut-off is ignored
    assert time_to_event(subjects[8], cutoff=day(365)).os.days == 330


@pytest.mark.req("CLINICAL_SPEC-8")
def test_competing_risk_data_set_from_relapse_and_death_forms(infused, coordinator):
    """30(0) 60(1) 90(2) 120(1) 150(0) 180(1) 210(2) 240(0) 300(1) 365(0) 400(0) 450(2) →
    cumulative incidence of relapse at 365 = 0.4156."""
    data = [(30, 0), (60, 1), (90, 2), (120, 1), (150, 0), (180, 1), (210, 2), (240, 0), (300, 1), (365, 0),
            (400, 0), (450, 2)]  # fmt: skip
    subjects = []
    for n, cause in data:
        subject = infused(baseline_blasts=None)
        if cause == 1:
            save(
                user=coordinator,
                instance=Relapse(subject=subject, relapse_date=day(n), site_marrow=True, blast_cd7_status="negative"),
                expected_version=None,
            )
            contact(coordinator, subject, 500)
        elif cause == 2:
            die(coordinator, subject, n, cause="infection")
        else:
            contact(coordinator, subject, n)
        subjects.append(subject)
    records = [time_to_event(s, cutoff=CUTOFF).competing for s in subjects]
    assert [(r.time, r.cause) for r in records] == data
    assert round(aalen_johansen(records).at(365), 4) == 0.4156


def test_death_moves_the_subject_and_a_second_death_is_refused(infused, coordinator):
    subject = infused()
    contact(coordinator, subject, 20)
    death = die(coordinator, subject, 40, cause="infection")  # a CRS death needs its episode: test_death_grade5
    subject.refresh_from_db()
    assert (subject.status, subject.status_date) == ("died", day(40))
    assert last_known_alive(subject) == day(20)
    with pytest.raises(ValidationError):
        die(coordinator, subject, 41)
    assert Death.objects.filter(subject=subject).count() == 1 and death.primary_cause == "infection"


def test_death_before_the_last_status_date_names_the_death_date(infused, coordinator):
    subject = infused()
    with pytest.raises(ValidationError) as exc:
        die(coordinator, subject, -30)
    assert "death_date" in exc.value.error_dict
    assert not Death.objects.filter(subject=subject).exists()
    subject.refresh_from_db()
    assert subject.status == "infused"


def test_contact_alive_after_death_raises_a_query(infused, coordinator):
    subject = infused()
    die(coordinator, subject, 40)
    late = contact(coordinator, subject, 60)
    query = Query.objects.get(object_id=late.pk, rule_code="FU-ALIVE-AFTER-DEATH")
    assert query.status == QueryStatus.OPEN


def test_hsct_needs_donor_and_conditioning_and_ends_the_response_window(infused, coordinator):
    subject = infused()
    with pytest.raises(ValidationError) as exc:
        save(
            user=coordinator,
            instance=SubsequentTherapy(subject=subject, therapy_type="hsct", start_date=day(40), consolidative=True),
            expected_version=None,
        )
    assert {"donor", "conditioning"} <= set(exc.value.error_dict)
    marrow(coordinator, subject, on=day(28), anc="0.5", plt="50")  # CRi
    save(
        user=coordinator,
        instance=SubsequentTherapy(
            subject=subject,
            therapy_type="hsct",
            start_date=day(40),
            consolidative=True,
            donor="haploidentical",
            conditioning="TBI/Cy",
        ),
        expected_version=None,
    )
    marrow(coordinator, subject, on=day(100))  # CR, after HSCT
    contact(coordinator, subject, 120)
    records = time_to_event(subject, cutoff=CUTOFF)
    assert records.day28_response.label == "CRi, MRD unknown"
    assert (records.efs.days, records.efs.event) == (120, False)
    sensitivity = time_to_event(subject, cutoff=CUTOFF, censor_at_hsct=True)
    assert (sensitivity.os.days, sensitivity.os.event) == (40, False)
    assert date(2026, 3, 20) == DAY0


@pytest.mark.req("CLINICAL_SPEC-6")
def test_death_entered_in_error_gives_back_the_status_before_it(infused, coordinator):
    """DESIGN §4 "No hard deletes": the death form entered in error → the subject is in
    follow-up again since day 3 (its status before the death), not "died"; the OS record
    no longer has the death."""
    from crf.services import mark_entered_in_error
    from subjects.lifecycle import Event
    from subjects.services.subject import change_status

    subject = infused()
    change_status(user=coordinator, subject=subject, event=Event.START_FOLLOW_UP, on=day(3))
    contact(coordinator, subject, 20)
    death = die(coordinator, subject, 40, cause="infection")
    mark_entered_in_error(user=coordinator, instance=death, expected_version=death.version, reason="wrong subject")
    subject.refresh_from_db()
    assert (subject.status, subject.status_date) == ("follow_up", day(3))
    os = time_to_event(subject, cutoff=CUTOFF).os
    assert (os.days, os.event) == (20, False)


@pytest.mark.req("ISSUE-30")
def test_correcting_the_death_date_moves_the_status_date(infused, coordinator):
    """A death date corrected on the death form moves the "died" status date with it (audited
    with the correction); a correction before the status the subject had before death is
    refused on the death date and nothing changes."""
    from subjects.lifecycle import Event
    from subjects.services.subject import change_status

    subject = infused()
    change_status(user=coordinator, subject=subject, event=Event.START_FOLLOW_UP, on=day(3))
    death = die(coordinator, subject, 40, cause="infection")
    death.death_date = day(35)
    death = save(user=coordinator, instance=death, expected_version=death.version, reason="date from hospital record")
    subject.refresh_from_db()
    assert (subject.status, subject.status_date) == ("died", day(35))
    event = subject.events.order_by("-pgh_id").first()
    assert event.status_date == day(35)
    assert event.pgh_context["reason"] == (
        f"death date corrected: {day(40).isoformat()} → {day(35).isoformat()}; date from hospital record"
    )
    death.death_date = day(2)
    with pytest.raises(ValidationError) as caught:
        save(user=coordinator, instance=death, expected_version=death.version, reason="typo")
    assert "death_date" in caught.value.error_dict
    subject.refresh_from_db()
    assert subject.status_date == day(35)
    assert Death.objects.get(pk=death.pk).death_date == day(35)
