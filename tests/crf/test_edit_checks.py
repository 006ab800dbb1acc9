"""Edit-check runner (issue 3 item 3, DESIGN §4 "Queries"): every save runs the form's rules;
one automatic query per rule and field, never a duplicate; auto-close when the rule stops
firing; a value the site confirmed and a monitor or data manager closed is not queried again,
a changed value is."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from crf import checks, declarations
from crf.checks import EditCheck, jsonable
from crf.declarations import declaration_for
from crf.models import Query, QueryStep
from crf.queries import answer_query, close_query, raise_query
from crf.services import mark_entered_in_error
from labs.models import VitalSigns

pytestmark = pytest.mark.req("ISSUE-3")

DBP_MESSAGE = "Diastolic pressure is not below systolic pressure. Please check both values."


def _queries(rule: str = "VS-DBP-GE-SBP") -> list[tuple[str, object, str]]:
    """(status, value, answer) of the rule's queries, oldest first."""
    return [(q.status, q.value, q.answer) for q in Query.objects.filter(rule_code=rule).order_by("raised_at", "pk")]


def _steps(query: Query) -> list[tuple[str, str | None]]:
    return [
        (s.action, s.by.username if s.by else None)
        for s in QueryStep.objects.filter(query=query).select_related("by").order_by("at", "pk")
    ]


def _confirm_and_close(query: Query, users_a, *, closer: str = "data_manager") -> None:
    answer_query(user=users_a["coordinator"], query=query, answer=Query.Answer.CONFIRMED, text="Measured twice.")
    close_query(user=users_a[closer], query=query, note="Site confirmed.")


def test_a_firing_rule_raises_exactly_one_automatic_query(crf_ready, save_vs):
    form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    query = Query.objects.get()
    assert (query.rule_code, query.field_name, query.status, query.value, query.raised_by) == (
        "VS-DBP-GE-SBP",
        "diastolic_bp",
        "open",
        95,
        None,
    )
    assert (query.subject, query.form, query.text) == (crf_ready, form, DBP_MESSAGE)
    assert _steps(query) == [("raised", None)]


def test_saving_again_while_the_rule_fires_raises_no_duplicate(crf_ready, save_vs):
    form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    form = save_vs(form, heart_rate=88)
    form = save_vs(form, diastolic_bp=97)
    assert form.version == 3
    assert _queries() == [("open", 95, "")]
    assert Query.objects.count() == 1


def test_fixing_the_value_closes_the_query_automatically(crf_ready, save_vs):
    form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    save_vs(form, diastolic_bp=60)
    query = Query.objects.get()
    assert (query.status, query.closed_by, query.close_reason) == ("closed", None, "The rule no longer fires.")
    assert _steps(query) == [("raised", None), ("auto_closed", None)]


def test_an_auto_closed_query_is_raised_afresh_when_the_rule_fires_again(crf_ready, save_vs):
    form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    form = save_vs(form, diastolic_bp=60)
    save_vs(form, diastolic_bp=95)
    assert _queries() == [("closed", 95, ""), ("open", 95, "")]


@pytest.mark.parametrize("closer", ["data_manager", "monitor"])
def test_a_confirmed_value_closed_by_a_monitor_or_data_manager_stays_closed(crf_ready, save_vs, users_a, closer):
    form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95, entry_status="complete")
    _confirm_and_close(Query.objects.get(), users_a, closer=closer)

    form = save_vs(form, heart_rate=72, reason="heart rate added from the chart")
    form = save_vs(form, temperature_c=Decimal("37.2"), reason="temperature added")
    assert form.version == 3
    assert _queries() == [("closed", 95, "confirmed")]

    save_vs(form, diastolic_bp=92, reason="re-measured")  # changed, still fires
    assert _queries() == [("closed", 95, "confirmed"), ("open", 92, "")]


def test_a_value_changed_after_confirmation_reopens_the_query(crf_ready, save_vs, users_a):
    form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    query = Query.objects.get()
    answer_query(user=users_a["coordinator"], query=query, answer=Query.Answer.CONFIRMED, text="Measured twice.")
    save_vs(form, diastolic_bp=93)  # still fires: 95 was confirmed, 93 was not
    assert _queries() == [("open", 93, "")]
    assert _steps(query) == [("raised", None), ("answered", "coordinator_a"), ("reopened", None)]


