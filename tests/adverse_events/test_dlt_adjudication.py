"""DLT candidates flagged from the safety forms, adjudicated by the investigator only, the
dose-level monitor computed live, and the alerts they raise (CLINICAL_SPEC §3, §3.1; DESIGN §4a)."""

from __future__ import annotations

from datetime import date

import pytest

from adverse_events.models import AlertDelivery, DltCandidate, DoseLevelDecision, SaeReport, SafetyAlert, SafetyContacts
from adverse_events.services.dlt import dose_level_monitor, recompute_candidates, refresh_candidates
from crf.models import OutboxMessage
from subjects.models import Subject
from tests.adverse_events.conftest import day
from tests.adverse_events.test_adverse_events import record_ae
from tests.adverse_events.test_crs import enter_crs

pytestmark = pytest.mark.req("CLINICAL_SPEC-3.1")

GRADE3 = {"tmax_c": "38.4", "hypotension": True, "vasopressors": ["norepinephrine"]}
GRADE2 = {"tmax_c": "38.4", "oxygen_device": "nasal_cannula", "oxygen_flow_l_min": "3"}


def crs_course(client, subject, grades: dict[int, dict]) -> None:
    for n, values in grades.items():
        enter_crs(client, subject, day(n), **values)


def test_crs_grade3_on_days_2_to_4_then_grade2_flags_no_candidate(infused, coordinator, login, client):
    """§8: CRS grade 3 on days 2–4 and grade 2 on day 5 → no candidate (but a grade ≥ 3 alert)."""
    subject = infused()
    login(coordinator)
    crs_course(client, subject, {2: GRADE3, 3: GRADE3, 4: GRADE3, 5: GRADE2})
    assert list(DltCandidate.objects.filter(subject=subject, withdrawn=False)) == []
    assert list(SafetyAlert.objects.filter(subject=subject).values_list("kind", flat=True)) == ["crs_g3"]


