"""Server-side drafts (issue 4 item 6; DESIGN §4): what a user typed on a form page is kept on
the server and offered back when the page is reopened (after a session expired mid-form); only
to its author, only on pages the user may edit; saving the form discards it."""

from __future__ import annotations

import pytest

from crf.models import FormDraft
from tests.factories import protocol_v1

pytestmark = pytest.mark.req("ISSUE-4")


@pytest.fixture
def page(subject_a, study):
    protocol_v1(study)
    return f"/subjects/{subject_a.pk}/forms/VS/new/"


def keep(client, path, **values):
    return client.post("/subjects/drafts/", {"draft_path": path, **values})


def test_typed_values_are_kept_and_offered_back_after_signing_in_again(page, users_a, login, client):
    coordinator = users_a["coordinator"]
    login(coordinator)
    assert keep(client, page, assessment_date="2026-03-02", temperature_c="38.6").status_code == 204
    client.logout()  # the session ended mid-form
    login(coordinator)
    html = client.get(page).content.decode()
    assert "You have unsaved entries on this form" in html
    restored = client.get(page + "?draft=restore").content.decode()
    assert 'value="38.6"' in restored and 'value="2026-03-02"' in restored
    assert "drafts.js" in restored and 'data-draft-url="/subjects/drafts/"' in restored


def test_saving_the_form_discards_the_draft(page, users_a, login, client):
    login(users_a["coordinator"])
    keep(client, page, assessment_date="2026-03-02", temperature_c="38.6")
    saved = client.post(page, {"assessment_date": "2026-03-02", "temperature_c": "38.6", "oxygen_device": "room_air"})
    assert saved.status_code == 302
    assert not FormDraft.objects.exists()


def test_a_draft_is_shown_only_to_its_author(page, users_a, login, client):
    login(users_a["coordinator"])
    keep(client, page, temperature_c="38.6")
    client.logout()
    login(users_a["investigator"])
    assert "You have unsaved entries" not in client.get(page).content.decode()


@pytest.mark.parametrize("role", ["monitor", "data_manager", "statistician", "study_admin"])
def test_roles_that_cannot_edit_keep_no_draft(page, users_a, login, client, role):
    login(users_a[role])
    assert keep(client, page, temperature_c="38.6").status_code == 403
    assert not FormDraft.objects.exists()


def test_no_draft_for_another_sites_subject_or_another_page(subject_b, page, users_a, login, client):
    login(users_a["coordinator"])
    assert keep(client, f"/subjects/{subject_b.pk}/forms/VS/new/", temperature_c="38.6").status_code == 403
    assert keep(client, "/subjects/", temperature_c="38.6").status_code == 403
    assert not FormDraft.objects.exists()
