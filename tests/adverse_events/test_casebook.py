"""The safety forms sit on the casebook (issue 8, schedule-driven since issue 24): CRS and ICANS
expected at the visits after the infusion, adverse events in the logs."""

from __future__ import annotations

import pytest

from tests.adverse_events.conftest import day
from tests.adverse_events.test_crs import enter_crs

pytestmark = pytest.mark.req("ISSUE-8")


def test_safety_forms_are_columns_of_the_casebook(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.6")
    page = client.get(f"/subjects/{subject.pk}/casebook/")
    assert page.status_code == 200
    html = page.content.decode()
    # day 0 expects the infusion, vital signs, CRS and ICANS, in that order (CLINICAL_SPEC §7.1,
    # issue 24); adverse events are a log apart from the visits
    row = html[html.index('data-visit="D0"') : html.index('data-visit="D1"')]
    columns = [row.index(f'data-form="{code}"') for code in ("INF", "VS", "CRS", "ICANS")]
    assert columns == sorted(columns)
    assert f"/subjects/{subject.pk}/forms/CRS/new/?visit=" in html
    assert f"/subjects/{subject.pk}/forms/ICANS/new/?visit=" in html
    assert 'data-log="AE"' in html and f"/subjects/{subject.pk}/forms/AE/new/" in html


def test_safety_form_pages_follow_design_4a(infused, coordinator, users_a, login, client, other_coordinator):
    """View for coordinator, investigator, monitor, data manager; entry only for coordinator and
    investigator; 403 for the statistician and study admin; 404 outside one's sites."""
    subject = infused()
    stored = enter_crs(login(coordinator), subject, day(1), tmax_c="38.6")
    client.logout()
    for role, status in (("monitor", 200), ("data_manager", 200), ("investigator", 200), ("statistician", 403)):
        login(users_a[role])
        assert client.get(f"/subjects/{subject.pk}/forms/CRS/{stored.pk}/").status_code == status, role
        client.logout()
    login(users_a["monitor"])
    refused = client.post(f"/subjects/{subject.pk}/forms/AE/new/", {"ctcae_term": "Nausea"})
    assert refused.status_code == 403
    client.logout()
    login(other_coordinator)
    assert client.get(f"/subjects/{subject.pk}/forms/ICANS/new/").status_code == 404