def test_a_confirmation_closed_automatically_does_not_silence_the_rule(crf_ready, save_vs, users_a):
    form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    answer_query(
        user=users_a["coordinator"], query=Query.objects.get(), answer=Query.Answer.CONFIRMED, text="Measured twice."
    )
    form = save_vs(form, diastolic_bp=60)  # the rule stops firing: closed by the runner, not a person
    save_vs(form, diastolic_bp=95)
    assert _queries() == [("closed", 95, "confirmed"), ("open", 95, "")]


def test_a_confirmed_decimal_value_matches_however_it_was_typed(crf_ready, save_vs, users_a):
    form = save_vs(subject=crf_ready, temperature_c=Decimal("42"))
    query = Query.objects.get(rule_code="VS-TEMP-HIGH")
    assert query.value == "42"
    _confirm_and_close(query, users_a)
    save_vs(form, heart_rate=90)
    assert _queries("VS-TEMP-HIGH") == [("closed", "42", "confirmed")]


def test_decimal_values_are_stored_in_one_form():
    assert [jsonable(Decimal(v)) for v in ("42", "42.0", "42.00", "4.2E+1", "41.6", "100", "0.0", "-0")] == [
        "42",
        "42",
        "42",
        "42",
        "41.6",
        "100",
        "0",
        "0",
    ]


def test_a_confirmed_blank_value_stays_closed(crf_ready, save_vs, users_a, monkeypatch):
    """A rule may fire on a missing value: a confirmed blank (SQL NULL on the query) must match."""
    missing_hr = EditCheck(
        code="TEST-HR-MISSING",
        field="heart_rate",
        message="Heart rate missing.",
        fires=lambda vs: vs.heart_rate is None,
    )
    declared = declaration_for(VitalSigns)
    monkeypatch.setitem(declarations._declared, VitalSigns, replace(declared, checks=(*declared.checks, missing_hr)))
    form = save_vs(subject=crf_ready)
    query = Query.objects.get(rule_code="TEST-HR-MISSING")
    assert query.value is None
    _confirm_and_close(query, users_a)
    save_vs(form, temperature_c=Decimal("37.5"))
    assert _queries("TEST-HR-MISSING") == [("closed", None, "confirmed")]


def test_the_database_refuses_a_second_active_automatic_query(crf_ready, save_vs, users_a):
    form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    first = Query.objects.get()

    def duplicate(**overrides) -> Query:
        values = {
            "subject": first.subject,
            "content_type": first.content_type,
            "object_id": first.object_id,
            "field_name": "diastolic_bp",
            "rule_code": "VS-DBP-GE-SBP",
            "text": "duplicate",
            "value": 95,
            "raised_at": timezone.now(),
            **overrides,
        }
        return Query.objects.create(**values)

    for status in ("open", "answered"):
        with pytest.raises(IntegrityError), transaction.atomic():
            duplicate(status=status)
    # Closed or cancelled ones, other rules and manual queries are not constrained.
    duplicate(status="closed")
    duplicate(status="cancelled")
    duplicate(rule_code="VS-OTHER")
    duplicate(rule_code="", raised_by=users_a["monitor"])
    duplicate(rule_code="", raised_by=users_a["monitor"])
    assert Query.objects.filter(object_id=form.pk).count() == 6


def test_entered_in_error_cancels_the_open_queries_and_stops_the_checks(crf_ready, save_vs, users_a):
    form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95, temperature_c=Decimal("41.8"))
    manual = raise_query(user=users_a["monitor"], form=form, field_name="heart_rate", text="Heart rate?")
    answer_query(user=users_a["coordinator"], query=manual, answer=Query.Answer.CONFIRMED, text="Not measured.")
    assert Query.objects.filter(status__in=["open", "answered"]).count() == 3

    mark_entered_in_error(
        user=users_a["coordinator"], instance=form, expected_version=form.version, reason="wrong subject"
    )
    assert sorted(Query.objects.values_list("rule_code", "status")) == [
        ("", "cancelled"),
        ("VS-DBP-GE-SBP", "cancelled"),
        ("VS-TEMP-HIGH", "cancelled"),
    ]
    for query in Query.objects.all():
        assert _steps(query)[-1] == ("cancelled", "coordinator_a")
    assert checks.run_edit_checks(VitalSigns.objects.get(pk=form.pk)) == []
    assert Query.objects.count() == 3
