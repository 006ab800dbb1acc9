"""The safety forms sit on the casebook grid (issue 8): AE, CRS and ICANS columns in clinical
order after the treatment forms, entered from a visit row, counted with their entries."""

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
    columns = [
        html.index(title)
        for title in ("CAR-T product and infusion", "Adverse event", "CRS assessment", "ICANS assessment")
    ]
    assert columns == sorted(columns)
    assert f"/subjects/{subject.pk}/forms/CRS/new/?visit=" in html
    assert f"/subjects/{subject.pk}/forms/ICANS/new/?visit=" in html
    assert f"/subjects/{subject.pk}/forms/AE/new/?visit=" in html
