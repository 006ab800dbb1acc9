"""Marrow assessments and MRD tests entered through the REST API (DESIGN §6; issue 9 item 6):
the response is derived by the same save path as the form page and read back from the API,
for every response worked example of CLINICAL_SPEC §8 — per assessment, and over a course
(day-28 response with the day-30/day-33 window cases, best response, DOR 46 days, and the
response window closed by an HSCT) with the subsequent therapy and relapse also entered
through the API."""

from __future__ import annotations

from datetime import date

import pytest

from clinical import response as rules
from subjects.models import Subject
from survival.selectors import subject_course, time_to_event
from tests.api.conftest import send, token_client
from tests.response.conftest import day

pytestmark = [pytest.mark.req("ISSUE-9"), pytest.mark.req("CLINICAL_SPEC-8")]


def post(client, resource: str, body: dict[str, object]) -> dict[str, object]:
    response = send(client, "POST", f"/api/v1/{resource}/", body)
    assert response.status_code == 201, response.content[:1500]
    return response.json()


def enter_marrow(client, subject: Subject, n: int, *, blasts="3", pb="0", anc="1.2", plt="120") -> int:
    body = {
        "subject": subject.pk,
        "assessment_date": day(n).isoformat(),
        "marrow_blasts_pct": blasts,
        "peripheral_blasts_pct": pb,
        "anc": anc,
        "platelets": plt,
        "transfused_previous_7_days": False,
        "cns_status": "CNS1",
    }
    return int(post(client, "marrow-assessments", body)["id"])  # type: ignore[arg-type]


def enter_flow(client, subject: Subject, assessment: int, n: int, *, detected=False, level=None, sens="1E-5", cells):
    body = {
        "subject": subject.pk,
        "assessment": assessment,
        "sample_date": day(n).isoformat(),
        "method": "flow",
        "specimen": "marrow",
        "detected": detected,
        "sensitivity": sens,
        "cells_analysed": cells,
        "cd7_independent_gating": True,
    }
    if level is not None:
        body["level_pct"] = level
    return post(client, "mrd-tests", body)


def read(client, pk: int) -> dict[str, object]:
    response = send(client, "GET", f"/api/v1/marrow-assessments/{pk}/")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def api(coordinator):
    return token_client(coordinator)


def test_marrow_assessment_entered_through_the_api_reads_back_its_derived_response(infused, api):
    subject = infused()
    pk = enter_marrow(api, subject, 28, blasts="3", anc="1.2", plt="120")
    body = read(api, pk)
    assert (body["response"], body["mrd_status"], body["needs_adjudication"]) == ("CR", "", False)
    assert (body["settings_version"], body["criteria_version"], body["is_baseline"]) == (1, "CLINICAL_SPEC-5-v1", False)
    test = enter_flow(api, subject, pk, 28, sens="1E-5", cells=4_000_000)
    assert test["status"] == "negative"
    body = read(api, pk)
    assert (body["response"], body["mrd_status"], body["response_label"]) == ("CR", "negative", "CR MRD−")


@pytest.mark.parametrize(
    ("values", "mrd", "label", "flagged"),
    [
        ({"blasts": "2", "anc": "1.5", "plt": "150"}, {"sens": "1E-3", "cells": 20_000}, "CR, MRD unknown", False),
        (
            {"blasts": "3", "anc": "0.6", "plt": "40"},
            {"detected": True, "level": "0.005", "sens": "1E-5", "cells": 1_000_000},
            "CRi MRD−",
            False,
        ),
        ({}, {"detected": True, "level": "0.01", "cells": 1_000_000}, "CR MRD+", False),
        ({"anc": "1.0", "plt": "100"}, None, "CR, MRD unknown", True),
        ({"blasts": "5"}, None, "PR", True),
    ],
    ids=["CR MRD not evaluable", "CRi MRD- below the cut-off", "MRD 0.01% is MRD+", "counts exactly", "blasts 5%"],
)
def test_per_assessment_worked_examples_through_the_api(infused, api, values, mrd, label, flagged):
    subject = infused()  # baseline marrow blasts 60%, blood 10%
    pk = enter_marrow(api, subject, 28, **values)
    if mrd is not None:
        enter_flow(api, subject, pk, 28, **mrd)
    body = read(api, pk)
    assert (body["response_label"], body["needs_adjudication"]) == (label, flagged)


def test_day28_response_window_cases_through_the_api(infused, api):
    on_day_30 = infused()
    pk = enter_marrow(api, on_day_30, 30)
    enter_flow(api, on_day_30, pk, 30, cells=4_000_000)
    first_on_33 = infused()
    enter_marrow(api, first_on_33, 33)
    cutoff = day(400)
    assert time_to_event(on_day_30, cutoff=cutoff).day28_response.label == "CR MRD−"
    assert time_to_event(first_on_33, cutoff=cutoff).day28_response.label == "not assessed"


def test_best_response_and_dor_46_days_through_the_api(infused, api):
    """CRi MRD+ day 14, CR MRD− day 28, relapse day 60 → best response CR MRD−, DOR 46 days
    (§5.3: later − earlier, from the first CR/CRi on day 14)."""
    subject = infused()
    d14 = enter_marrow(api, subject, 14, anc="0.5", plt="50")
    enter_flow(api, subject, d14, 14, detected=True, level="0.5", cells=1_000_000)
    d28 = enter_marrow(api, subject, 28)
    enter_flow(api, subject, d28, 28, cells=4_000_000)
    d60 = enter_marrow(api, subject, 60, blasts="30", pb="2")
    assert [read(api, pk)["response_label"] for pk in (d14, d28, d60)] == ["CRi MRD+", "CR MRD−", "relapse"]
    post(
        api,
        "relapses",
        {
            "subject": subject.pk,
            "relapse_date": day(60).isoformat(),
            "site_marrow": True,
            "blast_cd7_status": "negative",
        },
    )
    records = time_to_event(subject, cutoff=day(400))
    assert (records.dor.days, records.dor.event) == (46, True)
    course = subject_course(subject)
    best = rules.best_overall_response(course.responses, infusion_date=day(0), horizon_day=365, window_after_days=7)
    assert best.label == "CR MRD−"


def test_hsct_closes_the_best_response_window_through_the_api(infused, api):
    """CRi day 28, HSCT day 40, CR day 100 → best response CRi (§5.3)."""
    subject = infused()
    enter_marrow(api, subject, 28, anc="0.6", plt="40")
    post(
        api,
        "subsequent-therapies",
        {
            "subject": subject.pk,
            "therapy_type": "hsct",
            "start_date": day(40).isoformat(),
            "consolidative": True,
            "donor": "haploidentical",
            "conditioning": "Bu/Cy/ATG",
        },
    )
    enter_marrow(api, subject, 100)
    course = subject_course(subject)
    assert course.new_therapy_date == date(2026, 4, 29)
    best = rules.best_overall_response(
        course.responses,
        infusion_date=day(0),
        horizon_day=365,
        window_after_days=7,
        new_therapy_date=course.new_therapy_date,
    )
    assert (best.best.category, best.label, best.excluded_after_new_therapy) == ("CRi", "CRi, MRD unknown", (day(100),))
