"""CLINICAL_SPEC §4.4 (CD7-specific) on the response forms, through the REST API as a
statistician's pipeline or an import would enter them: blast CD7 expression at screening and at
every relapse (a CD7-negative relapse is the known escape, so its CD7 status is required), and a
flow MRD that says whether its gating was CD7-independent (a CD7 CAR-T removes CD7+ cells, so a
CD7-gated MRD can miss CD7-negative blasts). A refusal is a 400 naming the field and saves
nothing."""

from __future__ import annotations

import pytest

from response.models import MarrowAssessment, MrdTest, Relapse
from tests.api.conftest import send, token_client
from tests.response.conftest import day

pytestmark = pytest.mark.req("CLINICAL_SPEC-4.4")


@pytest.fixture
def api(coordinator):
    return token_client(coordinator)


def marrow_body(subject, n: int, **extra: object) -> dict[str, object]:
    return {
        "subject": subject.pk,
        "assessment_date": day(n).isoformat(),
        "marrow_blasts_pct": "3",
        "peripheral_blasts_pct": "0",
        "anc": "1.2",
        "platelets": "120",
        "transfused_previous_7_days": False,
        "cns_status": "CNS1",
        **extra,
    }


def flow_body(subject, assessment: int, n: int, **extra: object) -> dict[str, object]:
    return {
        "subject": subject.pk,
        "assessment": assessment,
        "sample_date": day(n).isoformat(),
        "method": "flow",
        "specimen": "marrow",
        "detected": False,
        "sensitivity": "1E-5",
        "cells_analysed": 2_000_000,
        **extra,
    }


def test_blast_cd7_expression_is_recorded_on_the_marrow_and_read_back(infused, api):
    subject = infused()
    response = send(api, "POST", "/api/v1/marrow-assessments/", marrow_body(subject, 28, blast_cd7_pct="85.5"))
    assert response.status_code == 201, response.content[:800]
    pk = response.json()["id"]
    assert send(api, "GET", f"/api/v1/marrow-assessments/{pk}/").json()["blast_cd7_pct"] == "85.5"


def test_blast_cd7_percentage_over_100_is_refused_and_nothing_saved(infused, api):
    subject = infused()
    before = MarrowAssessment.objects.filter(subject=subject).count()
    response = send(api, "POST", "/api/v1/marrow-assessments/", marrow_body(subject, 28, blast_cd7_pct="100.5"))
    assert response.status_code == 400
    assert "blast_cd7_pct" in response.json()
    assert MarrowAssessment.objects.filter(subject=subject).count() == before


def test_flow_mrd_must_say_whether_gating_was_cd7_independent(infused, api):
    subject = infused()
    marrow = send(api, "POST", "/api/v1/marrow-assessments/", marrow_body(subject, 28)).json()["id"]
    response = send(api, "POST", "/api/v1/mrd-tests/", flow_body(subject, marrow, 28))
    assert response.status_code == 400
    assert "cd7_independent_gating" in response.json()
    assert not MrdTest.objects.filter(assessment_id=marrow).exists()

    saved = send(api, "POST", "/api/v1/mrd-tests/", flow_body(subject, marrow, 28, cd7_independent_gating=False))
    assert saved.status_code == 201, saved.content[:800]
    assert saved.json()["cd7_independent_gating"] is False


def test_a_relapse_needs_the_blasts_cd7_status(infused, api):
    subject = infused()
    body = {"subject": subject.pk, "relapse_date": day(90).isoformat(), "site_marrow": True}
    response = send(api, "POST", "/api/v1/relapses/", body)
    assert response.status_code == 400
    assert "blast_cd7_status" in response.json()
    assert not Relapse.objects.filter(subject=subject).exists()

    escape = send(api, "POST", "/api/v1/relapses/", {**body, "blast_cd7_status": "negative", "blast_cd7_pct": "2"})
    assert escape.status_code == 201, escape.content[:800]
    relapse = Relapse.objects.get(subject=subject)
    assert (relapse.blast_cd7_status, str(relapse.blast_cd7_pct)) == ("negative", "2.0")
