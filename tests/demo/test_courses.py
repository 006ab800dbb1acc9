"""The demo loader's 24 synthetic subjects (issue 6 item 4, issue 10 item 5): realistic courses
written through the coordinator's services, deterministic for a given day, idempotent — and
their safety data (CRS, ICANS, cytopenias, AEs, SAEs, GvHD, DLT candidates)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F, Max, Q

from adverse_events.models import (
    AdverseEvent,
    AlertDelivery,
    CrsAssessment,
    CrsEpisode,
    DltCandidate,
    GvhdStaging,
    HospitalStay,
    IcahtDerivation,
    IcansAssessment,
    IcansEpisode,
    IecHsAssessment,
    Infection,
    SaeReport,
    SafetyAlert,
)
from adverse_events.services.dlt import dose_level_monitor, enrolment_acknowledgement
from clinical.schedule import VisitState
from clinical.survival import kaplan_meier
from crf.models import Query, QueryStatus
from demo.courses import load_demo_subjects, plan
from demo.safety import febrile_days
from labs.models import LabResult, VitalSigns
from response.models import MarrowAssessment, MrdTest, Relapse
from subjects.models import ConcomitantMedication, Demographics, DiseaseHistory, Infusion, ProtocolDeviation, Subject
from subjects.selectors import due_and_overdue
from survival.models import Death, FollowUpContact, SubsequentTherapy
from survival.selectors import time_to_event
from tests.conftest import DEMO_TODAY

pytestmark = pytest.mark.req("ISSUE-6")

TODAY = DEMO_TODAY


@pytest.fixture
def demo(demo_study, db):
    """The demo study loaded once per run (tests/conftest.py `demo_study`); this test's savepoint."""
    return demo_study


@pytest.mark.timeout(900)  # the load is ~2,000 form saves through the services: slow on a shared CI box
def test_courses(demo):
    courses(*demo)


def test_first_weeks(demo):
    first_weeks(*demo)


@pytest.mark.req("ISSUE-12")
def test_endpoint_run_agrees_with_the_live_derivation(demo):
    endpoint_run_agrees_with_the_live_derivation(*demo)


@pytest.mark.req("ISSUE-9")
def test_response_and_survival(demo):
    response_and_survival(*demo)


def test_audit_and_idempotence(demo):
    audit_and_idempotence(*demo)


def response_and_survival(site, _coordinator, _written):
    """Day-28 marrows (most CR/CRi, MRD mostly negative, one not evaluable, a few NR/PD),
    relapses (two CD7-negative), consolidative HSCTs, deaths as death forms with their causes,
    and follow-up contacts: a censored one-year survival curve (CLINICAL_SPEC §5–6)."""
    marrows = MarrowAssessment.objects.filter(subject__site=site)
    assert marrows.filter(is_baseline=True).count() == 21
    after = Counter(marrows.filter(is_baseline=False).values_list("response_label", flat=True))
    assert after == {
        "CR MRD−": 10,
        "CRi MRD−": 3,
        "CR MRD+": 2,
        "CR, MRD unknown": 1,
        "NR": 2,
        "PD": 1,
        "relapse": 4,
    }
    assert Counter(MrdTest.objects.filter(subject__site=site).values_list("status", flat=True)) == {
        "negative": 13,
        "positive": 2,
        "not_evaluable": 1,
    }
    assert Counter(Relapse.objects.filter(subject__site=site).values_list("blast_cd7_status", flat=True)) == {
        "positive": 2,
        "negative": 2,
    }
    therapies = SubsequentTherapy.objects.filter(subject__site=site)
    assert Counter(therapies.values_list("therapy_type", flat=True)) == {"hsct": 3, "chemotherapy": 1}
    assert therapies.filter(therapy_type="hsct", consolidative=True).count() == 3
    deaths = Death.objects.filter(subject__site=site)
    assert Counter(deaths.values_list("primary_cause", flat=True)) == {"disease": 3, "gvhd": 1}
    assert set(deaths.values_list("subject__status", flat=True)) == {"died"}
    assert FollowUpContact.objects.filter(subject__site=site).count() == 62
    infused = Subject.objects.filter(site=site, infusion_date__isnull=False).order_by("infusion_date")
    records = [time_to_event(s, cutoff=TODAY) for s in infused]
    assert [r.os.days for r in records if r.os.event] == [190, 75, 121, 160]
    censored = sorted(r.os.days for r in records if not r.os.event)
    assert censored == [7, 25, 43, 61, 79, 90, 97, 133, 151, 169, 223, 241, 277, 313, 331, 365, 365]
    curve = kaplan_meier(r.os.as_observation() for r in records)
    assert round(curve.at(365).survival, 4) == 0.6842  # 16/17 · 12/13 · 9/10 · 7/8


