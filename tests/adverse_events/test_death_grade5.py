"""A death whose primary cause is CRS or ICANS makes that episode grade 5 (CLINICAL_SPEC §1.1
"grade 5: death with CRS as the principal cause", §2.2 likewise for ICANS; issue 9 item 4):
the death form saved on its page re-derives the episode and its system-owned AE through the
safety services with the audit reason "re-derived: death"; correcting the cause takes it back."""

from __future__ import annotations

import pytest

from adverse_events.models import AdverseEvent, AdverseEventEvent, CrsEpisode, CrsEpisodeEvent, IcansEpisode
from subjects.models import Subject
from survival.models import Death
from tests.adverse_events.conftest import day
from tests.adverse_events.test_crs import enter_crs
from tests.adverse_events.test_icans import enter_icans, ice

pytestmark = pytest.mark.req("ISSUE-9")


def death_post(n: int, cause: str, **extra) -> dict[str, object]:
    return {"death_date": day(n).isoformat(), "primary_cause": cause, "autopsy": "no", **extra}


def test_death_from_crs_sets_the_episode_and_its_ae_to_grade_5_with_the_audit_row(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.6")
    enter_crs(client, subject, day(2), tmax_c="39.2", hypotension=True, vasopressors=["norepinephrine"])
    episode = CrsEpisode.objects.get(subject=subject)
    assert (episode.derived_grade, episode.adverse_event.grade, episode.adverse_event.outcome) == (
        3,
        3,
        "not_recovered",
    )

    response = client.post(f"/subjects/{subject.pk}/forms/DTH/new/", death_post(4, "crs"))
    assert response.status_code == 302, response.content.decode()[:2000]

    episode.refresh_from_db()
    assert (episode.derived_grade, episode.grade) == (5, 5)
    ae = AdverseEvent.objects.get(crs_episode=episode)
    assert (ae.grade, ae.outcome, ae.serious_death, ae.serious) == (5, "fatal", True, True)
    episode_audit = CrsEpisodeEvent.objects.filter(pgh_obj_id=episode.pk, pgh_label="update").latest("pgh_id")
    assert (episode_audit.derived_grade, episode_audit.pgh_context["reason"]) == (5, "re-derived: death")
    assert episode_audit.pgh_context["username"] == "coordinator_a"
    ae_audit = AdverseEventEvent.objects.filter(pgh_obj_id=ae.pk, pgh_label="update").latest("pgh_id")
    assert (ae_audit.grade, ae_audit.outcome, ae_audit.pgh_context["reason"]) == (5, "fatal", "re-derived: death")
    assert Subject.objects.get(pk=subject.pk).status == "died"

    # the cause corrected to disease: the episode and its AE go back to the derived grade 3
    death = Death.objects.get(subject=subject)
    response = client.post(
        f"/subjects/{subject.pk}/forms/DTH/{death.pk}/",
        death_post(4, "disease", opened_version=death.version, reason="cause confirmed by autopsy review"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    episode.refresh_from_db()
    ae.refresh_from_db()
    assert (episode.derived_grade, ae.grade, ae.outcome) == (3, 3, "not_recovered")


def test_death_from_crs_marks_the_last_episode_before_the_death(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.6")
    enter_crs(client, subject, day(2), tmax_c="36.8")
    enter_crs(client, subject, day(6), tmax_c="38.4")
    client.post(f"/subjects/{subject.pk}/forms/DTH/new/", death_post(7, "crs"))
    grades = list(CrsEpisode.objects.filter(subject=subject).order_by("number").values_list("number", "derived_grade"))
    assert grades == [(1, 1), (2, 5)]


def test_death_from_crs_without_an_episode_is_refused_with_nothing_saved(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    response = client.post(f"/subjects/{subject.pk}/forms/DTH/new/", death_post(5, "crs"))
    assert response.status_code == 200
    assert "No CRS episode began on or before the date of death" in response.content.decode()
    assert not Death.objects.filter(subject=subject).exists()
    assert Subject.objects.get(pk=subject.pk).status != "died"


def test_death_from_icans_sets_the_icans_episode_to_grade_5(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    enter_icans(client, subject, day(5), **ice(2))
    client.post(f"/subjects/{subject.pk}/forms/DTH/new/", death_post(6, "icans"))
    episode = IcansEpisode.objects.get(subject=subject)
    assert (episode.derived_grade, AdverseEvent.objects.get(icans_episode=episode).grade) == (5, 5)
