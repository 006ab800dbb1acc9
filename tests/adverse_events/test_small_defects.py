"""Issue 24 §6: no "restore unsaved entries" offer after a server validation error (the typed
values are on the page); one id per control on the episode page."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django.http import QueryDict
from django.urls import reverse

from adverse_events.models import CrsEpisode
from crf import drafts
from tests.adverse_events.conftest import day
from tests.adverse_events.test_crs import enter_crs

pytestmark = pytest.mark.req("ISSUE-24")


def test_no_restore_offer_after_a_refused_save(infused, coordinator, login):
    subject = infused()
    path = f"/subjects/{subject.pk}/forms/VS/new/"
    drafts.keep(coordinator, path, QueryDict("temperature_c=38.6"))
    client = login(coordinator)
    assert "Restore my unsaved entries" in client.get(path).content.decode()
    refused = client.post(path, {"temperature_c": "38.6"})  # no assessment date
    assert refused.status_code in (200, 400)
    html = refused.content.decode()
    assert "This field is required." in html
    assert "Restore my unsaved entries" not in html


def test_episode_page_ids_are_unique(infused, coordinator, investigator, login):
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.6")
    episode = CrsEpisode.objects.get(subject=subject)
    client.logout()
    client = login(investigator)
    html = client.get(reverse("adverse_events:episode", args=[subject.pk, "crs", episode.pk])).content.decode()
    ids = Counter(re.findall(r'\bid="([^"]+)"', html))
    assert [i for i, n in ids.items() if n > 1] == []
    assert 'id="adjudication_reason"' in html
