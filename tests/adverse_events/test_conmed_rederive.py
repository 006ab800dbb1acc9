"""Fever masking from the con-med log (CLINICAL_SPEC §1.2 b, §8 CRS course; DESIGN §4
"re-derived: …"): the §8 course with tocilizumab on day 2 entered on the pages gives one
episode of duration 2, grade 2, and a second episode on day 6; tocilizumab added after the fact
re-derives the CRS days with their audit reason; editing the con-med out of a masking category
or entering it in error re-derives them back; premedication before the episode does not count."""

from __future__ import annotations

import pytest

from adverse_events.models import AdverseEvent, CrsAssessment, CrsAssessmentEvent, CrsEpisode
from crf.services import mark_entered_in_error
from subjects.models import ConcomitantMedication
from tests.adverse_events.conftest import day
from tests.adverse_events.test_crs import enter_crs

pytestmark = pytest.mark.req("ISSUE-8")


def conmed_post(on, **values) -> dict[str, object]:
    data: dict[str, object] = {
        "medication_name": "Actemra 托珠单抗",
        "atc_code": "",
        "dose": "8",
        "dose_unit": "mg/kg",
        "route": "iv",
        "start_date": on.isoformat(),
        "stop_date": on.isoformat(),
        "indication": "CRS",
        "category": "tocilizumab",
    }
    data.update(values)
    return data


def enter_conmed(client, subject, on, **values) -> ConcomitantMedication:
    response = client.post(f"/subjects/{subject.pk}/forms/CM/new/", conmed_post(on, **values))
    assert response.status_code == 302, response.content.decode()[:3000]
    return ConcomitantMedication.objects.filter(subject=subject).latest("pk")


def grades(subject) -> list[int]:
    return list(
        CrsAssessment.objects.filter(subject=subject).order_by("assessment_date").values_list("grade", flat=True)
    )


def test_the_worked_course_with_tocilizumab_on_day_2(infused, coordinator, login):
    """§8: day 1 T 38.6 room air → 1; day 2 tocilizumab, T 37.2, nasal cannula 3 L/min → 2;
    day 3 T 36.9, room air, no pressors → 0 → one episode, onset day 1, duration 2, grade 2.
    Then day 6 T 38.2 → a second episode with onset day 6."""
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.6")
    enter_conmed(client, subject, day(2))
    day_2 = enter_crs(client, subject, day(2), tmax_c="37.2", oxygen_device="nasal_cannula", oxygen_flow_l_min="3")
    assert (day_2.fever, day_2.fever_masked, day_2.grade) == (False, True, 2)
    enter_crs(client, subject, day(3), tmax_c="36.9")
    assert grades(subject) == [1, 2, 0]
    (episode,) = CrsEpisode.objects.filter(subject=subject)
    assert (episode.onset_day, episode.duration_days, episode.derived_grade) == (1, 2, 2)
    assert AdverseEvent.objects.get(crs_episode=episode).grade == 2
    enter_crs(client, subject, day(6), tmax_c="38.2")
    second = CrsEpisode.objects.get(subject=subject, number=2)
    assert (second.onset_day, second.derived_grade) == (6, 1)


def test_tocilizumab_added_after_the_fact_rederives_the_days_with_the_audit_reason(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.6")
    day_2 = enter_crs(client, subject, day(2), tmax_c="37.2", oxygen_device="nasal_cannula", oxygen_flow_l_min="3")
    enter_crs(client, subject, day(3), tmax_c="36.9")
    assert grades(subject) == [1, 0, 0]  # without the con-med, day 2 has no fever: no CRS
    episode = CrsEpisode.objects.get(subject=subject)
    assert (episode.duration_days, episode.derived_grade) == (1, 1)

    tocilizumab = enter_conmed(client, subject, day(2))
    assert grades(subject) == [1, 2, 0]
    episode.refresh_from_db()
    assert (episode.duration_days, episode.derived_grade, episode.resolved_date) == (2, 2, day(3))
    assert AdverseEvent.objects.get(crs_episode=episode).grade == 2
    update = CrsAssessmentEvent.objects.filter(pgh_obj_id=day_2.pk, pgh_label="update").latest("pgh_id")
    assert (update.grade, update.fever_masked) == (2, True)
    assert update.pgh_context["reason"] == "re-derived: concomitant medication Tocilizumab from 2026-03-22 saved"
    assert update.pgh_context["username"] == "coordinator_a"

    # edited out of a masking category: the days follow back
    response = client.post(
        f"/subjects/{subject.pk}/forms/CM/{tocilizumab.pk}/",
        conmed_post(day(2), category="other", opened_version=tocilizumab.version),
    )
    assert response.status_code == 302
    assert grades(subject) == [1, 0, 0]
    tocilizumab.refresh_from_db()
    response = client.post(
        f"/subjects/{subject.pk}/forms/CM/{tocilizumab.pk}/",
        conmed_post(
            day(2), category="corticosteroid", dexamethasone_equivalent_mg="10", opened_version=tocilizumab.version
        ),
    )
    assert response.status_code == 302
    assert grades(subject) == [1, 2, 0]
    tocilizumab.refresh_from_db()
    mark_entered_in_error(
        user=coordinator, instance=tocilizumab, expected_version=tocilizumab.version, reason="Wrong subject"
    )
    assert grades(subject) == [1, 0, 0]


def test_after_tocilizumab_for_crs_afebrile_norepinephrine_is_grade_3(infused, coordinator, login):
    """§8: "After tocilizumab for CRS, afebrile, norepinephrine → 3"."""
    subject = infused()
    client = login(coordinator)
    enter_crs(client, subject, day(1), tmax_c="38.9")
    enter_conmed(client, subject, day(1))
    shocked = enter_crs(client, subject, day(2), tmax_c="36.8", hypotension=True, vasopressors=["norepinephrine"])
    assert (shocked.fever, shocked.fever_masked, shocked.grade) == (False, True, 3)


def test_premedication_before_the_episode_and_other_categories_do_not_mask(infused, coordinator, login):
    """§1.2 b: exposure counts from the start date when on or after the episode's onset day."""
    subject = infused()
    client = login(coordinator)
    enter_conmed(
        client,
        subject,
        day(0),
        medication_name="Paracetamol",
        category="antipyretic",
        dose="500",
        dose_unit="mg",
        route="oral",
    )
    enter_conmed(
        client, subject, day(1), medication_name="Meropenem", category="antimicrobial", dose="1", dose_unit="g"
    )
    enter_crs(client, subject, day(1), tmax_c="38.9")
    afebrile = enter_crs(client, subject, day(2), tmax_c="37.0", oxygen_device="nasal_cannula", oxygen_flow_l_min="2")
    assert (afebrile.fever_masked, afebrile.grade) == (False, 0)
