"""Issue 8 "Done when": every CRS, ICANS and CTCAE worked example of CLINICAL_SPEC §8 passes
through the API as well as the pages — a test enters the inputs as a client would (JSON with a
knox token) and reads back the stored grade. The example tables are the page tests' own."""

from __future__ import annotations

from datetime import date

import pytest

from adverse_events.models import AdverseEvent
from tests.adverse_events.conftest import day
from tests.adverse_events.test_crs import SINGLE_DAY
from tests.adverse_events.test_icans import ADULT, CHILD
from tests.api.conftest import send, token_client

pytestmark = pytest.mark.req("ISSUE-8")

CRS_DEFAULTS = {
    "tmax_c": "37.0",
    "hypotension_fluid_responsive": None,  # the page's "unknown"
    "hypotension_attributable_to_crs": True,
    "oxygen_device": "room_air",
    "hypoxia_attributable_to_crs": True,
}
ICANS_DEFAULTS = {
    "encephalopathy_state": "scored",
    "language": "zh",
    "consciousness": "alert",
    "seizure": "none",
    "motor": "none",
    "raised_icp": "none",
}


def as_json(values: dict[str, object]) -> dict[str, object]:
    """The page tests' posted values as a JSON client sends them: the yes/no/unknown select is a
    nullable boolean in the API."""
    tri = {"true": True, "false": False, "unknown": None}
    return {k: tri[v] if k == "hypotension_fluid_responsive" else v for k, v in values.items()}  # type: ignore[index]


def post_and_read(client, resource: str, body: dict[str, object]) -> dict[str, object]:
    created = send(client, "POST", f"/api/v1/{resource}/", body)
    assert created.status_code == 201, created.content.decode()[:2000]
    read = send(client, "GET", f"/api/v1/{resource}/{created.json()['id']}/")
    assert read.status_code == 200
    return read.json()


@pytest.mark.parametrize(("example", "values", "grade"), SINGLE_DAY, ids=[row[0] for row in SINGLE_DAY])
def test_crs_single_day_examples_through_the_api(infused, coordinator, example, values, grade):
    subject = infused()
    body = {"subject": subject.pk, "assessment_date": day(1).isoformat(), **CRS_DEFAULTS, **as_json(values)}
    stored = post_and_read(token_client(coordinator), "crs-assessments", body)
    assert (stored["grade"], stored["criteria"]) == (grade, "ASTCT-2019")


def test_crs_course_through_the_api(infused, coordinator):
    """§8 course: daily grades 1, 2, 0 → one episode, onset day 1, duration 2, grade 2; day 6
    T 38.2 → a second episode."""
    subject = infused()
    client = token_client(coordinator)
    days = [
        (1, {"tmax_c": "38.6"}),
        (2, {"tmax_c": "38.3", "oxygen_device": "nasal_cannula", "oxygen_flow_l_min": "3"}),
        (3, {"tmax_c": "36.9"}),
        (6, {"tmax_c": "38.2"}),
    ]
    grades = [
        post_and_read(
            client,
            "crs-assessments",
            {"subject": subject.pk, "assessment_date": day(n).isoformat(), **CRS_DEFAULTS, **values},
        )["grade"]
        for n, values in days
    ]
    assert grades == [1, 2, 0, 1]
    episodes = send(client, "GET", f"/api/v1/crs-episodes/?subject={subject.pk}").json()["results"]
    rows = sorted((e["number"], e["onset_day"], e["duration_days"], e["derived_grade"]) for e in episodes)
    assert rows == [(1, 1, 2, 2), (2, 6, 1, 1)]


@pytest.mark.parametrize(("example", "values", "grade"), ADULT, ids=[row[0] for row in ADULT])
def test_icans_adult_examples_through_the_api(infused, coordinator, example, values, grade):
    subject = infused()
    body = {"subject": subject.pk, "assessment_date": day(2).isoformat(), **ICANS_DEFAULTS, **values}
    assert post_and_read(token_client(coordinator), "icans-assessments", body)["grade"] == grade


@pytest.mark.parametrize(("example", "values", "grade", "total"), CHILD, ids=[row[0] for row in CHILD])
def test_icans_child_examples_through_the_api(infused, coordinator, example, values, grade, total):
    """§8: child 7 years, CAPD by age."""
    subject = infused(born=date(2019, 1, 1))
    body = {"subject": subject.pk, "assessment_date": day(2).isoformat(), **ICANS_DEFAULTS, **values}
    stored = post_and_read(token_client(coordinator), "icans-assessments", body)
    assert (stored["instrument_used"], stored["instrument_total"], stored["grade"]) == ("capd", total, grade)


@pytest.mark.parametrize(
    ("term", "grade", "field"),
    [
        ("Tumor lysis syndrome", 1, "grade"),
        ("Neutrophil count decreased", 5, "grade"),
        ("Febrile neutropenia", 2, "grade"),
        ("Nervous system disorders - Other, specify", 2, "verbatim"),
        ("Headache pain", 2, "ctcae_term"),
    ],
)
def test_ctcae_refusals_through_the_api(infused, coordinator, term, grade, field):
    """§3 worked cases: a grade that does not exist for the term is a 400 on that field; nothing saved."""
    subject = infused()
    body = {
        "subject": subject.pk,
        "ctcae_term": term,
        "grade": grade,
        "onset_date": day(3).isoformat(),
        "relationship_car_t": "possible",
        "relationship_lymphodepletion": "unlikely",
        "outcome": "recovering",
    }
    refused = send(token_client(coordinator), "POST", "/api/v1/adverse-events/", body)
    assert refused.status_code == 400
    assert field in refused.json()
    assert not AdverseEvent.objects.filter(subject=subject).exists()
