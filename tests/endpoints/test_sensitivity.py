"""The sensitivity analysis "re-derive under the settings in force at the cut-off" (issue 30
item 4, DESIGN §4): a response stored under an older settings version is used as stored by the
main tables and re-derived under the cut-off's version by the sensitivity tables, which are
stored beside the main ones and marked as such on the page, in the files and in the API."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from crf.services import save
from endpoints import services
from endpoints.models import RunStatus
from response.models import MarrowAssessment
from study.protocol import publish_settings
from tests.conftest import PASSWORD
from tests.endpoints.conftest import CUTOFF, day, make_world
from tests.endpoints.test_tables import find, nd

pytestmark = [pytest.mark.req("ISSUE-30"), pytest.mark.req("DESIGN-4")]


def marrow(world, subject, on, *, blasts, anc, plt, pb="0"):
    return save(
        user=world.coordinator,
        instance=MarrowAssessment(
            subject=subject,
            assessment_date=on,
            marrow_blasts_pct=Decimal(blasts),
            peripheral_blasts_pct=Decimal(pb),
            anc=Decimal(anc),
            platelets=Decimal(plt),
        ),
        expected_version=None,
    )


@pytest.fixture
def amended(transactional_db):
    return amended_run("sens30")


def amended_run(code: str):
    """A subject whose day-28 marrow (ANC 1.0 and platelets 100 exactly) was derived CR under
    version 1 (counts "≥", CLINICAL_SPEC §5.1 default); version 2, effective on day 60 — after
    that marrow and before the cut-off — counts with ">" (ELN), under which it is CRi."""
    world = make_world(code)
    subject = world.infused()
    marrow(world, subject, day(-8), blasts="60", anc="0.3", plt="20", pb="10")  # baseline, before LD
    d28 = marrow(world, subject, day(28), blasts="3", anc="1.0", plt="100")
    assert (d28.response, d28.settings_version) == ("CR", 1)
    publish_settings(
        actor=world.admin, study=world.study, effective_from=day(60), values={"count_operator": ">"}, reason="ELN"
    )
    d28.refresh_from_db()
    assert (d28.response, d28.settings_version) == ("CR", 1)  # dated before version 2: not re-derived
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF, rederive_at_cutoff=True)
    run = services.compute_run(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return world, run


def test_a_response_stored_under_an_older_version_is_rederived_in_the_sensitivity_tables(amended):
    _world, run = amended
    document = json.loads(run.results_json)
    main = {t["key"]: t for t in document["tables"]}
    part = document["sensitivity"]
    sensitivity = {t["key"]: t for t in part["tables"]}
    assert (run.settings_version, run.sensitivity_settings_version) == (2, 2)
    assert (part["analysis"], part["settings_version"], part["effective_from"]) == ("sensitivity", 2, "2026-05-19")
    assert run.input_settings_versions["marrow_assessments"] == {"1": 2}  # the main run: as stored
    assert part["rederived"]["marrow_assessments"] == {"rows": 2, "changed": 1}

    day28 = main["day28_response"]["rows"]
    assert nd(find(day28, category="cr_mrd_positive_or_unknown")) == (1, 1, "100.0", "2.5", "100.0")
    assert nd(find(day28, category="cri_mrd_positive_or_unknown")) == (0, 1, "0.0", "0.0", "97.5")
    day28 = sensitivity["day28_response"]["rows"]
    assert nd(find(day28, category="cr_mrd_positive_or_unknown")) == (0, 1, "0.0", "0.0", "97.5")
    assert nd(find(day28, category="cri_mrd_positive_or_unknown")) == (1, 1, "100.0", "2.5", "100.0")
    assert find(sensitivity["marrow_response"]["rows"], category="orr", detail="day_28")["n"] == 1  # CRi responds
    assert [t["key"] for t in part["tables"]] == [t["key"] for t in document["tables"]]
    assert {t["analysis"] for t in part["tables"]} == {"sensitivity"}
    assert all("analysis" not in t for t in document["tables"])


def test_a_run_without_the_option_has_no_sensitivity_part(transactional_db):
    world = make_world("sens30b")
    world.infused()
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    run = services.compute_run(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert "sensitivity" not in json.loads(run.results_json)
    assert (run.rederive_at_cutoff, run.sensitivity_settings_version) == (False, None)
    assert "# sensitivity" not in run.results_csv  # (the §5.3 HSCT table is "hsct_sensitivity")


def test_the_sensitivity_tables_are_marked_in_the_files(amended):
    _world, run = amended
    titles = [row[0] for row in csv.reader(io.StringIO(run.results_csv)) if len(row) == 1]
    marked = [title for title in titles if title.startswith("# sensitivity")]
    assert len(marked) == len(titles) // 2 == len(json.loads(run.results_json)["tables"])
    assert marked[0] == (
        "# sensitivity (re-derived under the settings in force at the cut-off): disposition: "
        "Subject disposition (population: screened)"
    )
    book = load_workbook(io.BytesIO(bytes(run.results_xlsx)))
    assert "day28_response" in book.sheetnames and "S day28_response" in book.sheetnames
    sheet = book["S day28_response"]
    assert str(sheet["A1"].value).startswith("sensitivity (re-derived under the settings in force at the cut-off): ")


def test_the_run_page_and_the_api_show_the_sensitivity_analysis(amended, client, api_token):
    world, run = amended
    signed_in = client.post("/accounts/login/", {"username": world.statistician.username, "password": PASSWORD})
    assert signed_in.status_code == 302
    html = client.get(f"/endpoints/{run.pk}/").content.decode()
    assert "Requested: re-derived under settings version 2, in force at the cut-off." in html
    assert 'id="sensitivity"' in html and 'data-analysis="sensitivity"' in html
    assert "Marrow assessments: 1 of 2 rows re-derived to another value" in html
    assert f"/endpoints/{run.pk}/tables/day28_response.csv?analysis=sensitivity" in html

    found = client.get(f"/endpoints/{run.pk}/tables/day28_response.csv?analysis=sensitivity").content.decode()
    assert found.startswith("# sensitivity (re-derived under the settings in force at the cut-off): day28_response")

    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(world.statistician)}"}
    api = client.get(f"/api/v1/endpoint-runs/{run.pk}/", **auth)
    assert (api.json()["rederive_at_cutoff"], api.json()["sensitivity_settings_version"]) == (True, 2)
    table = client.get(f"/api/v1/endpoint-runs/{run.pk}/tables/day28_response/?analysis=sensitivity", **auth).json()
    assert table["analysis"] == "sensitivity"
    assert find(table["rows"], category="cri_mrd_positive_or_unknown")["n"] == 1
    bad = client.get(f"/api/v1/endpoint-runs/{run.pk}/tables/day28_response/?analysis=other", **auth)
    assert (bad.status_code, bad.json()) == (400, {"analysis": ["Choose main or sensitivity."]})
    results = client.get(f"/api/v1/endpoint-runs/{run.pk}/results/", **auth).json()
    assert results["sensitivity"]["settings_version"] == 2


def test_the_api_requests_a_run_with_the_sensitivity_analysis(transactional_db, client, api_token):
    world = make_world("sens30c")
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(world.statistician)}"}
    answer = client.post(
        "/api/v1/endpoint-runs/",
        {"study": "sens30c", "cutoff_date": CUTOFF.isoformat(), "rederive_at_cutoff": True},
        content_type="application/json",
        **auth,
    )
    assert answer.status_code == 202, answer.content
    assert answer.json()["rederive_at_cutoff"] is True
    bad = client.post(
        "/api/v1/endpoint-runs/",
        {"study": "sens30c", "cutoff_date": CUTOFF.isoformat(), "rederive_at_cutoff": "perhaps"},
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 400 and "rederive_at_cutoff" in bad.json()
