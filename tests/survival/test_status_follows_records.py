"""The subject's status follows the survival records (issue 9 item 4): the subject page offers
no bare "Died" status change — a death is the death form, which moves the status — and offers
"Lost to follow-up" as a dated status change (subjects.services.subject.change_status)."""

from __future__ import annotations

import pytest

from subjects.models import Subject
from tests.response.conftest import day

pytestmark = pytest.mark.req("ISSUE-9")


def test_death_is_the_death_form_and_lost_to_follow_up_a_dated_status_change(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    page = client.get(f"/subjects/{subject.pk}/")
    keys = [action["key"] for action in page.context["actions"]]
    assert "die" not in keys and "lose_to_follow_up" in keys
    assert page.context["record_death"] is True and "Record a death (death form)" in page.content.decode()
    assert client.post(f"/subjects/{subject.pk}/lifecycle/die/", {"die-on": day(40).isoformat()}).status_code == 404
    assert Subject.objects.get(pk=subject.pk).status == "infused"

    response = client.post(
        f"/subjects/{subject.pk}/lifecycle/lose_to_follow_up/", {"lose_to_follow_up-on": day(90).isoformat()}
    )
    assert response.status_code == 302
    lost = Subject.objects.get(pk=subject.pk)
    assert (lost.status, lost.status_date) == ("lost", day(90))
    page = client.get(f"/subjects/{subject.pk}/")
    assert page.context["record_death"] is True  # issue 30: a subject lost to follow-up may still be found dead