@pytest.mark.req("ISSUE-12")
def endpoint_run_agrees_with_the_live_derivation(site, _coordinator, _written):
    """An endpoint run over the demo study succeeds with every table, and its per-subject
    derivation read from the audit-trail snapshot (endpoints.courses.subject_endpoints) gives each
    infused subject the day-28 response, the OS/EFS events and the competing-risk outcome that
    survival.selectors derives from the live tables (censoring may differ: the run also counts
    assessments as "known alive", CLINICAL_SPEC §6)."""
    from django.utils import timezone

    from endpoints import courses as endpoint_courses
    from endpoints import services as endpoint_services

    run = endpoint_services.request_run(actor=None, study=site.study, cutoff_date=TODAY)
    done = endpoint_services.compute_run(run_id=run.pk)
    assert done.status == "succeeded", done.error
    keys = [t["key"] for t in json.loads(done.results_json)["tables"]]
    assert {"os_km", "os_at_risk", "os_summary", "relapse_cif", "best_response", "day28_response"} <= set(keys)
    data, _version, _digest = endpoint_services.load_cut(site.study, cutoff=TODAY, at=timezone.now())
    derived = endpoint_courses.subject_endpoints(data)
    infused = Subject.objects.filter(site=site, infusion_date__isnull=False, infusion_date__lte=TODAY)
    assert set(derived) == set(infused.values_list("pk", flat=True))
    for subject in infused:
        live = time_to_event(subject, cutoff=TODAY)
        ours = derived[subject.pk].records
        assert ours.day28_response.label == live.day28_response.label, subject
        assert (ours.os.event, ours.efs.event, ours.competing.cause) == (
            live.os.event,
            live.efs.event,
            live.competing.cause,
        ), subject
        if ours.os.event:
            assert ours.os.days == live.os.days
        if ours.efs.event:
            assert ours.efs.days == live.efs.days
        assert (ours.dor is None) == (live.dor is None), subject


def courses(site, _coordinator, written):
    assert written == 24
    statuses = Counter(Subject.objects.filter(site=site).values_list("status", flat=True))
    assert statuses["screen_failed"] == 2
    assert statuses["not_infused"] == 1
    assert sum(statuses.values()) == 24
    # 21 infused: some still in their first four weeks, the rest in follow-up, completed or died
    assert (statuses["died"], statuses["lost"], statuses["completed"], statuses["infused"]) == (4, 1, 2, 2)
    assert (
        statuses["infused"] + statuses["follow_up"] + statuses["completed"] + statuses["died"] + statuses["lost"] == 21
    )
    infusions = Infusion.objects.filter(subject__site=site)
    assert infusions.count() == 21
    assert set(infusions.values_list("state", flat=True)) == {"fresh", "thawed"}
    assert Counter(infusions.values_list("dose_level", flat=True)) == {"DL1": 3, "DL2": 6, "DL3": 12}
    assert not infusions.filter(dose_in_range=False).exists()  # the demo products are within range
    ids = sorted(Subject.objects.exclude(subject_id="").values_list("subject_id", flat=True))
    assert ids[0] == "YD-001" and ids[-1] == "YD-022"


