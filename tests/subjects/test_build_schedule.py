"""Study build, the visit schedule (issue 27 item 1; CLINICAL_SPEC §7 "every time point is a
setting", §7.1): the study admin publishes a new schedule version (target day, window before /
after, expected forms, a new visit) with an effective date on a page (DESIGN §4a: study admin
only). Visits planned on or after the date follow it, earlier ones keep the version they were
planned under; the change re-derives the planned dates, windows, due/overdue state and
out-of-window queries through crf.rederive, audited."""

from __future__ import annotations

from datetime import date

import pytest

from clinical.schedule import VisitState
from crf.models import Query, QueryStatus
from crf.rederive import graph
from study.models import AssessmentSchedule, VisitDefinition, VisitSchedule
from study.roles import Role
from subjects.models import Visit
from subjects.services import visits
from tests.subjects.conftest import PLANNED_INFUSION

pytestmark = pytest.mark.req("ISSUE-27")

URL = "/admin/schedule/"
PLANNED = PLANNED_INFUSION  # day 0: D7 on 03-27, D21 on 04-10, D28 on 04-17 (conftest `planned`)


def _post(study, **overrides) -> dict[str, object]:
    """The form as the page fills it (the schedule as set up), with `overrides`."""
    from demo.definition import assessment_matrix

    matrix = assessment_matrix()["visits"]
    data: dict[str, object] = {"effective_from": "2026-04-01", "reason": "amendment 2"}
    for d in VisitDefinition.objects.filter(study=study):
        if d.day is not None:
            data[f"{d.code}-day"] = str(d.day)
        data[f"{d.code}-window_before"] = str(d.window_before)
        data[f"{d.code}-window_after"] = str(d.window_after)
        data[f"{d.code}-forms"] = list(matrix.get(d.code, []))
    data.update(overrides)
    return data


def visit(subject, code):
    return Visit.objects.select_related("definition").get(subject=subject, definition__code=code)


def test_only_the_study_admin_reaches_the_schedule_page(planned, study, users_a, login, client):
    for role in Role:
        client.logout()
        login(users_a[role.value])
        expected = 200 if role == Role.STUDY_ADMIN else 403
        assert client.get(URL).status_code == expected, role
        answer = client.post(URL, _post(study, **{"D28-window_after": "5"}))
        assert answer.status_code == (302 if role == Role.STUDY_ADMIN else 403), role
    assert VisitSchedule.objects.filter(study=study).count() == 1


def test_a_new_version_re_derives_the_visits_it_governs(planned, study, users_a, coordinator, login, client):
    """Amendment effective 2026-04-01: D28 window ±3 → −3/+7 and D21 moves to day 22 (±3);
    D7 (planned 03-27, before the date) keeps the set-up window ±1."""
    d28 = visit(planned, "D28")
    assert (d28.planned_date, d28.window.latest) == (date(2026, 4, 17), date(2026, 4, 20))
    assert d28.state(date(2026, 4, 21)) == VisitState.OVERDUE
    login(users_a["study_admin"])
    answer = client.post(
        URL,
        _post(study, **{"D28-window_after": "7", "D21-day": "22", "D7-window_after": "4"}),
    )
    assert answer.status_code == 302, answer.context["form"].errors if answer.context else ""
    d28, d21, d7 = visit(planned, "D28"), visit(planned, "D21"), visit(planned, "D7")
    assert (d28.window_after, d28.schedule_version, d28.window.latest) == (7, 1, date(2026, 4, 24))
    assert d28.state(date(2026, 4, 21)) == VisitState.DUE  # no longer overdue
    assert (d21.planned_date, d21.schedule_version) == (date(2026, 4, 11), 1)
    assert (d7.window.latest, d7.schedule_version) == (date(2026, 3, 28), None)  # before the date
    event = d28.events.order_by("-pgh_id").first()
    assert event.pgh_context["reason"] == "re-derived: visit schedule v1 effective 2026-04-01"
    # the page shows the version and the new window
    page = client.get(URL).content.decode()
    assert "2026-04-01" in page and "amendment 2" in page
    # the expected forms went into a schedule-of-assessments version of the same date
    forms = AssessmentSchedule.objects.filter(study=study).order_by("-version").first()
    assert (forms.version, forms.effective_from) == (2, date(2026, 4, 1))
    # the edge is declared in the derivation graph
    assert any(e.source == "study.VisitSchedule" and "subjects.Visit" in e.dependants for e in graph())


def test_an_out_of_window_query_follows_the_new_window(planned, study, users_a, coordinator, login, client):
    d21 = visit(planned, "D21")  # planned 04-10 ±3
    # held on 04-14 (the infusion did not happen: the visits hang on the planned date): out of window
    visits.record_visit_date(user=coordinator, visit=d21, visit_date=date(2026, 4, 14))
    query = Query.objects.get(rule_code="VISIT-OUT-OF-WINDOW", object_id=d21.pk)
    assert query.status == QueryStatus.OPEN
    login(users_a["study_admin"])
    assert client.post(URL, _post(study, **{"D21-window_after": "5"})).status_code == 302
    query.refresh_from_db()
    assert query.status == QueryStatus.CLOSED  # 04-14 is inside −3/+5 of 04-10


def test_a_new_visit_and_bad_input(planned, study, users_a, login, client):
    login(users_a["study_admin"])
    for overrides, field in (
        ({"D28-window_after": "-1"}, "D28-window_after"),
        ({"D28-day": ""}, "D28-day"),
        ({"new-code": "D42", "new-name": "Day 42", "new-name_zh": "", "new-day": "42"}, "new-name"),
        ({"new-code": "D28", "new-name": "Again", "new-name_zh": "再次", "new-day": "30"}, "new-code"),
        ({"reason": ""}, "reason"),
    ):
        answer = client.post(URL, _post(study, **overrides))
        assert answer.status_code == 200, overrides
        assert field in answer.context["form"].errors, (overrides, answer.context["form"].errors)
    assert not VisitSchedule.objects.exists()
    answer = client.post(
        URL,
        _post(
            study,
            **{
                "new-code": "D42",
                "new-name": "Day 42",
                "new-name_zh": "第 42 天",
                "new-anchor": "infusion",
                "new-day": "42",
                "new-window_before": "3",
                "new-window_after": "3",
                "new-forms": ["VS", "LB"],
            },
        ),
    )
    assert answer.status_code == 302
    d42 = visit(planned, "D42")  # the new visit is instantiated for the subjects already scheduled
    assert (d42.planned_date, d42.window_before, d42.window_after) == (date(2026, 5, 1), 3, 3)