def test_candidate_adjudicated_by_the_investigator_only_and_counted_on_the_monitor(
    infused, coordinator, investigator, users_a, login, client, study, settings
):
    """§8: CRS grade 3 on days 2–5 → candidate; pending beside the decision until the
    investigator confirms it with a reason (audited); then one confirmed DLT of one evaluable."""
    subject = infused()
    SafetyContacts.objects.create(study=study, sponsor_emails=["safety@sponsor.example"])
    login(coordinator)
    crs_course(client, subject, {2: GRADE3, 3: GRADE3, 4: GRADE3, 5: GRADE3})
    (candidate,) = DltCandidate.objects.filter(subject=subject)
    assert (candidate.key, candidate.onset_day, candidate.status) == ("crs:g3run", 2, "awaiting")

    today = day(10)
    (_dl1, dl2, _dl3) = dose_level_monitor(study, today=today)
    assert (dl2.code, dl2.enrolled, dl2.infused, dl2.evaluable, dl2.in_window, dl2.awaiting, dl2.confirmed) == (
        "DL2",
        1,
        1,
        0,
        1,
        1,
        0,
    )
    assert (dl2.decision.value, dl2.result.pending) == ("enrolling", True)

    url = f"/safety/dlt/candidates/{candidate.pk}/"
    post = {"version": candidate.version, "decision": "confirm", "reason": "CRS on pressors for 4 days"}
    for role in ("coordinator", "monitor", "data_manager"):
        client.logout()
        login(users_a[role])
        assert client.post(url, post).status_code == 403
    client.logout()
    login(investigator)
    response = client.post(url, {**post, "reason": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert client.post(url, post).status_code == 302
    candidate.refresh_from_db()
    assert (candidate.status, candidate.adjudicated_by, candidate.version) == ("confirmed", investigator, 2)
    events = candidate.events.order_by("pgh_id").values_list("status", flat=True)
    assert list(events) == ["awaiting", "confirmed"]
    # A stale version is refused, never a silent overwrite.
    response = client.post(url, {**post, "decision": "reject"})
    assert "changed by someone else" in response.content.decode()

    (_dl1, dl2, _dl3) = dose_level_monitor(study, today=today)
    assert (dl2.evaluable, dl2.confirmed, dl2.awaiting, dl2.decision.value, dl2.result.pending) == (
        1,
        1,
        0,
        "enrolling",
        False,
    )
    assert DoseLevelDecision.objects.get(study=study, dose_level="DL2").pending is False

    # The confirmed DLT raised its alert to the site's investigator and the sponsor contact.
    alert = SafetyAlert.objects.get(source_key=f"dlt:{candidate.pk}")
    recipients = sorted(AlertDelivery.objects.filter(alert=alert).values_list("channel", "recipient"))
    assert recipients == [
        ("email", "investigator_a@example.org"),
        ("email", "safety@sponsor.example"),
        ("in_app", "investigator_a"),
    ]
    assert OutboxMessage.objects.filter(
        task_name="adverse_events.tasks.deliver_alert", kwargs={"alert_id": alert.pk}
    ).exists()

    page = client.get("/safety/dlt/").content.decode()
    assert "DLT monitor" in page and "Confirmed DLT" in page


def test_universal_lymphopenia_is_no_candidate_but_a_lasting_other_ae_is(infused, coordinator):
    """§8: Lymphocyte count decreased grade 4 on days 1–27 → no candidate."""
    subject = infused()
    record_ae(
        coordinator,
        subject,
        ctcae_term="Lymphocyte count decreased",
        grade=4,
        onset_date=day(1),
        resolution_date=day(27),
        outcome="recovered",
    )
    recompute_candidates(subject=subject, today=day(40))
    assert list(DltCandidate.objects.filter(subject=subject)) == []
    ae = record_ae(coordinator, subject, ctcae_term="Hypertension", grade=3, onset_date=day(5), resolution_date=day(13))
    recompute_candidates(subject=subject, today=day(40))
    assert list(DltCandidate.objects.filter(subject=subject).values_list("key", "withdrawn")) == [
        (f"ae:{ae.pk}", False)
    ]
    # A correction (back to ≤ 1 on day 12) withdraws the candidate; the row is kept.
    from crf.services import save

    ae.resolution_date = day(12)
    save(user=coordinator, instance=ae, expected_version=ae.version, reason="source says day 12")
    recompute_candidates(subject=subject, today=day(40))
    assert list(DltCandidate.objects.filter(subject=subject).values_list("key", "withdrawn")) == [(f"ae:{ae.pk}", True)]


def test_sae_raises_an_alert_and_shows_the_24_hour_clock_until_an_investigator_marks_it(
    infused, coordinator, investigator, users_a, login, client
):
    subject = infused()
    ae = record_ae(coordinator, subject, ctcae_term="Sepsis", grade=4, onset_date=day(6), serious_hospitalisation=True)
    report = SaeReport.objects.get(adverse_event=ae)
    assert (report.due_at - report.aware_at).total_seconds() == 86400
    alert = SafetyAlert.objects.get(source_key=f"sae:{ae.pk}")
    assert alert.kind == "sae"
    url = f"/safety/subjects/{subject.pk}/sae/{ae.pk}/"
    login(coordinator)
    page = client.get(url).content.decode()
    assert "24-hour reporting clock" in page and "left to report" in page
    assert client.post(url, {"version": report.version}).status_code == 403
    client.logout()
    login(investigator)
    assert client.post(url, {"version": report.version}).status_code == 302
    report.refresh_from_db()
    assert report.reported_by == investigator
    assert "Reported to the sponsor" in client.get(url).content.decode()
    # The same SAE saved again does not raise a second alert.
    from crf.services import save

    ae.refresh_from_db()
    ae.verbatim = "sepsis, E. coli"
    save(user=coordinator, instance=ae, expected_version=ae.version, reason="detail")
    assert SafetyAlert.objects.filter(subject=subject).count() == 1


def test_candidates_and_sae_pages_are_behind_the_visibility_gate(
    infused, coordinator, other_coordinator, login, client
):
    subject = infused()
    ae = record_ae(
        coordinator,
        subject,
        ctcae_term="Sepsis",
        grade=4,
        onset_date=day(6),
        serious_death=False,
        serious_life_threatening=True,
    )
    candidate = DltCandidate.objects.create(
        subject=subject, key="death", criterion="death", onset_day=9, description="Death on day 9"
    )
    login(other_coordinator)
    assert client.get(f"/safety/dlt/candidates/{candidate.pk}/").status_code == 404
    assert client.get(f"/safety/subjects/{subject.pk}/sae/{ae.pk}/").status_code == 404


def test_under_dosed_subject_is_to_replace_on_the_monitor(infused, study):
    subject = infused()
    from subjects.models import Infusion

    Infusion.objects.filter(subject=subject).update(dose_in_range=False)
    (_dl1, dl2, _dl3) = dose_level_monitor(study, today=date(2026, 5, 1))
    assert (dl2.infused, dl2.evaluable, dl2.to_replace, dl2.replace_subjects[0][1]) == (1, 0, 1, "over_dosed")


def test_sponsor_contacts_are_set_by_the_study_admin_only(users_a, study, login, client):
    url = "/safety/sponsor-contacts/"
    login(users_a["investigator"])
    assert client.get(url).status_code == 403
    client.logout()
    login(users_a["study_admin"])
    bad = client.post(url, {"emails": "pv@sponsor.example\nnot-an-address"})
    assert "not-an-address is not an e-mail address." in bad.content.decode()
    assert not SafetyContacts.objects.filter(study=study, sponsor_emails__len__gt=0).exists()
    assert (
        client.post(url, {"emails": "pv@sponsor.example\n\nqa@sponsor.example\npv@sponsor.example"}).status_code == 302
    )
    assert SafetyContacts.objects.get(study=study).sponsor_emails == ["pv@sponsor.example", "qa@sponsor.example"]


def test_acute_gvhd_grade_3_in_the_window_is_a_candidate(infused, coordinator):
    """§3.1: acute GvHD of MAGIC overall grade ≥ III in the DLT window is a DLT candidate; the
    staging form feeds the rules through its save (no separate step)."""
    from decimal import Decimal

    from adverse_events.models import GvhdStaging
    from crf.services import save

    subject = infused()
    staging = save(
        user=coordinator,
        instance=GvhdStaging(
            subject=subject, assessment_date=day(20), weight_kg=Decimal("70.0"), stool_ml_per_day=Decimal("1100")
        ),
        expected_version=None,
    )
    # MAGIC: 1100 mL/day is lower GI stage 2 (1000–1500), and lower GI 2–3 makes the overall grade III
    assert (staging.lower_gi_stage, staging.overall_grade) == (2, 3)
    recompute_candidates(subject=subject, today=day(40))
    assert list(DltCandidate.objects.filter(subject=subject).values_list("key", "withdrawn")) == [("gvhd", False)]


@pytest.mark.req("ISSUE-13")
def test_refresh_re_runs_only_subjects_whose_candidates_can_still_appear_with_time(infused, coordinator, study):
    """A grade 3 AE from day 5 not back to grade ≤ 1 becomes a candidate after its 7 days (day 13)
    with no data change. The monitor's refresh re-runs the rules for subjects up to day 28 + 7 + 3
    + 1 = 39 after infusion and no later (after that only data changes matter, and they re-run the
    rules themselves): at 10,000 subjects re-running everyone took minutes per page view."""
    subject = infused()
    ae = record_ae(coordinator, subject, ctcae_term="Hypertension", grade=3, onset_date=day(5))
    key = f"ae:{ae.pk}"
    # As of day 10 the AE may still recover within its 7 days: no candidate yet.
    recompute_candidates(subject=subject, today=day(10))
    assert list(DltCandidate.objects.filter(subject=subject).values_list("key", "withdrawn")) == [(key, True)]
    assert refresh_candidates(Subject.objects.all(), study=study, today=day(13)) == 1
    assert list(DltCandidate.objects.filter(subject=subject).values_list("key", "withdrawn")) == [(key, False)]

    recompute_candidates(subject=subject, today=day(10))
    assert refresh_candidates(Subject.objects.all(), study=study, today=day(40)) == 0  # past the horizon
    assert list(DltCandidate.objects.filter(subject=subject).values_list("key", "withdrawn")) == [(key, True)]
    assert refresh_candidates(Subject.objects.all(), study=study, today=day(39)) == 1  # its last day
    assert list(DltCandidate.objects.filter(subject=subject).values_list("key", "withdrawn")) == [(key, False)]


@pytest.mark.req("ISSUE-13")
def test_the_hourly_task_refreshes_every_study(infused, coordinator, study):
    from adverse_events.tasks import refresh_dlt_candidates

    infused()
    # DAY0 lies months before today: nobody is inside the time-driven horizon any more.
    assert refresh_dlt_candidates() == {study.code: 0}


@pytest.mark.req("ISSUE-13")
def test_the_monitor_is_computed_once_per_change_of_its_inputs(infused, coordinator, study, django_assert_num_queries):
    """The safety dashboard shows the monitor on every view: it is kept until an input changes
    (a new audit event in any table it reads) or the day does, then computed afresh."""
    subject = infused()
    first = dose_level_monitor(study, today=day(10))
    with django_assert_num_queries(1):  # only the fingerprint: the newest audit event per input
        again = dose_level_monitor(study, today=day(10))
    assert [(r.code, r.infused, r.in_window, r.evaluable) for r in again] == [
        (r.code, r.infused, r.in_window, r.evaluable) for r in first
    ]
    assert [(r.code, r.infused, r.in_window, r.evaluable) for r in again] == [
        ("DL1", 0, 0, 0),
        ("DL2", 1, 1, 0),
        ("DL3", 0, 0, 0),
    ]
    # The next day is a new key: the window closes on day 28, so the subject becomes evaluable.
    (_dl1, dl2, _dl3) = dose_level_monitor(study, today=day(29))
    assert (dl2.in_window, dl2.evaluable) == (0, 1)
    # A new confirmed DLT is a new event: the monitor shows it at once, on the same day.
    record_ae(coordinator, subject, ctcae_term="Hypertension", grade=4, onset_date=day(5))
    (candidate,) = DltCandidate.objects.filter(subject=subject, withdrawn=False)
    DltCandidate.objects.filter(pk=candidate.pk).update(status="confirmed")  # audited like any update
    (_dl1, dl2, _dl3) = dose_level_monitor(study, today=day(29))
    assert (dl2.evaluable, dl2.confirmed) == (1, 1)


@pytest.mark.req("ISSUE-30")
def test_expansion_stop_and_review_needs_the_enrolment_acknowledgement(infused, coordinator, investigator, study):
    """§3.1 beyond six evaluable: nine evaluable at DL2, one confirmed DLT among the first six
    infused (the 3+3 part cleared the level) and two more after → 3/9 = 1/3 → "expansion: stop
    and review", shown with its exact CI (7.5–70.1%); enrolling at DL2 then needs the
    investigator's acknowledgement, for that reason; DL2 is not the recommended dose."""
    from adverse_events.services.dlt import adjudicate_candidate, enrolment_acknowledgement

    subjects = [infused() for _ in range(9)]
    for subject in (subjects[0], subjects[6], subjects[7]):
        record_ae(coordinator, subject, ctcae_term="Hypertension", grade=3, onset_date=day(5))
        recompute_candidates(subject=subject, today=day(20))
        (candidate,) = DltCandidate.objects.filter(subject=subject, withdrawn=False)
        adjudicate_candidate(
            user=investigator, candidate=candidate, confirm=True, reason="grade 3 for weeks", expected_version=1
        )
    (_dl1, dl2, _dl3) = dose_level_monitor(study, today=day(40))
    assert (dl2.evaluable, dl2.confirmed, dl2.decision.value, dl2.rate_text, dl2.recommended) == (
        9,
        3,
        "expansion_stop",
        "33.3% (7.5–70.1%)",
        False,
    )
    assert [r.value for r in enrolment_acknowledgement(study, "DL2", today=day(40))] == ["stop_and_review"]
    assert enrolment_acknowledgement(study, "DL1", today=day(40)) == []


@pytest.mark.req("ISSUE-30")
@pytest.mark.parametrize(("back_on_day", "flagged"), [(12, False), (13, True)])
def test_dlt_rule_reads_the_dated_grade_course(infused, coordinator, back_on_day, flagged):
    """§3.1 "any other AE of grade ≥ 3 … not back to ≤ 1 within 7 days", read from the course:
    Hypertension grade 2 from day 2, grade 3 from day 5, grade 1 from day 12 (within 7 days of
    reaching grade 3: no candidate) or day 13 (one day late: a candidate counted from day 5)."""
    subject = infused()
    course = [
        {"from": day(2).isoformat(), "grade": 2},
        {"from": day(5).isoformat(), "grade": 3},
        {"from": day(back_on_day).isoformat(), "grade": 1},
    ]
    ae = record_ae(coordinator, subject, ctcae_term="Hypertension", grade=2, onset_date=day(2), grade_course=course)
    assert (ae.grade, len(ae.grade_course)) == (3, 3)  # the AE's grade is the course's maximum
    recompute_candidates(subject=subject, today=day(40))
    found = list(DltCandidate.objects.filter(subject=subject, withdrawn=False).values_list("onset_day", "description"))
    if flagged:
        assert found == [(2, "Hypertension grade 3 from day 5, not back to grade ≤ 1 within 7 days")]
    else:
        assert found == []


@pytest.mark.req("ISSUE-30")
def test_the_day28_window_and_the_refresh_horizon_come_from_the_schedule(infused, study):
    """§3.1 "day 28 plus that visit's window" (§7): the schedule's day-28 window, not a fixed
    ±3 days. Horizon = 28 + 7 recovery days + the window after + 1: 39 days with the demo's
    ±3, 43 once the schedule's day-28 visit allows 7 days after."""
    from adverse_events.services.dlt import assessment_window, time_driven_horizon_days
    from study.models import VisitDefinition

    subject = infused()
    assert assessment_window(study.pk, 28) == (3, 3)
    assert refresh_candidates(Subject.objects.filter(pk=subject.pk), study=study, today=day(40)) == 0
    VisitDefinition.objects.filter(study=study, anchor="infusion", day=28).update(window_before=2, window_after=7)
    assert assessment_window(study.pk, 28) == (2, 7)
    assert time_driven_horizon_days(28, 7) == 43
    assert refresh_candidates(Subject.objects.filter(pk=subject.pk), study=study, today=day(40)) == 1
    assert refresh_candidates(Subject.objects.filter(pk=subject.pk), study=study, today=day(44)) == 0
    assert assessment_window(study.pk, 30) == (3, 3)  # no visit on that day: the §7 default