def first_weeks(site, coordinator, _written):
    latest = Subject.objects.filter(site=site, infusion_date__isnull=False).order_by("-infusion_date").first()
    days = sorted(
        (d - latest.infusion_date).days
        for d in VitalSigns.objects.filter(subject=latest).values_list("assessment_date", flat=True)
    )
    # the screening vital signs at enrolment (day -14, the baseline: issue 28), then daily from day -1
    assert days == [-14, *range(-1, (TODAY - latest.infusion_date).days + 1)]
    # A febrile course exists (for the CRS pages) and every value passed the form's validators.
    assert VitalSigns.objects.filter(subject__site=site, temperature_c__gte=38).exists()
    # Blood counts on days -1, 1, 3, 5 and 7 so far (day 7 is today), inflammatory markers on the odd days (-1 too).
    collected = sorted(
        {
            (d - latest.infusion_date).days
            for d in LabResult.objects.filter(subject=latest).values_list("collected_on", flat=True)
        }
    )
    assert collected == [-14, -1, 1, 3, 5, 7]  # the screening panels (issue 28), then the blood counts
    assert LabResult.objects.filter(subject=latest, analyte="ANC").count() == 6
    assert LabResult.objects.filter(subject=latest, analyte="IL6").count() == 6
    # every result has the site's reference range (labs.derive; demo.reference_ranges) and its flag
    assert not LabResult.objects.filter(subject__site=site, standard_lln__isnull=True).exists()
    assert not LabResult.objects.filter(subject__site=site, flag="").exists()
    assert not LabResult.objects.filter(subject__site=site, standard_value__isnull=True).exists()
    # Con-meds: prophylaxis for every infused subject; antipyretics with fever; tocilizumab for some.
    categories = Counter(ConcomitantMedication.objects.filter(subject__site=site).values_list("category", flat=True))
    assert categories["antimicrobial"] == 42
    # paracetamol for the 13 febrile courses; tocilizumab on the first CRS grade ≥ 2 day (8 subjects);
    # dexamethasone for the 6 hypotensive ones, methylprednisolone for the GvHD
    assert (categories["antipyretic"], categories["tocilizumab"], categories["corticosteroid"]) == (13, 8, 7)
    # Baseline forms for all 24 (screen failures too); partial diagnosis dates flagged.
    assert Demographics.objects.filter(subject__site=site).count() == 24
    assert DiseaseHistory.objects.filter(subject__site=site, diagnosis_date_imputation="D").count() == 6
    assert ProtocolDeviation.objects.filter(subject__site=site).count() == 2
    now = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)
    states = Counter(item.state for item in due_and_overdue(coordinator, now=now))
    assert states[VisitState.OVERDUE] == 2 and states[VisitState.DUE] >= 1


def audit_and_idempotence(site, coordinator, _written):
    subject = Subject.objects.get(site=site, subject_id="YD-001")
    event = subject.events.order_by("pgh_id").first()  # the audit row of the consent
    assert event.pgh_context["user"] == coordinator.pk
    assert load_demo_subjects(site=site, user=coordinator, today=TODAY) == 0
    assert Subject.objects.filter(site=site).count() == 24


def test_plan_is_deterministic():
    assert plan(TODAY) == plan(TODAY)
    assert [c.outcome for c in plan(TODAY)].count("infused") == 21
    # the CRS plan's febrile days are the plan's fever days (the vitals and the CRS forms agree)
    for course in plan(TODAY):
        if course.outcome == "infused":
            assert febrile_days(course.index) == course.fever_days, course.index


def _max_grades(model) -> Counter:
    per_subject = model.objects.filter(subject__site__code="01", superseded=False).values("subject")
    return Counter(per_subject.annotate(g=Max("derived_grade")).values_list("g", flat=True))


@pytest.mark.req("ISSUE-10")
def test_crs_and_icans_courses(demo):
    """CLINICAL_SPEC §1–2: most infused subjects have CRS in the first week (onset day 1–3), grade
    1–2 in most, grade 3 in three; tocilizumab for every grade ≥ 2; ICANS grade 1–2 in four and
    grade 3 (ICE 2) in one. Each episode owns its one system AE."""
    site = demo[0]
    assert CrsAssessment.objects.filter(subject__site=site).count() == 53
    episodes = CrsEpisode.objects.filter(subject__site=site, superseded=False)
    assert episodes.values("subject").distinct().count() == 13  # of 21 infused
    assert _max_grades(CrsEpisode) == {1: 5, 2: 5, 3: 3}
    assert set(episodes.values_list("onset_day", flat=True)) == {1, 2, 3}
    grade2 = set(episodes.filter(derived_grade__gte=2).values_list("subject", flat=True))
    treated = set(
        ConcomitantMedication.objects.filter(subject__site=site, category="tocilizumab").values_list(
            "subject", flat=True
        )
    )
    assert grade2 == treated
    assert IcansAssessment.objects.filter(subject__site=site).count() == 17
    assert _max_grades(IcansEpisode) == {1: 3, 2: 1, 3: 1}
    worst = IcansAssessment.objects.filter(subject__site=site).order_by("-grade", "pk").first()
    assert (worst.grade, worst.instrument_total, worst.subject.subject_id) == (3, 2, "YD-019")
    system_owned = AdverseEvent.objects.filter(subject__site=site).filter(
        Q(crs_episode__isnull=False) | Q(icans_episode__isnull=False)
    )
    assert system_owned.count() == 18


