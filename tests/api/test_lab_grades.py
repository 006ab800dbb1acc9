"""Lab-derived CTCAE grades through the API (CLINICAL_SPEC §3 "Lab-derived grades"; issue 27
§5): each lab result of neutrophils, platelets, haemoglobin and lymphocytes carries the grade it
proposes, `ctcae_grade`, computed with the range in force, at the boundaries the spec holds."""

from __future__ import annotations

from datetime import date

import pytest

from tests.api.conftest import send, token_client

pytestmark = [pytest.mark.req("CLINICAL_SPEC-3"), pytest.mark.req("ISSUE-27")]

DRAWN = date(2026, 3, 16)


@pytest.fixture
def post_result(subject_at, coordinator, site_a):
    subject = subject_at("infused", user=coordinator, site=site_a)
    client = token_client(coordinator)
    times = iter(f"{h:02d}:00" for h in range(24))

    def _post(analyte: str, value: str, unit: str, *, lln: str | None = None, uln: str | None = None) -> dict:
        body = {
            "subject": subject.pk,
            "collected_on": DRAWN.isoformat(),
            "collected_time": next(times),  # one result per analyte and collection time
            "panel": "CBC",
            "analyte": analyte,
            "value": value,
            "unit": unit,
        }
        if lln is not None:
            body["lln"] = lln
        if uln is not None:
            body["uln"] = uln
        response = send(client, "POST", "/api/v1/lab-results/", body)
        assert response.status_code == 201, response.content[:500]
        fetched = send(client, "GET", f"/api/v1/lab-results/{response.json()['id']}/").json()
        assert fetched["ctcae_grade"] == response.json()["ctcae_grade"]
        return fetched

    return _post


@pytest.mark.parametrize(
    ("value", "grade"),
    [("1.0", 2), ("0.99", 3), ("0.5", 3), ("0.49", 4), ("1.49", 2), ("1.5", 1), ("2.0", 0)],
)
def test_neutrophil_boundaries(post_result, value, grade):
    result = post_result("ANC", value, "10^9/L", lln="1.8", uln="6.3")
    assert (result["ctcae_term"], result["ctcae_grade"]) == ("Neutrophil count decreased", grade)


@pytest.mark.parametrize(
    ("value", "lln", "grade"),
    [("75", "125", 1), ("75", "75", 0), ("74.9", "125", 2), ("50", "125", 2), ("25", "125", 3), ("24.9", "125", 4)],
)
def test_platelet_boundaries(post_result, value, lln, grade):
    result = post_result("PLT", value, "10^9/L", lln=lln, uln="350")
    assert (result["ctcae_term"], result["ctcae_grade"]) == ("Platelet count decreased", grade)


@pytest.mark.parametrize(
    ("value", "unit", "lln", "grade"),
    [
        ("80", "g/L", "130", 2),
        ("8.0", "g/dL", "13.0", 2),
        ("79", "g/L", "130", 3),
        ("7.9", "g/dL", "13.0", 3),
        ("100", "g/L", "130", 1),
        ("10.0", "g/dL", "13.0", 1),
        ("99", "g/L", "130", 2),
    ],
)
def test_haemoglobin_in_g_l_and_g_dl_gives_the_same_grade(post_result, value, unit, lln, grade):
    result = post_result("HGB", value, unit, lln=lln, uln="175" if unit == "g/L" else "17.5")
    assert (result["ctcae_term"], result["ctcae_grade"]) == ("Anemia", grade)


def test_lymphocytes_and_ungraded_analytes(post_result):
    lymphocytes = post_result("ALC", "0.19", "10^9/L", lln="1.1", uln="3.2")
    assert (lymphocytes["ctcae_term"], lymphocytes["ctcae_grade"]) == ("Lymphocyte count decreased", 4)
    wbc = post_result("WBC", "0.5", "10^9/L", lln="3.5", uln="9.5")
    assert (wbc["ctcae_term"], wbc["ctcae_grade"]) == ("", None)


def test_grade_one_needs_a_range_in_force(post_result):
    """Above the absolute grade-2 floor, only the LLN tells grade 1 from normal: with no range on
    the report and none in the site's table, no grade is proposed."""
    no_range = post_result("ANC", "1.6", "10^9/L")
    assert no_range["ctcae_grade"] is None
    absolute = post_result("ANC", "0.4", "10^9/L")
    assert absolute["ctcae_grade"] == 4


def test_the_grade_is_read_only(post_result, coordinator):
    result = post_result("ANC", "0.4", "10^9/L", lln="1.8", uln="6.3")
    client = token_client(coordinator)
    url = f"/api/v1/lab-results/{result['id']}/"
    etag = send(client, "GET", url)["ETag"]
    send(client, "PATCH", url, {"ctcae_grade": 0}, **{"If-Match": etag})
    assert send(client, "GET", url).json()["ctcae_grade"] == 4
