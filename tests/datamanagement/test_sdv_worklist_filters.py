"""Issue 24 item 5: the SDV worklist filtered by site, subject, form, visit and SDV state,
sorted, paged, each form named by subject, visit and date (not by database id)."""

from __future__ import annotations

from datetime import date

import pytest

from crf import sdv
from datamanagement import sdv_lock_views
from subjects.models import Subject
from tests.factories import identity

pytestmark = pytest.mark.req("ISSUE-24")


@pytest.fixture
def worklist(crf_ready, save_vs, users_a, study, site_a):
    other = Subject.objects.create(site=site_a, subject_id="A-002")
    identity(other)
    forms = [save_vs(subject=crf_ready, assessment_date=date(2026, 3, d), heart_rate=60 + d) for d in (2, 4, 3)]
    forms.append(save_vs(subject=other, assessment_date=date(2026, 3, 1), heart_rate=70))
    sdv.save_plan(
        user=users_a["data_manager"], study=study, full_forms=["VS"], sample_percent=0, seed=1, reason="start"
    )
    sdv.mark_verified(user=users_a["monitor"], form=forms[1], field_name="heart_rate")
    return forms


def _links(page: str) -> list[str]:
    return [chunk.split("</a>")[0].split(">")[-1] for chunk in page.split('href="/subjects/')[1:] if "/forms/" in chunk]


def test_forms_named_by_subject_and_date_sorted_and_filtered(worklist, users_a, login, client):
    login(users_a["monitor"])
    page = client.get("/data/sdv/").content.decode()
    assert "4 forms remain to verify" in page
    assert _links(page) == [
        "Vital signs · A-001 · 2026-03-02",
        "Vital signs · A-001 · 2026-03-03",
        "Vital signs · A-001 · 2026-03-04",
        "Vital signs · A-002 · 2026-03-01",
    ]
    assert f"#{worklist[0].pk}<" not in page
    page = client.get("/data/sdv/?sort=-date").content.decode()
    assert [link[-10:] for link in _links(page)] == ["2026-03-04", "2026-03-03", "2026-03-02", "2026-03-01"]
    page = client.get("/data/sdv/?subject=A-002").content.decode()
    assert _links(page) == ["Vital signs · A-002 · 2026-03-01"]
    assert "1 form remains to verify" in page and "(of 4 at this site)" in page
    page = client.get("/data/sdv/?status=partial").content.decode()
    assert _links(page) == ["Vital signs · A-001 · 2026-03-04"]
    page = client.get("/data/sdv/?form=AE").content.decode()
    assert _links(page) == [] and "No form matches these filters." in page


def test_worklist_pages_keep_the_filters(worklist, users_a, login, client, monkeypatch):
    monkeypatch.setattr(sdv_lock_views, "WORKLIST_PAGE", 2)
    login(users_a["monitor"])
    page = client.get("/data/sdv/?subject=A-001&sort=date").content.decode()
    assert "Page 1 of 2" in page
    assert 'href="?site=01&amp;subject=A-001&amp;sort=date&amp;page=2"' in page
    assert [link[-10:] for link in _links(page)] == ["2026-03-02", "2026-03-03"]
    page = client.get("/data/sdv/?site=01&subject=A-001&sort=date&page=2").content.decode()
    assert [link[-10:] for link in _links(page)] == ["2026-03-04"]