@pytest.mark.req("ISSUE-10")
def test_dlt_candidates_and_monitor(demo):
    """CLINICAL_SPEC §3.1: one confirmed DLT at DL2 (CRS grade 3 on days 3–6, adjudicated by the
    investigator with a reason), one candidate awaiting adjudication at DL3; the lymphopenia after
    lymphodepletion (grade 3–4; after the infusion, not back within 7 days in 2 subjects) flags nothing. Under 3+3:
    DL1 3/0 and DL2 6/1 escalate; DL3, beyond six evaluable after clearing, continues its
    expansion at 0/10 (0.0%, exact 95% CI 0.0–30.8%), pending, and is the recommended dose."""
    site = demo[0]
    live = DltCandidate.objects.filter(subject__site=site, withdrawn=False).order_by("subject__subject_id")
    rows = [(c.subject.subject_id, c.subject.dose_level, c.criterion, c.onset_day, c.status) for c in live]
    assert rows == [
        ("YD-006", "DL2", "crs", 3, "confirmed"),
        ("YD-021", "DL3", "other_ae", 6, "awaiting"),
    ]
    confirmed, awaiting = live
    assert confirmed.adjudicated_by.username == "investigator"
    assert confirmed.adjudication_reason.startswith("CRS grade 3 needing norepinephrine on days 3–6")
    assert awaiting.adverse_event.ctcae_term == "Alanine aminotransferase increased"
    lymphopenia = AdverseEvent.objects.filter(subject__site=site, ctcae_term="Lymphocyte count decreased")
    lasting = lymphopenia.filter(grade__gte=3, onset_study_day__gte=0).filter(
        Q(resolution_study_day__isnull=True) | Q(resolution_study_day__gt=F("onset_study_day") + 7)
    )
    assert (lymphopenia.count(), lasting.count()) == (39, 2)
    assert not DltCandidate.objects.filter(adverse_event__ctcae_term="Lymphocyte count decreased").exists()
    monitor = [
        (r.code, r.enrolled, r.infused, r.evaluable, r.in_window, r.to_replace, r.awaiting, r.confirmed)
        for r in dose_level_monitor(site.study, today=TODAY)
    ]
    decisions = [(r.code, r.decision.value, r.result.pending) for r in dose_level_monitor(site.study, today=TODAY)]
    assert monitor == [
        ("DL1", 3, 3, 3, 0, 0, 0, 0),
        ("DL2", 7, 6, 6, 0, 0, 0, 1),
        ("DL3", 12, 12, 10, 2, 0, 1, 0),
    ]
    assert decisions == [("DL1", "escalate", False), ("DL2", "escalate", False), ("DL3", "expansion_continue", True)]
    rows = dose_level_monitor(site.study, today=TODAY)
    assert [(r.code, r.rate_text, r.recommended) for r in rows] == [
        ("DL1", "0.0% (0.0–70.8%)", False),
        ("DL2", "16.7% (0.4–64.1%)", False),
        ("DL3", "0.0% (0.0–30.8%)", True),
    ]
    assert [reason.value for reason in enrolment_acknowledgement(site.study, "DL3", today=TODAY)] == [
        "awaiting_adjudication"
    ]


@pytest.mark.req("ISSUE-10")
def test_adverse_events_saes_and_alerts(demo):
    """Cytopenias and anaemia from the recorded counts, other CTCAE AEs, two SAEs (one reported to the sponsor,
    one awaiting its report: the 24-hour clock runs), and the alerts raised, all to reserved
    example addresses (nothing real is mailed from the demo)."""
    site = demo[0]
    aes = AdverseEvent.objects.filter(subject__site=site)
    assert aes.count() == 162
    terms = Counter(aes.filter(crs_episode__isnull=True, icans_episode__isnull=True).values_list("ctcae_term", "grade"))
    assert terms[("Neutrophil count decreased", 4)] == 21
    assert terms[("Platelet count decreased", 4)] == 21
    assert terms[("Anemia", 2)] == 9 and terms[("Anemia", 3)] == 5  # one dip to the day-7 nadir (3 split at day 0)
    assert terms[("Febrile neutropenia", 3)] == 2
    assert terms[("Alanine aminotransferase increased", 3)] == 1
    assert terms[("Hypokalemia", 2)] + terms[("Hypokalemia", 3)] == 4
    reports = SaeReport.objects.filter(adverse_event__subject__site=site).order_by("adverse_event__onset_date")
    assert [
        (r.adverse_event.subject.subject_id, r.adverse_event.ctcae_term, r.reported_at is not None) for r in reports
    ] == [("YD-020", "Lung infection", True), ("YD-022", "Febrile neutropenia", False)]
    assert aes.filter(serious=True).count() == 2
    alerts = SafetyAlert.objects.filter(site=site)
    assert Counter(alerts.values_list("kind", flat=True)) == {"crs_g3": 3, "sae": 2, "icans_g3": 1, "dlt": 1}
    emails = set(AlertDelivery.objects.filter(alert__site=site, channel="email").values_list("recipient", flat=True))
    assert emails == {"investigator@example.org", "drug-safety@sponsor.example"}


