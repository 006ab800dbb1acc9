"""AE log (CLINICAL_SPEC §3): CTCAE v5.0 terms with their MedDRA code and SOC, grades that do not
exist refused with the reason, verbatim for "Other, specify", study days on the Day-0 clock, the
collection period flag, seriousness; the term search of the picker; entry on the form page."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from adverse_events.models import AdverseEvent
from crf.models import Query
from crf.services import save
from tests.adverse_events.conftest import LD_START, day

pytestmark = pytest.mark.req("ISSUE-8")


def ae_values(**values):
    data = {
        "ctcae_term": "Nausea",
        "grade": 1,
        "onset_date": day(3),
        "relationship_car_t": "possible",
        "relationship_lymphodepletion": "unlikely",
        "action": "treatment",
        "outcome": "recovering",
    }
    data.update(values)
    return data


def record_ae(user, subject, **values) -> AdverseEvent:
    return save(user=user, instance=AdverseEvent(subject=subject, **ae_values(**values)), expected_version=None)


@pytest.mark.parametrize(
    ("term", "grade", "field", "words"),
    [
        ("Tumor lysis syndrome", 1, "grade", "Tumor lysis syndrome has no grade 1"),
        ("Tumor lysis syndrome", 2, "grade", "Grades that exist for this term: 3, 4, 5"),
        ("Neutrophil count decreased", 5, "grade", "Neutrophil count decreased has no grade 5"),
        ("Febrile neutropenia", 2, "grade", "Febrile neutropenia has no grade 2"),
        ("Nervous system disorders - Other, specify", 2, "verbatim", "needs the verbatim text"),
        ("Headache pain", 2, "ctcae_term", "is not a CTCAE v5.0 term"),
    ],
)
def test_grades_that_do_not_exist_are_refused_with_the_reason(infused, coordinator, term, grade, field, words):
    """CLINICAL_SPEC §3 worked cases: a "-" cell is no grade; nothing is saved."""
    subject = infused()
    with pytest.raises(ValidationError) as caught:
        record_ae(coordinator, subject, ctcae_term=term, grade=grade)
    assert words in " ".join(caught.value.message_dict[field])
    assert not AdverseEvent.objects.filter(subject=subject).exists()


def test_existing_grade_is_saved_with_code_soc_version_and_study_days(infused, coordinator):
    subject = infused()
    ae = record_ae(
        coordinator, subject, ctcae_term="tumor lysis SYNDROME", grade=3, onset_date=day(2), resolution_date=day(5)
    )
    ae.refresh_from_db()
    assert ae.ctcae_term == "Tumor lysis syndrome"
    assert (ae.meddra_code, ae.soc, ae.ctcae_version) == ("10045152", "Metabolism and nutrition disorders", "5.0")
    assert (ae.onset_study_day, ae.resolution_study_day) == (2, 5)
    assert ae.collection_period == "after_infusion"
    assert ae.grade_scale == "CTCAE v5.0"
    other = record_ae(
        coordinator, subject, ctcae_term="Nervous system disorders - Other, specify", verbatim="Aphasia", grade=2
    )
    assert other.verbatim == "Aphasia"


@pytest.mark.parametrize(
    ("onset", "period", "study_day"),
    [
        (LD_START - date.resolution, "before_ld", -6),
        (LD_START, "during_ld", -5),
        (day(-1), "during_ld", -1),
        (day(0), "after_infusion", 0),
    ],
)
def test_collection_period_flag(infused, coordinator, onset, period, study_day):
    """CLINICAL_SPEC §3: before LD; from the first LD dose to the day before infusion; from day 0."""
    ae = record_ae(coordinator, infused(), onset_date=onset)
    assert (ae.collection_period, ae.onset_study_day) == (period, study_day)


def test_after_day_90_only_serious_related_or_special_interest_ae_without_query(infused, coordinator):
    subject = infused()
    late = record_ae(coordinator, subject, onset_date=day(91), relationship_car_t="unrelated")
    assert Query.objects.filter(object_id=late.pk, rule_code="AE-OUTSIDE-COLLECTION", status="open").exists()
    serious = record_ae(
        coordinator, subject, onset_date=day(120), relationship_car_t="unrelated", serious_hospitalisation=True
    )
    assert serious.serious is True
    assert not Query.objects.filter(object_id=serious.pk, rule_code="AE-OUTSIDE-COLLECTION").exists()
    day_90 = record_ae(coordinator, subject, onset_date=day(90), relationship_car_t="unrelated")
    assert not Query.objects.filter(object_id=day_90.pk, rule_code="AE-OUTSIDE-COLLECTION").exists()


def test_resolution_before_onset_and_grade_5_not_fatal_are_refused(infused, coordinator):
    subject = infused()
    with pytest.raises(ValidationError) as caught:
        record_ae(coordinator, subject, onset_date=day(4), resolution_date=day(3))
    assert "resolution_date" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        record_ae(coordinator, subject, ctcae_term="Sepsis", grade=5, outcome="recovered")
    assert "fatal" in caught.value.message_dict["outcome"][0]


@pytest.mark.parametrize(
    ("q", "first"),
    [
        ("tumor lysis", "Tumor lysis syndrome"),
        ("10045152", "Tumor lysis syndrome"),
        ("1004515", "Tumor lysis syndrome"),
        ("Neutrophil", "Neutrophil count decreased"),
    ],
)
def test_term_search_by_name_code_or_soc(infused, coordinator, login, q, first):
    infused()
    client = login(coordinator)
    response = client.get("/safety/ctcae-terms/", {"q": q})
    assert response.status_code == 200
    assert response.json()["terms"][0]["term"] == first


def test_term_search_by_soc_and_refused_to_outsiders(infused, coordinator, login, users_a, client):
    infused()
    client = login(coordinator)
    terms = client.get("/safety/ctcae-terms/", {"q": "nervous system disorders"}).json()["terms"]
    assert "Nervous system disorders - Other, specify" in [t["term"] for t in terms]
    assert all(t["soc"] == "Nervous system disorders" for t in terms if "nervous" not in t["term"].casefold())
    client.logout()
    login(users_a["statistician"])
    assert client.get("/safety/ctcae-terms/", {"q": "fever"}).status_code == 404


def test_form_page_refuses_missing_grade_with_reason_and_saves_a_valid_ae(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    page = client.get(f"/subjects/{subject.pk}/forms/AE/new/")
    assert b"data-term-picker" in page.content
    assert b"js/term_picker.js" in page.content
    data = ae_values(ctcae_term="Febrile neutropenia", grade="1", onset_date="2026-03-23")
    response = client.post(f"/subjects/{subject.pk}/forms/AE/new/", data)
    assert response.status_code == 200
    assert "Febrile neutropenia has no grade 1" in response.content.decode()
    assert not AdverseEvent.objects.filter(subject=subject).exists()
    data["grade"] = "3"
    response = client.post(f"/subjects/{subject.pk}/forms/AE/new/", data)
    assert response.status_code == 302
    ae = AdverseEvent.objects.get(subject=subject)
    assert (ae.grade, ae.onset_study_day, ae.meddra_code) == (3, 3, "10016288")


@pytest.mark.req("ISSUE-30")
def test_the_grade_course_is_stored_checked_and_defaults_to_one_entry(infused, coordinator):
    """Each AE carries its dated grade course: an AE entered with one grade gets a one-entry
    course (its grade from its onset); a course of changes sets the grade to its maximum; a
    course not starting on the onset date, out of order, or with a grade the term lacks is
    refused with the reason and nothing is saved."""
    subject = infused()
    single = record_ae(coordinator, subject, ctcae_term="Nausea", grade=2, onset_date=date(2026, 3, 22))
    assert single.grade_course == [{"from": "2026-03-22", "grade": 2}]
    bad = [
        ([{"from": "2026-03-23", "grade": 1}, {"from": "2026-03-25", "grade": 2}], "start on the onset date"),
        ([{"from": "2026-03-22", "grade": 1}, {"from": "2026-03-22", "grade": 2}], "in date order"),
        ([{"from": "2026-03-22", "grade": 1}, {"from": "2026-03-25", "grade": 4}], "Nausea has no grade 4"),
    ]
    for course, words in bad:
        with pytest.raises(ValidationError) as caught:
            record_ae(
                coordinator, subject, ctcae_term="Nausea", grade=1, onset_date=date(2026, 3, 22), grade_course=course
            )
        assert words in " ".join(caught.value.message_dict["grade_course"])
    assert AdverseEvent.objects.filter(subject=subject).count() == 1


@pytest.mark.req("ISSUE-30")
def test_the_ae_form_takes_the_course_of_the_grade(infused, coordinator, login):
    """On the AE form the course is entered one change a line ("date grade"); the grade is then
    its maximum; a line that is not a date and a grade is refused with its line number; editing
    shows the course back as lines."""
    subject = infused()
    client = login(coordinator)
    url = f"/subjects/{subject.pk}/forms/AE/new/"
    data = ae_values(ctcae_term="Hypertension", grade="", onset_date="2026-03-23")
    response = client.post(url, {**data, "grade_course": "2026-03-23 2\n2026-03-27 three"})
    assert response.status_code == 200
    assert "Line 2: give the date (YYYY-MM-DD) and the grade" in response.content.decode()
    response = client.post(url, {**data, "grade_course": "2026-03-23 2\n2026-03-27 3\n2026-04-02 1"})
    assert response.status_code == 302
    ae = AdverseEvent.objects.get(subject=subject)
    assert (ae.grade, ae.grade_course) == (
        3,
        [{"from": "2026-03-23", "grade": 2}, {"from": "2026-03-27", "grade": 3}, {"from": "2026-04-02", "grade": 1}],
    )
    edit = client.get(f"/subjects/{subject.pk}/forms/AE/{ae.pk}/").content.decode()
    assert "2026-03-23 2\n2026-03-27 3\n2026-04-02 1" in edit


@pytest.mark.req("ISSUE-30")
@pytest.mark.parametrize("course", [{"from": "2026-03-22"}, "2026-03-22 2", [{"when": "2026-03-22", "grade": 2}], [3]])
def test_a_course_of_the_wrong_shape_is_a_field_error_not_a_crash(infused, coordinator, course):
    """What the API may send: anything but a list of {"from", "grade"} is refused on the field."""
    subject = infused()
    with pytest.raises(ValidationError) as caught:
        record_ae(coordinator, subject, ctcae_term="Nausea", grade=1, onset_date=date(2026, 3, 22), grade_course=course)
    assert "needs a date (YYYY-MM-DD) and a grade" in " ".join(caught.value.message_dict["grade_course"])
    assert not AdverseEvent.objects.filter(subject=subject).exists()
