"""Queries (issue 3 item 3, DESIGN §4 "Queries", §4a): the life of a manual query, who may take
each step (expectations written from the §4a table), illegal transitions, freeze and lock, and
the query list with aging."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F

from crf.models import Query, QueryEvent, QueryStep
from crf.queries import (
    answer_query,
    cancel_query,
    close_query,
    queries_for,
    raise_query,
    reopen_query,
)
from crf.services import mark_entered_in_error
from tests.conftest import make_user

pytestmark = pytest.mark.req("ISSUE-3")

ROLES = ("coordinator", "investigator", "monitor", "data_manager", "statistician", "study_admin")
#: DESIGN §4a "raise / close / re-open / cancel queries"
MAY_MANAGE_QUERIES = {"monitor", "data_manager"}
#: DESIGN §4a "create/edit CRF data, answer queries"
MAY_ANSWER = {"coordinator", "investigator"}


def _steps(query: Query) -> list[tuple[str, str | None, str]]:
    return [
        (step.action, step.by.username if step.by else None, step.text)
        for step in QueryStep.objects.filter(query=query).select_related("by").order_by("at", "pk")
    ]


def _reload(query: Query) -> Query:
    return Query.objects.get(pk=query.pk)


@pytest.fixture
def manual_query(vs, users_a):
    return raise_query(
        user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Please check SBP against the chart."
    )


@pytest.fixture
def automatic_query(crf_ready, save_vs):
    """VS-DBP-GE-SBP fires on a new form: one automatic query, open."""
    form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    return Query.objects.get(object_id=form.pk, rule_code="VS-DBP-GE-SBP")


# --- the life of a manual query ------------------------------------------------------------------


def test_manual_query_raise_answer_confirmed_close_reopen_answer_corrected_close(vs, users_a, save_vs):
    monitor, coordinator, investigator = users_a["monitor"], users_a["coordinator"], users_a["investigator"]

    query = raise_query(user=monitor, form=vs, field_name="systolic_bp", text="SBP 120 looks copied from day 1.")
    query = _reload(query)
    assert (query.status, query.field_name, query.rule_code, query.value) == ("open", "systolic_bp", "", 120)
    assert (query.raised_by, query.subject, query.form) == (monitor, vs.subject, vs)

    answer_query(user=coordinator, query=query, answer=Query.Answer.CONFIRMED, text="Checked the nursing chart.")
    query = _reload(query)
    assert (query.status, query.answer, query.answer_text, query.answered_by) == (
        "answered",
        "confirmed",
        "Checked the nursing chart.",
        coordinator,
    )

    close_query(user=monitor, query=query, note="Accepted.")
    query = _reload(query)
    assert (query.status, query.closed_by, query.close_reason) == ("closed", monitor, "Accepted.")

    reopen_query(user=monitor, query=query, text="The chart of that day shows 112.")
    query = _reload(query)
    assert (query.status, query.answer, query.answered_by, query.closed_by, query.closed_at) == (
        "open",
        "",
        None,
        None,
        None,
    )

    save_vs(vs, systolic_bp=112)
    answer_query(user=investigator, query=query, answer=Query.Answer.CORRECTED, text="Transcription error.")
    query = _reload(query)
    assert (query.status, query.answer, query.answered_by) == ("answered", "corrected", investigator)

    close_query(user=monitor, query=query, note="")
    assert _reload(query).status == "closed"

    assert _steps(query) == [
        ("raised", "monitor_a", "SBP 120 looks copied from day 1."),
        ("answered", "coordinator_a", "Checked the nursing chart."),
        ("closed", "monitor_a", "Accepted."),
        ("reopened", "monitor_a", "The chart of that day shows 112."),
        ("answered", "investigator_a", "Value corrected from 120 to 112. Transcription error."),
        ("closed", "monitor_a", ""),
    ]


def test_manual_query_cancelled_by_its_raiser_is_final(vs, users_a):
    data_manager = users_a["data_manager"]
    query = raise_query(user=data_manager, form=vs, field_name="diastolic_bp", text="DBP 80: please confirm.")
    cancel_query(user=data_manager, query=query, reason="Raised on the wrong visit.")
    query = _reload(query)
    assert (query.status, query.closed_by, query.close_reason) == (
        "cancelled",
        data_manager,
        "Raised on the wrong visit.",
    )
    assert _steps(query) == [
        ("raised", "data_manager_a", "DBP 80: please confirm."),
        ("cancelled", "data_manager_a", "Raised on the wrong visit."),
    ]
    for step in (
        lambda: answer_query(user=users_a["coordinator"], query=query, answer=Query.Answer.CONFIRMED, text="ok"),
        lambda: close_query(user=data_manager, query=query, note=""),
        lambda: reopen_query(user=data_manager, query=query, text="again"),
        lambda: cancel_query(user=data_manager, query=query, reason="again"),
    ):
        with pytest.raises(ValidationError) as refused:
            step()
        assert refused.value.code == "invalid_transition"
    assert _reload(query).status == "cancelled"


def test_each_step_is_audited_with_user_role_and_reason(manual_query, users_a):
    coordinator = users_a["coordinator"]
    answer_query(user=coordinator, query=manual_query, answer=Query.Answer.CONFIRMED, text="Source re-read.")
    events = QueryEvent.objects.filter(pgh_obj_id=manual_query.pk).order_by("pgh_id")
    assert [e.pgh_label for e in events] == ["insert", "update"]
    raised, answered = (e.pgh_context for e in events)
    assert (raised["user"], raised["role"], raised["site"]) == (users_a["monitor"].pk, "monitor", "01")
    assert (answered["user"], answered["role"], answered["reason"]) == (
        coordinator.pk,
        "coordinator",
        "Source re-read.",
    )


# --- who may do what (DESIGN §4a) ---------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_who_may_raise_a_query(vs, users_a, role):
    if role in MAY_MANAGE_QUERIES:
        query = raise_query(user=users_a[role], form=vs, field_name="heart_rate", text="Heart rate missing?")
        assert _reload(query).raised_by == users_a[role]
    else:
        with pytest.raises(PermissionDenied):
            raise_query(user=users_a[role], form=vs, field_name="heart_rate", text="Heart rate missing?")
        assert Query.objects.count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_who_may_answer_a_query(manual_query, users_a, role):
    if role in MAY_ANSWER:
        answer_query(user=users_a[role], query=manual_query, answer=Query.Answer.CONFIRMED, text="As in source.")
        assert _reload(manual_query).answered_by == users_a[role]
    else:
        with pytest.raises(PermissionDenied):
            answer_query(user=users_a[role], query=manual_query, answer=Query.Answer.CONFIRMED, text="As in source.")
        assert _reload(manual_query).status == "open"


@pytest.mark.parametrize("role", ROLES)
def test_who_may_close_reopen_and_cancel_an_automatic_query(automatic_query, users_a, role):
    answer_query(
        user=users_a["coordinator"], query=automatic_query, answer=Query.Answer.CONFIRMED, text="Measured twice."
    )
    user = users_a[role]
    if role in MAY_MANAGE_QUERIES:
        close_query(user=user, query=automatic_query, note="Confirmed by site.")
        reopen_query(user=user, query=automatic_query, text="Please re-measure.")
        cancel_query(user=user, query=automatic_query, reason="Device recalibrated.")
        assert _reload(automatic_query).status == "cancelled"
    else:
        with pytest.raises(PermissionDenied):
            close_query(user=user, query=automatic_query, note="Confirmed by site.")
        with pytest.raises(PermissionDenied):
            cancel_query(user=user, query=automatic_query, reason="Device recalibrated.")
        close_query(user=users_a["data_manager"], query=automatic_query, note="Confirmed by site.")
        with pytest.raises(PermissionDenied):
            reopen_query(user=user, query=automatic_query, text="Please re-measure.")
        assert _reload(automatic_query).status == "closed"


@pytest.mark.parametrize("other", ["data_manager", "second_monitor"])
def test_only_the_raiser_closes_reopens_or_cancels_a_manual_query(manual_query, users_a, site_a, other):
    user = users_a["data_manager"] if other == "data_manager" else make_user("monitor2_a", site=site_a, role="monitor")
    with pytest.raises(PermissionDenied):
        cancel_query(user=user, query=manual_query, reason="not needed")
    answer_query(user=users_a["coordinator"], query=manual_query, answer=Query.Answer.CONFIRMED, text="As in source.")
    with pytest.raises(PermissionDenied):
        close_query(user=user, query=manual_query, note="")
    close_query(user=users_a["monitor"], query=manual_query, note="")
    with pytest.raises(PermissionDenied):
        reopen_query(user=user, query=manual_query, text="again")
    assert _reload(manual_query).status == "closed"


def test_roles_at_another_site_cannot_act_on_site_a_queries(vs, manual_query, site_b):
    monitor_b = make_user("monitor_b", site=site_b, role="monitor")
    coordinator_b = make_user("coordinator_b", site=site_b, role="coordinator")
    with pytest.raises(PermissionDenied):
        raise_query(user=monitor_b, form=vs, field_name="heart_rate", text="?")
    with pytest.raises(PermissionDenied):
        answer_query(user=coordinator_b, query=manual_query, answer=Query.Answer.CONFIRMED, text="ok")


# --- refused steps -------------------------------------------------------------------------------


@pytest.mark.parametrize("field_name", ["weight", "version", "created_by", "hypotension", "entry_status", "missing"])
def test_a_query_names_a_data_field_of_the_form(vs, users_a, field_name):
    with pytest.raises(ValidationError) as refused:
        raise_query(user=users_a["monitor"], form=vs, field_name=field_name, text="?")
    assert refused.value.message_dict == {"field_name": ["This form has no such field to query."]}


def test_a_query_needs_text(vs, users_a):
    with pytest.raises(ValidationError) as refused:
        raise_query(user=users_a["monitor"], form=vs, field_name="heart_rate", text="   ")
    assert refused.value.message_dict == {"text": ["Write the query text."]}


def test_no_query_on_a_form_entered_in_error(vs, users_a):
    mark_entered_in_error(user=users_a["coordinator"], instance=vs, expected_version=vs.version, reason="wrong subject")
    with pytest.raises(ValidationError) as refused:
        raise_query(user=users_a["monitor"], form=vs, field_name="heart_rate", text="?")
    assert refused.value.messages == ["This form was marked entered in error: queries cannot be raised on it."]


def test_illegal_transitions_are_refused_with_a_clear_message(manual_query, users_a):
    monitor, coordinator = users_a["monitor"], users_a["coordinator"]
    with pytest.raises(ValidationError) as refused:
        close_query(user=monitor, query=manual_query, note="")
    assert refused.value.messages == ["Only an answered query can be closed; cancel it if it is no longer needed."]
    with pytest.raises(ValidationError) as refused:
        reopen_query(user=monitor, query=manual_query, text="again")
    assert refused.value.messages == ["Only a closed query can be re-opened."]

    answer_query(user=coordinator, query=manual_query, answer=Query.Answer.CONFIRMED, text="As in source.")
    with pytest.raises(ValidationError) as refused:
        answer_query(user=coordinator, query=manual_query, answer=Query.Answer.CONFIRMED, text="Again.")
    assert refused.value.messages == ["Only an open query can be answered."]

    close_query(user=monitor, query=manual_query, note="")
    with pytest.raises(ValidationError) as refused:
        cancel_query(user=monitor, query=manual_query, reason="late")
    assert refused.value.messages == ["Only an open or answered query can be cancelled."]
    assert {e.code for e in [refused.value]} == {"invalid_transition"}
    assert [s[0] for s in _steps(manual_query)] == ["raised", "answered", "closed"]


def test_confirming_needs_a_reason(manual_query, users_a):
    with pytest.raises(ValidationError) as refused:
        answer_query(user=users_a["coordinator"], query=manual_query, answer=Query.Answer.CONFIRMED, text=" ")
    assert refused.value.message_dict == {"text": ["Give the reason the value is correct as entered."]}
    assert _reload(manual_query).status == "open"


def test_corrected_means_the_form_was_saved_after_the_query(manual_query, users_a, vs, save_vs):
    coordinator = users_a["coordinator"]
    with pytest.raises(ValidationError) as refused:
        answer_query(user=coordinator, query=manual_query, answer=Query.Answer.CORRECTED, text="")
    assert refused.value.messages == [
        "The form has not been saved since this query was raised: correct the value on the form first."
    ]
    save_vs(vs, systolic_bp=118)
    answer_query(user=coordinator, query=manual_query, answer=Query.Answer.CORRECTED, text="")
    assert _steps(manual_query)[-1] == ("answered", "coordinator_a", "Value corrected from 120 to 118.")


def test_reopening_an_automatic_query_is_refused_while_a_newer_one_is_active(automatic_query, users_a, save_vs):
    answer_query(user=users_a["coordinator"], query=automatic_query, answer=Query.Answer.CONFIRMED, text="Twice.")
    close_query(user=users_a["data_manager"], query=automatic_query, note="")
    save_vs(automatic_query.form, diastolic_bp=96)  # still fires, a different value: a new query
    assert Query.objects.filter(rule_code="VS-DBP-GE-SBP", status="open").count() == 1
    with pytest.raises(ValidationError) as refused:
        reopen_query(user=users_a["data_manager"], query=automatic_query, text="again")
    assert refused.value.messages == ["A newer query on this rule and field is still open: answer that one."]


# --- freeze and lock ----------------------------------------------------------------------------


def test_a_freeze_allows_query_steps(vs, users_a, data_lock):
    data_lock("freeze")
    monitor, coordinator = users_a["monitor"], users_a["coordinator"]
    query = raise_query(user=monitor, form=vs, field_name="systolic_bp", text="Please check.")
    answer_query(user=coordinator, query=query, answer=Query.Answer.CONFIRMED, text="As in source.")
    close_query(user=monitor, query=query, note="")
    reopen_query(user=monitor, query=query, text="Look again.")
    cancel_query(user=monitor, query=query, reason="Agreed at the visit.")
    assert [s[0] for s in _steps(query)] == ["raised", "answered", "closed", "reopened", "cancelled"]


@pytest.mark.parametrize("scope", ["study", "subject", "form"])
def test_a_lock_refuses_query_steps(vs, manual_query, users_a, data_lock, scope):
    data_lock("lock", subject=vs.subject if scope == "subject" else None, form=vs if scope == "form" else None)
    monitor, coordinator = users_a["monitor"], users_a["coordinator"]
    for step in (
        lambda: raise_query(user=monitor, form=vs, field_name="heart_rate", text="?"),
        lambda: answer_query(user=coordinator, query=manual_query, answer=Query.Answer.CONFIRMED, text="ok"),
        lambda: cancel_query(user=monitor, query=manual_query, reason="no"),
    ):
        with pytest.raises(ValidationError) as refused:
            step()
        assert refused.value.messages == ["This form is locked: no changes are possible."]
    assert Query.objects.count() == 1
    assert _steps(manual_query) == [("raised", "monitor_a", "Please check SBP against the chart.")]


def test_a_lifted_lock_no_longer_refuses(vs, manual_query, users_a, data_lock):
    from django.utils import timezone

    lock = data_lock("lock")
    lock.lifted_at = timezone.now()
    lock.lifted_by = users_a["data_manager"]
    lock.lift_reason = "database re-opened"
    lock.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    answer_query(user=users_a["coordinator"], query=manual_query, answer=Query.Answer.CONFIRMED, text="ok")
    assert _reload(manual_query).status == "answered"


# --- the query list ----------------------------------------------------------------------------


def test_query_list_goes_through_the_visibility_gate(manual_query, users_a, site_b, crf_ready, study):
    monitor_b = make_user("monitor_b", site=site_b, role="monitor")
    seen = {role: [q.pk for q in queries_for(users_a[role])] for role in ROLES}
    assert seen == {
        "coordinator": [manual_query.pk],
        "investigator": [manual_query.pk],
        "monitor": [manual_query.pk],
        "data_manager": [manual_query.pk],
        "statistician": [],
        "study_admin": [],
    }
    assert list(queries_for(monitor_b)) == []


def test_query_list_shows_aging_and_filters(manual_query, automatic_query, users_a):
    monitor = users_a["monitor"]
    answer_query(user=users_a["coordinator"], query=automatic_query, answer=Query.Answer.CONFIRMED, text="Twice.")
    close_query(user=monitor, query=automatic_query, note="")
    Query.objects.filter(pk=automatic_query.pk).update(closed_at=F("raised_at") + timedelta(days=2, hours=23))
    now = manual_query.raised_at + timedelta(days=5, hours=1)

    listed = {q.pk: (q.status, q.days_open) for q in queries_for(monitor, now=now)}
    assert listed == {manual_query.pk: ("open", 5), automatic_query.pk: ("closed", 2)}
    active = [q.pk for q in queries_for(monitor, statuses=["open", "answered"], now=now)]
    assert active == [manual_query.pk]
    on_form = [q.pk for q in queries_for(monitor, form=automatic_query.form)]
    assert on_form == [automatic_query.pk]


def test_query_list_costs_a_fixed_number_of_queries(manual_query, automatic_query, users_a, django_assert_num_queries):
    monitor = users_a["monitor"]
    with django_assert_num_queries(2):
        rows = [(q.subject.site.code, q.raised_by, q.days_open) for q in queries_for(monitor)]
    assert len(rows) == 2
