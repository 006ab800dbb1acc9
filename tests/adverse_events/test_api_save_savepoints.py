"""The API's create saves without savepoints of its own (issue 22, eighth pass): a refusal is
answered as a 400 and DRF rolls the request's transaction back whole, so the save, its course
re-derivation and their services need no SAVEPOINT/RELEASE each (two round trips, and a
subtransaction for every audited write under it). What must hold: a refusal found after the
save wrote something leaves nothing of it, and the next request works; a save called outside
the API keeps its savepoint, so a caller that catches the refusal can go on."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken

from adverse_events.models import AdverseEvent, CrsAssessment, CrsEpisode
from crf import locks
from crf.services import save
from labs.models import VitalSigns
from tests.adverse_events.conftest import day
from tests.adverse_events.test_write_path import with_assessments

pytestmark = pytest.mark.req("ISSUE-22")


def api(user) -> Client:  # type: ignore[no-untyped-def]
    _, plain = AuthToken.objects.create(user)
    return Client(HTTP_AUTHORIZATION=f"Token {plain}")


def post_crs(client: Client, subject, on, **values):  # type: ignore[no-untyped-def]
    body = {"subject": subject.pk, "assessment_date": on.isoformat(), "oxygen_device": "room_air", **values}
    return client.post("/api/v1/crs-assessments/", json.dumps(body), content_type="application/json")


def savepoints(ctx: CaptureQueriesContext) -> int:
    return sum(
        1
        for q in ctx.captured_queries
        if "SAVEPOINT" in q["sql"] and "RELEASE" not in q["sql"] and "ROLLBACK" not in q["sql"]
    )


def test_a_crs_create_takes_only_the_requests_savepoint(infused, coordinator):
    """In a test the request's transaction is itself a savepoint of the test's: one SAVEPOINT in
    all (before this pass four: the save, the CRS service, save_form and the request). An
    assessment that opens an episode creates its AE, whose check constraints Django still
    validates inside savepoints of their own (`Q.check`), so this one stays at grade 0."""
    subject = infused()
    with_assessments(subject, coordinator, 3)
    client = api(coordinator)
    with CaptureQueriesContext(connection) as ctx:
        answer = post_crs(client, subject, day(2), tmax_c="37.4")
    assert answer.status_code == 201, answer.content
    assert answer.json()["grade"] == 0
    assert savepoints(ctx) == 1
    assert CrsAssessment.objects.filter(subject=subject).count() == 4


def test_a_refusal_after_the_save_wrote_leaves_nothing_and_the_next_request_works(infused, coordinator, users_a):
    """A CRS assessment that raises the episode's grade re-derives its AE; the AE is locked, so
    the save fails naming it — after the assessment was inserted and the episode updated. The
    request answers 400 and none of it stays: no assessment, the episode and the AE as they were."""
    subject = infused()
    with_assessments(subject, coordinator, 6)
    opened = save(
        user=coordinator,
        instance=CrsAssessment(
            subject=subject, assessment_date=day(50), tmax_c=Decimal("38.6"), oxygen_device="room_air"
        ),
        expected_version=None,
    )
    assert opened.grade == 1
    episode = CrsEpisode.objects.get(subject=subject, superseded=False)
    ae = AdverseEvent.objects.get(crs_episode=episode)
    locks.set_data_lock(user=users_a["data_manager"], kind="lock", study=subject.site.study, form=ae, reason="SAE")
    stored = CrsAssessment.objects.filter(subject=subject).count()
    client = api(coordinator)

    refused = post_crs(
        client,
        subject,
        day(51),
        tmax_c="38.9",
        oxygen_device="facemask",
        oxygen_flow_l_min="6",
        hypoxia_attributable_to_crs=True,
    )

    assert refused.status_code == 400, refused.content
    assert "locked" in json.dumps(refused.json(), ensure_ascii=False)
    assert CrsAssessment.objects.filter(subject=subject).count() == stored
    episode_after = CrsEpisode.objects.get(pk=episode.pk)
    assert (episode_after.grade, episode_after.version, episode_after.last_date) == (1, episode.version, day(50))
    ae_after = AdverseEvent.objects.get(pk=ae.pk)
    assert (ae_after.grade, ae_after.version) == (1, ae.version)
    # the connection is usable: the next save through the API is stored
    body = {
        "subject": subject.pk,
        "assessment_date": day(52).isoformat(),
        "temperature_c": "37.0",
        "oxygen_device": "room_air",
    }
    stored_vs = VitalSigns.objects.filter(subject=subject).count()
    answer = client.post("/api/v1/vital-signs/", json.dumps(body), content_type="application/json")
    assert answer.status_code == 201, answer.content
    assert VitalSigns.objects.filter(subject=subject).count() == stored_vs + 1


def test_outside_the_api_a_refused_save_keeps_its_savepoint(infused, coordinator, users_a):
    """A page or a service that catches the refusal goes on in the same transaction: the save
    rolled back to its own savepoint, not the caller's transaction."""
    subject = infused()
    with_assessments(subject, coordinator, 3)
    save(
        user=coordinator,
        instance=CrsAssessment(
            subject=subject, assessment_date=day(50), tmax_c=Decimal("38.6"), oxygen_device="room_air"
        ),
        expected_version=None,
    )
    ae = AdverseEvent.objects.get(crs_episode__subject=subject)
    locks.set_data_lock(user=users_a["data_manager"], kind="lock", study=subject.site.study, form=ae, reason="SAE")
    stored = CrsAssessment.objects.filter(subject=subject).count()
    with transaction.atomic():
        with pytest.raises(ValidationError) as refused:
            save(
                user=coordinator,
                instance=CrsAssessment(
                    subject=subject,
                    assessment_date=day(51),
                    tmax_c=Decimal("38.9"),
                    oxygen_device="facemask",
                    oxygen_flow_l_min=Decimal("6"),
                    hypoxia_attributable_to_crs=True,
                ),
                expected_version=None,
            )
        assert refused.value.code == "dependant_locked"
        # still usable inside the same transaction
        assert CrsAssessment.objects.filter(subject=subject).count() == stored
