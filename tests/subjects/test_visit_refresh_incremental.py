"""After a form save only the visits the form belongs to (before and after the write) are
re-derived, from the stored forms that can belong to them (issue 22, seventh pass): a form
entered at one of them, one entered without a visit of a type only one of them expects, or one
dated inside one of their windows. Each step is checked against the full re-derivation
(`refresh_subject`, which reads every form of the subject): it must find nothing to change."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from crf.models import EntryStatus
from crf.services import save
from labs.models import VitalSigns
from subjects import assessments
from subjects.models import BridgingTherapy, Visit
from tests.subjects.conftest import ENROLLED
from tests.subjects.test_casebook_pages import planned_today  # noqa: F401 (fixture)

pytestmark = pytest.mark.req("ISSUE-22")


def states(subject) -> dict[str, str]:
    return dict(Visit.objects.filter(subject=subject).values_list("definition__code", "forms_state"))


def complete_vital_signs(user, subject, on, visit=None) -> VitalSigns:
    return save(
        user=user,
        instance=VitalSigns(
            subject=subject,
            visit=visit,
            assessment_date=on,
            temperature_c=Decimal("37.0"),
            systolic_bp=120,
            entry_status=EntryStatus.COMPLETE,
        ),
        expected_version=None,
    )


def agrees_with_full_refresh(subject) -> bool:
    before = states(subject)
    changed = assessments.refresh_subject(subject)
    return changed == 0 and states(subject) == before


def test_a_save_re_derives_the_visits_its_form_lands_in_and_leaves(planned_today, coordinator):  # noqa: F811
    subject, _today = planned_today
    by_code = {v.definition.code: v for v in Visit.objects.filter(subject=subject).select_related("definition")}
    for code in ("D3", "D4"):  # all but the vital signs satisfied at D3 and D4
        for form in ("CRS", "ICANS", "LB"):
            assessments.mark_not_done(user=coordinator, visit=by_code[code], crf_code=form, reason="not assessed")
    assert states(subject)["D3"] == "some" and states(subject)["D4"] == "some"

    # without a visit, dated inside the windows of D2, D3 and D4 (±1 day): the nearest, D3
    vs = complete_vital_signs(coordinator, subject, by_code["D3"].planned_date)
    found = states(subject)
    assert (found["D2"], found["D3"], found["D4"]) == ("none", "all", "some")
    assert agrees_with_full_refresh(subject)

    # its date corrected to D4's: D3 loses it, D4 gains it, in the same save
    vs = VitalSigns.objects.get(pk=vs.pk)
    vs.assessment_date = by_code["D4"].planned_date
    save(user=coordinator, instance=vs, expected_version=vs.version, reason="date corrected")
    found = states(subject)
    assert (found["D3"], found["D4"]) == ("some", "all")
    assert agrees_with_full_refresh(subject)

    # entered at D6 with a date outside D6's window (D1's date): it belongs to D6 all the same
    complete_vital_signs(coordinator, subject, by_code["D1"].planned_date, visit=by_code["D6"])
    found = states(subject)
    assert (found["D1"], found["D6"]) == ("none", "some")
    assert agrees_with_full_refresh(subject)


def test_a_form_only_one_visit_expects_lands_there_whatever_its_date(planned_today, coordinator):  # noqa: F811
    """Bridging therapy: only the event-driven visit BRG expects it, and that visit has no
    window: the form is found by its type, not by a date."""
    subject, _today = planned_today
    assert states(subject)["BRG"] == "none"
    save(
        user=coordinator,
        instance=BridgingTherapy(
            subject=subject, regimen="R-GemOx", start_date=ENROLLED + timedelta(days=2), entry_status="in_progress"
        ),
        expected_version=None,
    )
    assert states(subject)["BRG"] == "some"
    assert agrees_with_full_refresh(subject)
