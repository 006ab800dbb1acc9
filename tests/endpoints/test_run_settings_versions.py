"""Every run records the protocol settings versions its derived inputs were derived under, and
the run page shows them, flagged when they are not the run's own version (issue 30)."""

from __future__ import annotations

import pytest

from endpoints.labels import input_versions
from study.protocol import publish_settings
from tests.adverse_events.test_crs import enter_crs
from tests.endpoints.conftest import day, make_world, now
from tests.endpoints.test_tables import run_at

pytestmark = pytest.mark.req("ISSUE-30")


def test_the_run_records_and_shows_the_settings_versions_of_its_inputs(transactional_db, login, client):
    world = make_world("versions")
    subject = world.infused()
    login(world.coordinator)
    enter_crs(client, subject, day(2), tmax_c="38.5")  # graded under settings version 1
    publish_settings(
        actor=world.admin,
        study=world.study,
        effective_from=now().date(),
        values={"dose_levels": [{"code": "DL2", "target_cells_per_kg": "2.0E6", "range_pct": "30"}]},
        reason="protocol amendment 2",
    )
    run = run_at(world)
    assert run.settings_version == 2
    assert run.input_settings_versions == {"crs_assessments": {"1": 1}, "crs_episodes": {"1": 1}}
    client.logout()
    login(world.statistician)
    page = client.get(f"/endpoints/{run.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    listed = page[page.index("data-input-versions") : page.index("</dd>", page.index("data-input-versions"))]
    assert "CRS assessments:" in listed and "version 1: 1 row" in listed
    assert "not all under the run" in listed


def test_input_versions_lists_counts_and_flags_other_versions():
    found = {"crs_assessments": {"1": 3, "2": 1}, "marrow_assessments": {"2": 4}, "mrd_tests": {"none": 2}}
    assert input_versions(2, found) == [
        {"label": "CRS assessments", "counts": [("1", 3), ("2", 1)], "differs": True},
        {"label": "Marrow assessments", "counts": [("2", 4)], "differs": False},
        {"label": "MRD tests", "counts": [("none", 2)], "differs": True},
    ]
