"""CRS assessments, episodes and their AE (CLINICAL_SPEC §1; issue 8 item 2): every worked
example of §8 entered on the form page and the stored grade read back; the course giving one
episode of duration 2, grade 2, and a second episode on day 6; the system-owned AE kept in step;
a CRS AE by hand refused; no Fever AE on a CRS day; the live grade partial; grade in source with
its automatic query; adjudication by investigators only (DESIGN §4a), used by the AE."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from adverse_events.models import AdverseEvent, CrsAssessment, CrsEpisode
from adverse_events.services import ae_crs_icans as services
from crf.models import Query
from crf.services import save
from tests.adverse_events.conftest import day
from tests.adverse_events.test_adverse_events import ae_values, record_ae

pytestmark = pytest.mark.req("ISSUE-8")


def crs_post(on, **values) -> dict[str, object]:
    """What the form page posts: attribution answered "yes" (nothing is pre-selected since issue
    24: the test answers, as the user must), room air, no fever."""
    data: dict[str, object] = {
        "assessment_date": on.isoformat(),
        "tmax_c": "37.0",
        "hypotension_fluid_responsive": "unknown",
        "hypotension_attributable_to_crs": "True",
        "oxygen_device": "room_air",
        "hypoxia_attributable_to_crs": "True",
    }
    for name, value in values.items():
        if name.endswith("_attributable_to_crs"):
            data[name] = "True" if value else "False"
        elif value is False:
            data.pop(name, None)
        elif value is True:
            data[name] = "on"
        else:
            data[name] = value
    return data


def enter_crs(client, subject, on, **values) -> CrsAssessment:
    before = set(CrsAssessment.objects.filter(subject=subject).values_list("pk", flat=True))
    response = client.post(f"/subjects/{subject.pk}/forms/CRS/new/", crs_post(on, **values))
    assert response.status_code == 302, response.content.decode()[:3000]
    (new,) = set(CrsAssessment.objects.filter(subject=subject).values_list("pk", flat=True)) - before
    return CrsAssessment.objects.get(pk=new)


SINGLE_DAY = [
    (
        "T 39.1, no hypotension, nasal cannula 4 L/min",
        {"tmax_c": "39.1", "oxygen_device": "nasal_cannula", "oxygen_flow_l_min": "4"},
        2,
    ),
    ("T 38.0 exactly, room air", {"tmax_c": "38.0"}, 1),
    ("T 37.9, no prior CRS", {"tmax_c": "37.9"}, 0),
    ("nasal cannula 6 L/min", {"tmax_c": "38.4", "oxygen_device": "nasal_cannula", "oxygen_flow_l_min": "6"}, 2),
    ("nasal cannula 7 L/min", {"tmax_c": "38.4", "oxygen_device": "nasal_cannula", "oxygen_flow_l_min": "7"}, 3),
    ("facemask 4 L/min", {"tmax_c": "38.4", "oxygen_device": "facemask", "oxygen_flow_l_min": "4"}, 3),
    (
        "fluid-responsive hypotension",
        {"tmax_c": "38.4", "hypotension": True, "hypotension_fluid_responsive": "true"},
        2,
    ),
    ("norepinephrine", {"tmax_c": "38.4", "hypotension": True, "vasopressors": ["norepinephrine"]}, 3),
    (
        "norepinephrine + vasopressin",
        {"tmax_c": "38.4", "hypotension": True, "vasopressors": ["norepinephrine", "vasopressin"]},
        3,
    ),
    (
        "norepinephrine + phenylephrine",
        {"tmax_c": "38.4", "hypotension": True, "vasopressors": ["norepinephrine", "phenylephrine"]},
        4,
    ),
    (
        "T 39.5, one vasopressor, nasal cannula 2 L/min",
        {
            "tmax_c": "39.5",
            "hypotension": True,
            "vasopressors": ["norepinephrine"],
            "oxygen_device": "nasal_cannula",
            "oxygen_flow_l_min": "2",
        },
        3,
    ),
    (
        "afebrile septic shock, no prior CRS",
        {
            "tmax_c": "37.2",
            "hypotension": True,
            "vasopressors": ["norepinephrine"],
            "hypotension_attributable_to_crs": False,
        },
        0,
    ),
    ("BiPAP", {"tmax_c": "38.4", "oxygen_device": "bipap"}, 4),
]


@pytest.mark.parametrize(("example", "values", "grade"), SINGLE_DAY, ids=[row[0] for row in SINGLE_DAY])
def test_single_day_worked_examples_through_the_form_page(infused, coordinator, login, example, values, grade):
    """CLINICAL_SPEC §8 CRS (single day), entered on day 1 and the stored grade read back."""
    subject = infused()
    client = login(coordinator)
    stored = enter_crs(client, subject, day(1), **values)
    assert (stored.grade, stored.criteria, stored.study_day) == (grade, "ASTCT-2019", 1)
    assert stored.settings_version == 1
    episodes = CrsEpisode.objects.filter(subject=subject, superseded=False)
    assert episodes.count() == (1 if grade else 0)
    if grade:
        ae = AdverseEvent.objects.get(crs_episode=episodes.get())
        assert (ae.ctcae_term, ae.meddra_code, ae.grade, ae.grade_scale) == (
            "Cytokine release syndrome",
            "10052015",
            grade,
            "ASTCT-2019",
        )


def test_vasopressin_is_flagged_and_hypotension_needs_fever(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    alone = enter_crs(client, subject, day(1), tmax_c="38.4", hypotension=True, vasopressors=["vasopressin"])
    assert (alone.grade, alone.flags) == (3, ["vasopressin_alone"])


def test_organ_toxicity_is_a_separate_ctcae_ae_and_never_changes_crs(infused, coordinator, login):
    """§8: nasal cannula 2 L/min with creatinine 3.5× baseline → CRS 2 plus a separate CTCAE AE."""
    subject = infused()
    client = login(coordinator)
    crs = enter_crs(client, subject, day(1), tmax_c="38.6", oxygen_device="nasal_cannula", oxygen_flow_l_min="2")
    kidney = record_ae(coordinator, subject, ctcae_term="Creatinine increased", grade=3, onset_date=day(1))
    crs.refresh_from_db()
    assert crs.grade == 2
    assert kidney.grade == 3 and kidney.grade_scale == "CTCAE v5.0"
    assert AdverseEvent.objects.filter(subject=subject, entered_in_error=False).count() == 2


def test_course_gives_one_episode_of_two_days_then_a_second_on_day_6(infused, coordinator, login):
    """§1.3 course shape with fever on day 2 (the tocilizumab version of §8 needs the con-med
    log; see test_conmed_rederive): daily grades 1, 2, 0 → one episode, onset day 1, duration
    2, grade 2; day 6 T 38.2 → a second episode with onset day 6, onset needing fever again."""
    subject = infused()
    client = login(coordinator)
    d1 = enter_crs(client, subject, day(1), tmax_c="38.6")
    d2 = enter_crs(client, subject, day(2), tmax_c="38.3", oxygen_device="nasal_cannula", oxygen_flow_l_min="3")
    d3 = enter_crs(client, subject, day(3), tmax_c="36.9")
    assert [d1.grade, d2.grade, d3.grade] == [1, 2, 0]
    (first,) = CrsEpisode.objects.filter(subject=subject)
    assert (first.number, first.onset_day, first.duration_days, first.derived_grade) == (1, 1, 2, 2)
    assert first.resolved_date == day(3)
    ae = first.adverse_event
    assert (ae.grade, ae.onset_date, ae.resolution_date, ae.outcome) == (2, day(1), day(3), "recovered")
    enter_crs(client, subject, day(6), tmax_c="38.2")
    second = CrsEpisode.objects.get(subject=subject, number=2)
    assert (second.onset_day, second.duration_days, second.derived_grade, second.resolved_date) == (6, 1, 1, None)
    assert second.adverse_event.outcome == "not_recovered"


def test_several_assessments_a_day_take_the_maximum_and_edits_keep_the_ae_in_step(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.6")
    later = enter_crs(client, subject, day(1), tmax_c="38.9", hypotension=True, vasopressors=["norepinephrine"])
    episode = CrsEpisode.objects.get(subject=subject)
    assert episode.derived_grade == 3 and episode.adverse_event.grade == 3
    response = client.post(
        f"/subjects/{subject.pk}/forms/CRS/{later.pk}/",
        crs_post(day(1), tmax_c="38.9", hypotension=True, opened_version=later.version),
    )
    assert response.status_code == 302
    episode.refresh_from_db()
    assert episode.derived_grade == 2
    assert AdverseEvent.objects.get(crs_episode=episode).grade == 2


def test_nasal_cannula_without_flow_is_refused_on_the_page(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    response = client.post(
        f"/subjects/{subject.pk}/forms/CRS/new/", crs_post(day(1), tmax_c="38.5", oxygen_device="nasal_cannula")
    )
    assert response.status_code == 200
    assert "Give the nasal cannula flow" in response.content.decode()
    assert not CrsAssessment.objects.filter(subject=subject).exists()


def test_crs_ae_by_hand_is_refused_with_a_pointer_to_the_episode(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.6")
    episode = CrsEpisode.objects.get(subject=subject)
    with pytest.raises(ValidationError) as caught:
        record_ae(coordinator, subject, ctcae_term="Cytokine release syndrome", grade=1, onset_date=day(1))
    message = caught.value.message_dict["ctcae_term"][0]
    assert "CRS is not entered by hand" in message
    assert f"/safety/subjects/{subject.pk}/episodes/crs/{episode.pk}/" in message
    assert AdverseEvent.objects.filter(subject=subject).count() == 1  # the episode's own


def test_fever_ae_on_a_crs_episode_day_is_refused_and_allowed_after(infused, coordinator, login):
    """§1.2 g: fever on CRS episode days is part of CRS."""
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.6")
    enter_crs(client, subject, day(2), tmax_c="38.8")
    enter_crs(client, subject, day(3), tmax_c="36.8")
    response = client.post(
        f"/subjects/{subject.pk}/forms/AE/new/", ae_values(ctcae_term="Fever", grade="1", onset_date=day(2).isoformat())
    )
    assert response.status_code == 200
    assert "Fever on a CRS episode day is part of CRS" in response.content.decode()
    fever = record_ae(coordinator, subject, ctcae_term="Fever", grade=1, onset_date=day(4))
    assert fever.pk is not None


def test_system_owned_ae_keeps_the_episode_grade_whatever_is_typed(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.6", oxygen_device="nasal_cannula", oxygen_flow_l_min="2")
    ae = AdverseEvent.objects.get(crs_episode__subject=subject)
    ae.grade = 4
    ae.relationship_car_t = "definite"
    saved = save(user=coordinator, instance=ae, expected_version=ae.version)
    assert (saved.grade, saved.relationship_car_t) == (2, "definite")


def test_live_grade_partial_equals_the_grade_the_save_stores(infused, coordinator, login, users_a, client):
    subject = infused()
    client = login(coordinator)
    values = crs_post(day(1), tmax_c="39.5", hypotension="on", vasopressors=["norepinephrine", "phenylephrine"])
    live = client.post(f"/safety/subjects/{subject.pk}/crs/live-grade/", values)
    assert live.status_code == 200
    assert 'data-live-grade="4"' in live.content.decode()
    assert not CrsAssessment.objects.filter(subject=subject).exists()  # nothing saved
    stored = enter_crs(
        client, subject, day(1), tmax_c="39.5", hypotension=True, vasopressors=["norepinephrine", "phenylephrine"]
    )
    assert stored.grade == 4
    incomplete = client.post(
        f"/safety/subjects/{subject.pk}/crs/live-grade/", crs_post(day(1), oxygen_device="nasal_cannula")
    )
    assert "Give the nasal cannula flow" in incomplete.content.decode()
    client.logout()
    login(users_a["monitor"])
    assert client.post(f"/safety/subjects/{subject.pk}/crs/live-grade/", values).status_code == 403


def test_grade_in_source_query_and_adjudication_by_investigator_only(
    infused, coordinator, investigator, users_a, login
):
    """§1.3: a source grade differing from the derived grade raises an automatic query; only an
    investigator adjudicates (DESIGN §4a); the AE takes the adjudicated grade; the query closes."""
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.6", oxygen_device="nasal_cannula", oxygen_flow_l_min="2")
    episode = CrsEpisode.objects.get(subject=subject)
    page = f"/safety/subjects/{subject.pk}/episodes/crs/{episode.pk}/"
    response = client.post(page, {"action": "source", "version": episode.version, "source_grade": "3"})
    assert response.status_code == 302
    query = Query.objects.get(object_id=episode.pk, rule_code="CRS-SOURCE-GRADE")
    assert query.status == "open"
    assert "differs from the derived ASTCT episode grade" in client.get(page).content.decode()
    episode.refresh_from_db()
    refused = client.post(page, {"action": "adjudicate", "version": episode.version, "grade": "3", "reason": "x"})
    assert refused.status_code == 403
    for role in ("monitor", "data_manager"):
        with pytest.raises(PermissionDenied):
            services.adjudicate_episode(
                user=users_a[role], episode=episode, grade=3, reason="x", expected_version=episode.version
            )
    client.logout()
    client = login(investigator)
    missing_reason = client.post(page, {"action": "adjudicate", "version": episode.version, "grade": "3", "reason": ""})
    assert missing_reason.status_code == 200
    response = client.post(
        page, {"action": "adjudicate", "version": episode.version, "grade": "3", "reason": "High-flow in the notes"}
    )
    assert response.status_code == 302
    episode.refresh_from_db()
    assert (episode.derived_grade, episode.adjudicated_grade, episode.grade) == (2, 3, 3)
    assert episode.adjudicated_by == investigator
    query.refresh_from_db()
    assert query.status == "closed"
    assert AdverseEvent.objects.get(crs_episode=episode).grade == 3


def test_episode_pages_are_behind_the_visibility_gate(infused, coordinator, login, other_coordinator, client):
    subject = infused()
    enter_crs(login(coordinator), subject, day(1), tmax_c="38.6")
    episode = CrsEpisode.objects.get(subject=subject)
    client.logout()
    login(other_coordinator)
    assert client.get(f"/safety/subjects/{subject.pk}/episodes/crs/{episode.pk}/").status_code == 404
    assert client.get(f"/safety/subjects/{subject.pk}/episodes/").status_code == 404


def test_tmax_is_stored_exactly(infused, coordinator, login):
    subject = infused()
    stored = enter_crs(login(coordinator), subject, day(1), tmax_c="38.0")
    assert stored.tmax_c == Decimal("38.0") and stored.fever is True


def test_an_assessment_entered_in_error_leaves_the_course_and_its_ae(infused, coordinator, login):
    from crf.services import mark_entered_in_error

    subject = infused()
    only = enter_crs(login(coordinator), subject, day(1), tmax_c="38.6")
    mark_entered_in_error(user=coordinator, instance=only, expected_version=only.version, reason="Wrong subject")
    episode = CrsEpisode.objects.get(subject=subject)
    assert episode.superseded is True
    ae = AdverseEvent.objects.get(crs_episode=episode)
    assert ae.entered_in_error is True
    assert ae.error_reason == "re-derived: CRS assessment of 2026-03-21 entered in error"
