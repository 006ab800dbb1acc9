"""The OpenAPI schema validates and lists every resource, with If-Match and the reason header on
updates; the docs page is served from the app (no CDN) under the CSP."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.validation import validate_schema

from crf.api import crf_resources

pytestmark = pytest.mark.req("ISSUE-6")


@pytest.fixture
def schema(client, db):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_schema_validates_without_warnings(tmp_path, db):
    # --fail-on-warn turns any generator warning (an unresolvable field, a duplicate name) into an error
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").stat().st_size > 10_000


#: DESIGN §6's resource names, as it spells them (plural, kebab-case)
DESIGN_RESOURCES = [
    "subjects",
    "visits",
    "eligibility",
    "consents",
    "infusions",
    "lymphodepletions",
    "concomitant-medications",
    "vital-signs",
    "lab-results",
    "adverse-events",
    "crs-assessments",
    "icans-assessments",
    "marrow-assessments",
    "mrd-tests",
    "follow-ups",
    "deaths",
    "subsequent-therapies",
    "dlt-candidates",
    "dlt-monitor",
    "queries",
    "sdv-marks",
    "signatures",
    "locks",
    "audit-events",
    "endpoint-runs",
    "exports",
]


@pytest.mark.req("DESIGN-6")
def test_every_resource_design_names_is_served_under_its_name(schema):
    missing = [name for name in DESIGN_RESOURCES if f"/api/v1/{name}/" not in schema["paths"]]
    assert missing == []
    assert all(re.fullmatch(r"/api/v1/[a-z0-9-]+/.*", path) for path in schema["paths"] if path.startswith("/api/v1/"))


@pytest.mark.req("DESIGN-6")
def test_schema_lists_every_resource(schema):
    validate_schema(schema)
    paths = schema["paths"]
    for resource in ["subjects", "visits", *crf_resources()]:
        assert f"/api/v1/{resource}/" in paths, resource
        assert f"/api/v1/{resource}/{{id}}/" in paths, resource
        patch = paths[f"/api/v1/{resource}/{{id}}/"]["patch"]
        headers = {p["name"]: p for p in patch["parameters"] if p["in"] == "header"}
        assert headers["If-Match"]["required"] is True
        assert "X-Reason-For-Change" in headers
        assert {"200", "400", "403", "404", "412", "428"} <= set(patch["responses"])
        assert "delete" not in paths[f"/api/v1/{resource}/{{id}}/"]
    for resource in crf_resources():
        assert f"/api/v1/{resource}/{{id}}/entered-in-error/" in paths
        listing = paths[f"/api/v1/{resource}/"]["get"]
        assert {"subject", "visit", "entry_status", "date_from", "date_to", "limit", "offset"} <= {
            p["name"] for p in listing["parameters"]
        }


@pytest.mark.req("DESIGN-6")
def test_docs_are_served_by_the_app(client, db):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in s for s in sources)
    assert all(s.startswith("/") for s in sources), sources  # nothing from another host
    assert "<script>" not in html  # no inline script: the CSP allows 'self' only
    assert "script-src 'self'" in page["Content-Security-Policy"]
    script = client.get("/api/docs/?script=")  # SpectacularSwaggerSplitView: the init script as a file
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()
    for src in sources:  # each asset ships with the app (collectstatic gathers it; whitenoise serves it)
        if src.startswith("/api/docs/"):
            continue
        assert src.startswith("/static/"), src
        assert finders.find(src.removeprefix("/static/").split("?")[0]), src
