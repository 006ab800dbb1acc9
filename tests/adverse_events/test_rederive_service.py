"""Re-derivation after day 0 moves goes through crf.rederive (issue 22 item 1): a locked form
whose study days would move refuses the infusion save, naming the form; a frozen one keeps its
values with a query saying why; the graph of declared consequences can be listed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from adverse_events.models import CrsEpisode
from crf import locks, rederive
from crf.models import Query
from crf.rederive import FROZEN_RULE
from subjects.models import Infusion
from tests.adverse_events.conftest import day
from tests.adverse_events.test_adverse_events import record_ae
from tests.adverse_events.test_crs import enter_crs
from tests.subjects.test_treatment_forms import SHANGHAI_0730, infuse

pytestmark = pytest.mark.req("ISSUE-22")


def earlier_split_dose(user, subject):
    """A split dose given the day before the recorded infusion: day 0 moves one day earlier."""
    return infuse(user, subject, infusion_start=SHANGHAI_0730 - timedelta(days=1), bag_id="BAG-0")


def test_a_locked_form_whose_study_day_would_move_refuses_the_infusion(infused, coordinator, users_a):
    subject = infused()
    ae = record_ae(coordinator, subject, onset_date=day(3))
    assert ae.onset_study_day == 3
    locks.set_data_lock(user=users_a["data_manager"], kind="lock", study=subject.site.study, form=ae, reason="SAE")
    with pytest.raises(ValidationError) as refused:
        earlier_split_dose(coordinator, subject)
    assert refused.value.code == "dependant_locked"
    assert "locked" in refused.value.messages[0] and "adverse event" in refused.value.messages[0].lower()
    assert Infusion.objects.filter(subject=subject).count() == 1
    ae.refresh_from_db()
    assert (ae.onset_study_day, ae.version) == (3, 1)


def test_a_frozen_form_keeps_its_study_day_with_a_query(infused, coordinator, users_a):
    subject = infused()
    ae = record_ae(coordinator, subject, onset_date=day(3))
    locks.set_data_lock(user=users_a["data_manager"], kind="freeze", study=subject.site.study, form=ae, reason="SAE")
    earlier_split_dose(coordinator, subject)
    subject.refresh_from_db()
    assert subject.infusion_date == day(-1)
    ae.refresh_from_db()
    assert (ae.onset_study_day, ae.version) == (3, 1)
    query = Query.objects.get(object_id=ae.pk, rule_code=FROZEN_RULE)
    assert "frozen" in query.text and "3 → 4" in query.text


def test_the_unlocked_forms_move_with_day0_and_their_edit_checks_run(infused, coordinator):
    subject = infused()
    ae = record_ae(coordinator, subject, onset_date=day(3))
    earlier_split_dose(coordinator, subject)
    ae.refresh_from_db()
    assert (ae.onset_study_day, ae.version) == (4, 2)


def test_show_derivations_lists_the_graph(capsys):
    call_command("show_derivations")
    out = capsys.readouterr().out
    assert "adverse_events.CrsAssessment" in out
    assert "labs.LabResult" in out
    assert "subjects.Infusion" in out


def test_day0_moves_the_crs_course_once_through_the_safety_apps_hook(infused, coordinator, login, client):
    """subjects/ moves day 0 and the safety app re-derives the CRS course through the hook
    subjects.hooks.day0_moved: the assessment's study day and its episode's onset move, with one
    audited write."""
    subject = infused()
    login(coordinator)
    crs = enter_crs(client, subject, day(3), tmax_c="38.4")
    assert (crs.study_day, crs.version) == (3, 1)
    earlier_split_dose(coordinator, subject)
    crs.refresh_from_db()
    assert (crs.study_day, crs.grade, crs.version) == (4, 1, 2)
    assert list(crs.events.order_by("pgh_id").values_list("study_day", flat=True)) == [3, 4]
    (episode,) = CrsEpisode.objects.filter(subject=subject, superseded=False)
    assert episode.onset_day == 4


def test_the_graph_draws_what_day0_re_derives():
    edges = {e.through.rsplit(".", 1)[1]: e for e in rederive.graph() if e.source == "subjects.Infusion"}
    form_by_form = edges["reanchor_day0"].dependants
    assert form_by_form[0] == "subjects.Visit"
    assert {"adverse_events.AdverseEvent", "labs.LabResult", "response.MarrowAssessment"} <= set(form_by_form)
    assert not {"adverse_events.CrsAssessment", "adverse_events.IcansAssessment", "subjects.Infusion"} & set(
        form_by_form
    )
    assert edges["rederive_from_day0"].dependants[:4] == (
        "adverse_events.CrsAssessment",
        "adverse_events.CrsEpisode",
        "adverse_events.IcansAssessment",
        "adverse_events.IcansEpisode",
    )


def test_a_dependant_written_since_it_was_read_fails_the_re_derivation_and_keeps_its_values(infused, coordinator):
    """The compare-and-set of `rederive` (one compiled versioned UPDATE, `update_with_version`):
    a dependant changed by someone else since it was read is not overwritten; the re-derivation
    fails with the stale-version error, naming the version now stored."""
    from adverse_events.models import AdverseEvent
    from crf.services import StaleVersionError

    subject = infused()
    ae = record_ae(coordinator, subject, onset_date=day(3))
    read = AdverseEvent.objects.get(pk=ae.pk)  # version 1, as a re-derivation read it
    assert rederive.update_with_version(AdverseEvent, pk=ae.pk, expected_version=1, verbatim="headache, worse") == 1
    with pytest.raises(StaleVersionError) as refused:
        rederive.rederive(forms=[read], values=lambda _form: {"onset_study_day": 9}, reason="test", user=coordinator)
    assert refused.value.current.version == 2
    ae.refresh_from_db()
    assert (ae.onset_study_day, ae.verbatim, ae.version) == (3, "headache, worse", 2)
    # read again, the same re-derivation writes
    fresh = AdverseEvent.objects.get(pk=ae.pk)
    assert rederive.rederive(forms=[fresh], values=lambda _form: {"onset_study_day": 9}, reason="t", user=coordinator)
    ae.refresh_from_db()
    assert (ae.onset_study_day, ae.version) == (9, 3)