@pytest.mark.req("ISSUE-10")
def test_toxicities_beyond_crs(demo):
    """CLINICAL_SPEC §4: ICAHT derived from the ANC values (grade 3 for the prolonged neutropenia),
    one acute GvHD after a donor-derived product (MAGIC grade II at worst), one mild IEC-HS,
    infections with organism, site and CTCAE grade, hospital and ICU stays."""
    site = demo[0]
    icaht = IcahtDerivation.objects.filter(subject__site=site)
    assert Counter(icaht.values_list("early_grade", flat=True)) == {1: 12, 2: 8, 3: 1}
    worst = icaht.get(early_grade=3)
    assert (worst.subject.subject_id, worst.early_run_first_day, worst.early_run_last_day) == ("YD-010", 1, 27)
    stagings = GvhdStaging.objects.filter(subject__site=site).order_by("assessment_date")
    assert [(s.subject.subject_id, s.study_day, s.overall_grade) for s in stagings] == [
        ("YD-020", 18, 1),
        ("YD-020", 24, 2),
        ("YD-020", 35, 1),
    ]
    assert Infusion.objects.get(subject=stagings[0].subject).source == "donor"
    assert list(IecHsAssessment.objects.filter(subject__site=site).values_list("grade", flat=True)) == [1]
    infections = Infection.objects.filter(subject__site=site).order_by("subject__subject_id")
    assert [(i.organism, i.infection_site, i.ctcae_term, i.grade) for i in infections] == [
        ("Rhinovirus", "upper_respiratory", "Upper respiratory infection", 2),
        ("Cytomegalovirus", "blood", "Infections and infestations - Other, specify", 2),
        ("Klebsiella pneumoniae", "lung", "Lung infection", 3),
    ]
    stays = HospitalStay.objects.filter(subject__site=site)
    assert Counter(stays.values_list("kind", flat=True)) == {"icu": 2, "hospital": 2}
    assert stays.filter(discharge_date__isnull=True).count() == 1  # YD-022, still in hospital


@pytest.mark.req("ISSUE-10")
def test_every_count_of_grade_3_or_more_is_covered_by_its_ae(demo):
    """CLINICAL_SPEC §3 "Lab-derived grades": the demo reports an AE for each run of blood counts
    graded ≥ 2 from the day −1 count on (anaemia included), so the lab rule LB-GRADE-GE3-NO-AE
    raises no query on the demo; a run that starts before the infusion is not related to it."""
    site = demo[0]
    lab_queries = Query.objects.filter(subject__site=site, rule_code="LB-GRADE-GE3-NO-AE")
    assert not lab_queries.exclude(status__in=(QueryStatus.CLOSED, QueryStatus.CANCELLED)).exists()
    counts = AdverseEvent.objects.filter(
        subject__site=site,
        ctcae_term__in=(
            "Anemia",
            "Lymphocyte count decreased",
            "Neutrophil count decreased",
            "Platelet count decreased",
        ),
    )
    assert counts.filter(ctcae_term="Anemia").exists()
    assert set(counts.filter(onset_study_day__lt=0).values_list("relationship_car_t", flat=True)) == {"unrelated"}
    # a count worse after the infusion than before it ends the lymphodepletion's AE and begins a
    # treatment-emergent one (the TEAE tables count AEs by their onset after the infusion)
    split = AdverseEvent.objects.filter(subject__subject_id="YD-006", ctcae_term="Lymphocyte count decreased")
    assert list(split.order_by("onset_date").values_list("grade", "onset_study_day", "resolution_study_day")) == [
        (3, -1, 3),
        (4, 3, 7),
    ]
