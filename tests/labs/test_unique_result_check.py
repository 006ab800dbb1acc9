"""One result per analyte and collection (the conditional unique constraint on LabResult), checked
by the save path's own SQL (issue 22, eighth pass: `crf.services._validate_constraints`) instead
of Django's `Q.check` compiled on every save: the same refusals, with Django's message and code,
and the same passes (another analyte, time or subject; a result entered in error; an edit of
the result itself)."""

from __future__ import annotations

from datetime import time
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from crf.services import _validate_constraints, mark_entered_in_error, save
from labs.models import LabResult
from tests.labs.test_lab_results import DRAWN, result

pytestmark = pytest.mark.req("ISSUE-22")


@pytest.fixture
def coordinator(users_a):
    return users_a["coordinator"]


def django_refusal(instance: LabResult, exclude: set[str]) -> ValidationError | None:
    try:
        instance.validate_constraints(exclude=exclude)
    except ValidationError as exc:
        return exc
    return None


def ours(instance: LabResult, exclude: set[str]) -> ValidationError | None:
    try:
        _validate_constraints(instance, exclude)
    except ValidationError as exc:
        return exc
    return None


def same_collection(subject) -> LabResult:  # type: ignore[no-untyped-def]
    """An unsaved ANC of the collection `result(…, collected_time=08:00)` stored."""
    return LabResult(
        subject=subject,
        collected_on=DRAWN,
        collected_time=time(8, 0),
        panel="CBC",
        analyte="ANC",
        value=D("2.0"),
        unit="10^9/L",
    )


def test_a_second_result_of_the_same_collection_is_refused_as_django_refuses_it(coordinator, subject_a):
    result(coordinator, subject_a, collected_time=time(8, 0))
    twin = same_collection(subject_a)
    ours_refusal, djangos = ours(twin, set()), django_refusal(twin, set())
    assert ours_refusal is not None and djangos is not None
    assert ours_refusal.message_dict == djangos.message_dict
    assert [e.code for e in ours_refusal.error_dict["__all__"]] == [e.code for e in djangos.error_dict["__all__"]]
    with pytest.raises(ValidationError) as refused:
        save(user=coordinator, instance=twin, expected_version=None)
    assert refused.value.message_dict == djangos.message_dict
    assert LabResult.objects.filter(subject=subject_a).count() == 1


def test_no_time_on_both_is_the_same_collection(coordinator, subject_a):
    """nulls_distinct=False: two results of one day without a time collide."""
    result(coordinator, subject_a)
    with pytest.raises(ValidationError):
        result(coordinator, subject_a, value=D("2.0"))
    assert LabResult.objects.filter(subject=subject_a).count() == 1


@pytest.mark.parametrize(
    "other",
    [
        {"analyte": "WBC", "value": D("4.0")},
        {"collected_time": time(9, 0)},
        {"collected_time": None},
    ],
)
def test_another_analyte_or_time_is_another_result(coordinator, subject_a, other):
    result(coordinator, subject_a, collected_time=time(8, 0))
    second = result(coordinator, subject_a, **{"collected_time": time(8, 0), **other})
    assert second.pk is not None
    assert LabResult.objects.filter(subject=subject_a).count() == 2


def test_a_result_entered_in_error_does_not_count_and_an_edit_does_not_collide_with_itself(coordinator, subject_a):
    first = result(coordinator, subject_a, collected_time=time(8, 0))
    mark_entered_in_error(user=coordinator, instance=first, expected_version=first.version, reason="wrong subject")
    again = result(coordinator, subject_a, collected_time=time(8, 0), value=D("2.2"))
    again.value = D("2.4")
    edited = save(user=coordinator, instance=again, expected_version=again.version, reason="typo")
    assert edited.value == D("2.4")
    # the one entered in error is outside the condition: nothing to check for it, as Django
    first.refresh_from_db()
    assert ours(first, set()) is None and django_refusal(first, set()) is None


def test_an_excluded_field_is_not_checked(coordinator, subject_a):
    result(coordinator, subject_a, collected_time=time(8, 0))
    twin = same_collection(subject_a)
    assert ours(twin, {"analyte"}) is None and django_refusal(twin, {"analyte"}) is None
    assert ours(twin, {"entered_in_error"}) is None and django_refusal(twin, {"entered_in_error"}) is None
