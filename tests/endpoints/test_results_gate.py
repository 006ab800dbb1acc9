"""Per-subject rows of endpoint-run results go through the visibility gate (DESIGN §4a notes,
issue 21): a statistician with a role only at site 02 sees site-02 rows of the DLT candidate
listing, never site-01 subject IDs — on the page, in the API and in every download."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest
from django.test import Client

from endpoints.tables_toxicity import CANDIDATE_COLUMNS
from tests.conftest import make_user
from tests.endpoints.test_dashboards import make_run

pytestmark = pytest.mark.req("ISSUE-21")

TABLES = [
    {
        "key": "dlt_candidates",
        "title": "DLT candidates and their adjudication",
        "population": "infused",
        "columns": CANDIDATE_COLUMNS,
        "rows": [
            {"subject": "A-001", "dose_level": "DL1", "criterion": "grade3_aes", "onset_day": 5,
             "status": "pending", "evaluability": "evaluable"},
            {"subject": "B-001", "dose_level": "DL2", "criterion": "grade3_aes", "onset_day": 9,
             "status": "pending", "evaluability": "evaluable"},
        ],
    },
]  # fmt: skip


@pytest.fixture
def run(study, subject_a, subject_b):
    return make_run(study, tables=TABLES)


@pytest.fixture
def statistician_b(site_b, login):
    return make_user("statistician_b", site=site_b, role="statistician")


def _signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    from tests.conftest import PASSWORD

    client = Client()
    assert client.post("/accounts/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
    return client


def test_page_and_downloads_hold_only_visible_subjects(run, statistician_b):
    client = _signed_in(statistician_b)
    page = client.get(f"/endpoints/{run.pk}/").content.decode()
    assert "B-001" in page and "A-001" not in page
    whole = json.loads(client.get(f"/endpoints/{run.pk}/tables.json").content)
    assert [r["subject"] for r in whole["tables"][0]["rows"]] == ["B-001"]
    for path in (f"/endpoints/{run.pk}/tables.csv", f"/endpoints/{run.pk}/tables/dlt_candidates.csv"):
        body = client.get(path).content.decode()
        assert "B-001" in body and "A-001" not in body, path
    for path in (f"/endpoints/{run.pk}/tables.xlsx", f"/endpoints/{run.pk}/tables/dlt_candidates.xlsx"):
        book = openpyxl.load_workbook(io.BytesIO(client.get(path).content))
        cells = {str(c.value) for sheet in book for row in sheet.iter_rows() for c in row}
        assert "B-001" in cells and "A-001" not in cells, path


def test_api_results_and_table_hold_only_visible_subjects(run, statistician_b, api_token):
    token = api_token(statistician_b)
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    results = api.get(f"/api/v1/endpoint-runs/{run.pk}/results/")
    assert results.status_code == 200
    assert [r["subject"] for r in results.json()["tables"][0]["rows"]] == ["B-001"]
    table = api.get(f"/api/v1/endpoint-runs/{run.pk}/tables/dlt_candidates/")
    assert [r["subject"] for r in table.json()["rows"]] == ["B-001"]
    csv = api.get(f"/api/v1/endpoint-runs/{run.pk}/tables/dlt_candidates/?file_format=csv").content.decode()
    assert "B-001" in csv and "A-001" not in csv


def test_a_viewer_at_every_site_sees_every_row(run, site_a, site_b):
    from django.utils import timezone

    from study.models import Membership

    both = make_user("statistician_ab", site=site_a, role="statistician")
    Membership.objects.create(user=both, site=site_b, role="statistician", granted_at=timezone.now())
    client = _signed_in(both)
    whole = json.loads(client.get(f"/endpoints/{run.pk}/tables.json").content)
    assert [r["subject"] for r in whole["tables"][0]["rows"]] == ["A-001", "B-001"]
