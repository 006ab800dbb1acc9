"""ICANS assessments, episodes and their AE (CLINICAL_SPEC §2; issue 8 item 3): every ICANS
worked example of §8 entered on the form page and the stored grade read back; CAPD for a child
under the configured age (and the instrument chosen per assessment); "not evaluable" as its own
state, never grade 4, counted as not assessed; the system-owned AE coded as "Nervous system
disorders - Other, specify" with verbatim "ICANS"; grade in source and adjudication."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from adverse_events.models import AdverseEvent, IcansAssessment, IcansEpisode
from crf.models import Query
from tests.adverse_events.conftest import day
from tests.adverse_events.test_adverse_events import record_ae

pytestmark = pytest.mark.req("ISSUE-8")

ICE_ORDER = (("ice_orientation", 4), ("ice_naming", 3), ("ice_following_commands", 1), ("ice_writing", 1))


def ice(total: int) -> dict[str, str]:
    """ICE items adding up to `total` (orientation first, counting backwards last)."""
    items, left = {}, total
    for name, maximum in (*ICE_ORDER, ("ice_counting_backwards", 1)):
        items[name] = str(min(left, maximum))
        left -= min(left, maximum)
    return items


def capd(total: int) -> dict[str, str]:
    """CAPD answers giving `total`: items 1–4 "always" (reverse-scored, 0 points), 5–8 the rest."""
    answers = {f"capd_{n}": "4" for n in range(1, 5)}
    left = total
    for n in range(5, 9):
        answers[f"capd_{n}"] = str(min(left, 4))
        left -= min(left, 4)
    return answers


def icans_post(on: date, **values) -> dict[str, object]:
    data: dict[str, object] = {
        "assessment_date": on.isoformat(),
        "encephalopathy_state": "scored",
        "language": "zh",
        "consciousness": "alert",
        "seizure": "none",
        "motor": "none",
        "raised_icp": "none",
    }
    data.update(values)
    return data


def enter_icans(client, subject, on, **values) -> IcansAssessment:
    before = set(IcansAssessment.objects.filter(subject=subject).values_list("pk", flat=True))
    response = client.post(f"/subjects/{subject.pk}/forms/ICANS/new/", icans_post(on, **values))
    assert response.status_code == 302, response.content.decode()[:3000]
    (new,) = set(IcansAssessment.objects.filter(subject=subject).values_list("pk", flat=True)) - before
    return IcansAssessment.objects.get(pk=new)


ADULT = [
    ("ICE 10, alert", {**ice(10)}, 0),
    ("ICE 7", {**ice(7)}, 1),
    ("ICE 6", {**ice(6)}, 2),
    ("ICE 3", {**ice(3)}, 2),
    ("ICE 2", {**ice(2)}, 3),
    ("ICE 0 awake with global aphasia", {**ice(0)}, 3),
    ("ICE 0 unarousable", {"encephalopathy_state": "unable", "consciousness": "unarousable"}, 4),
    ("ICE 8 awakening only to touch", {**ice(8), "consciousness": "awakens_only_to_touch"}, 3),
    ("ICE 9 with a brief generalized seizure", {**ice(9), "seizure": "resolving"}, 3),
    ("non-convulsive status > 5 min", {**ice(10), "seizure": "prolonged_or_repeated"}, 4),
    ("new hemiparesis", {**ice(10), "motor": "deep_focal_weakness"}, 4),
    ("focal oedema on MRI", {**ice(10), "raised_icp": "focal_oedema"}, 3),
    ("tremor only", {**ice(10)}, 0),
]


@pytest.mark.parametrize(("example", "values", "grade"), ADULT, ids=[row[0] for row in ADULT])
def test_adult_worked_examples_through_the_form_page(infused, coordinator, login, example, values, grade):
    """CLINICAL_SPEC §8 ICANS, on day 2; ICE is the default instrument from age 12."""
    subject = infused()
    stored = enter_icans(login(coordinator), subject, day(2), **values)
    assert (stored.grade, stored.instrument_used, stored.criteria, stored.study_day) == (grade, "ice", "ASTCT-2019", 2)
    assert IcansEpisode.objects.filter(subject=subject).count() == (1 if grade else 0)


CHILD = [
    ("CAPD 5, alert", {**capd(5)}, 1, 5),
    ("CAPD 6, awakens to voice", {**capd(6), "consciousness": "awakens_to_voice"}, 2, 6),
    ("CAPD 12", {**capd(12)}, 3, 12),
]


@pytest.mark.parametrize(("example", "values", "grade", "total"), CHILD, ids=[row[0] for row in CHILD])
def test_child_worked_examples_use_capd_by_age(infused, coordinator, login, example, values, grade, total):
    """§8: child 7 years; CAPD below the configured age (default 12, §2.3)."""
    subject = infused(born=date(2019, 1, 1))
    stored = enter_icans(login(coordinator), subject, day(2), **values)
    assert (stored.age_years, stored.instrument_used, stored.instrument_total, stored.grade) == (
        7,
        "capd",
        total,
        grade,
    )


def test_instrument_chosen_per_assessment_overrides_the_age_default(infused, coordinator, login):
    subject = infused(born=date(2019, 1, 1))
    stored = enter_icans(login(coordinator), subject, day(2), instrument="ice", **ice(6))
    assert (stored.instrument_used, stored.instrument_total, stored.grade) == ("ice", 6, 2)


def test_missing_items_and_two_instruments_are_refused(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    partial = {k: v for k, v in ice(8).items() if k != "ice_writing"}
    response = client.post(f"/subjects/{subject.pk}/forms/ICANS/new/", icans_post(day(2), **partial))
    assert "Score all five ICE items" in response.content.decode()
    both = client.post(f"/subjects/{subject.pk}/forms/ICANS/new/", icans_post(day(2), **ice(8), **capd(3)))
    assert "Record the items of one instrument" in both.content.decode()
    assert not IcansAssessment.objects.filter(subject=subject).exists()


def test_not_evaluable_is_its_own_state_and_not_an_assessed_day(infused, coordinator, login):
    """§2.1/§2.3: intubated → "not evaluable" (never 0, never 4); such a day neither ends nor
    extends an episode."""
    subject = infused()
    client = login(coordinator)
    enter_icans(client, subject, day(2), **ice(6))
    intubated = enter_icans(client, subject, day(3), encephalopathy_state="intubated", consciousness="unarousable")
    assert (intubated.grade, intubated.evaluable, intubated.instrument_total) == (None, False, None)
    enter_icans(client, subject, day(4), **ice(8))
    enter_icans(client, subject, day(5), **ice(10))
    (episode,) = IcansEpisode.objects.filter(subject=subject)
    assert (episode.onset_day, episode.duration_days, episode.derived_grade, episode.resolved_date) == (2, 3, 2, day(5))
    ae = AdverseEvent.objects.get(icans_episode=episode)
    assert (ae.ctcae_term, ae.verbatim, ae.grade, ae.grade_scale) == (
        "Nervous system disorders - Other, specify",
        "ICANS",
        2,
        "ASTCT-2019",
    )


def test_live_icans_grade_and_not_evaluable(infused, coordinator, login):
    subject = infused()
    client = login(coordinator)
    live = client.post(f"/safety/subjects/{subject.pk}/icans/live-grade/", icans_post(day(2), **ice(2)))
    assert 'data-live-grade="3"' in live.content.decode()
    sedated = client.post(
        f"/safety/subjects/{subject.pk}/icans/live-grade/",
        icans_post(day(2), encephalopathy_state="sedated_for_other_reason"),
    )
    assert 'data-live-grade="not_evaluable"' in sedated.content.decode()


def test_icans_ae_by_hand_refused_and_source_grade_query(infused, coordinator, investigator, login):
    subject = infused()
    client = login(coordinator)
    enter_icans(client, subject, day(2), **ice(6))
    episode = IcansEpisode.objects.get(subject=subject)
    with pytest.raises(ValidationError) as caught:
        record_ae(
            coordinator,
            subject,
            ctcae_term="Nervous system disorders - Other, specify",
            verbatim="icans",
            grade=2,
            onset_date=day(2),
        )
    assert "ICANS is not entered by hand" in caught.value.message_dict["ctcae_term"][0]
    page = f"/safety/subjects/{subject.pk}/episodes/icans/{episode.pk}/"
    assert client.post(page, {"action": "source", "version": episode.version, "source_grade": "1"}).status_code == 302
    assert Query.objects.get(object_id=episode.pk, rule_code="ICANS-SOURCE-GRADE").status == "open"
    client.logout()
    client = login(investigator)
    episode.refresh_from_db()
    response = client.post(
        page, {"action": "adjudicate", "version": episode.version, "grade": "1", "reason": "ICE 6 was a typing error"}
    )
    assert response.status_code == 302
    assert AdverseEvent.objects.get(icans_episode=episode).grade == 1
