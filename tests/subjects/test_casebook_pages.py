"""The casebook page and the due/overdue worklist (issue 4 item 4): visits × forms with entry
status and open-query badges, due/overdue computed, the current study day, one-click entry; a
bounded number of SQL queries whatever the number of visits; DESIGN §4a permissions."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crf.registry import crf_models
from subjects.models import Visit
from subjects.services import subject as services
from subjects.services import visits
from tests.factories import vital_signs
from tests.subjects.conftest import ENROLLED
from tests.subjects.test_treatment_forms import infuse, lymphodeplete

pytestmark = pytest.mark.req("ISSUE-4")


@pytest.fixture
def planned_today(screened, coordinator, schedule):
    """Enrolled with the infusion planned 10 days ago (site calendar): D0…D8 are past."""
    subject = screened()
    today = visits.site_today(subject)
    subject = services.enrol(
        user=coordinator, subject=subject, on=ENROLLED, dose_level="DL2", planned_infusion_date=today - timedelta(10)
    )
    return subject, today


def fill_all_visits(subject, user):
    """A visit date and vital signs at each of the 26 visits, lymphodepletion and the infusion."""
    today = visits.site_today(subject)
    for visit in Visit.objects.filter(subject=subject).select_related("definition"):
        on = visit.planned_date or date(2026, 3, 6)
        if on > today:  # a future date is refused (issue 21): the visits held so far
            continue
        visits.record_visit_date(user=user, visit=visit, visit_date=on)
        vital_signs(user, subject, visit=visit, assessment_date=on)
        if visit.definition.code == "LD":
            lymphodeplete(user, subject, visit=visit, start_date=on, end_date=on + timedelta(2))
        if visit.definition.code == "D0":
            start = datetime.combine(on, datetime.min.time(), tzinfo=ZoneInfo("Asia/Shanghai")).replace(hour=9)
            infuse(user, subject, visit=visit, infusion_start=start)


def test_casebook_shows_the_current_study_day_states_and_entry_links(planned_today, coordinator, login):
    subject, _today = planned_today
    d7 = Visit.objects.get(subject=subject, definition__code="D7")
    visits.record_visit_date(user=coordinator, visit=d7, visit_date=d7.planned_date - timedelta(5))  # out of window
    page = login(coordinator).get(f"/subjects/{subject.pk}/casebook/").content.decode()
    assert "(day 10)" not in page  # the brackets come from CSS
    assert '<span class="study-day">day 10</span>' in page  # today, 10 days after planned day 0
    assert '<span class="study-day">day \u22125</span>' in page  # LD planned on day −5
    # D7 dated but its expected forms missing: still overdue (CLINICAL_SPEC §7.1, issue 24)
    assert "Overdue" in page and "Complete" not in page.split("</thead>")[1].split("data-log")[0]
    assert "1 open query" in page
    assert f"/subjects/{subject.pk}/forms/VS/new/?visit={d7.pk}" in page


@pytest.mark.parametrize("filled", ["few", "all"])
def test_casebook_runs_a_bounded_number_of_queries(
    planned_today, coordinator, login, django_assert_max_num_queries, filled
):
    subject, _today = planned_today
    if filled == "all":
        fill_all_visits(subject, coordinator)
    else:
        vital_signs(coordinator, subject, visit=Visit.objects.get(subject=subject, definition__code="D1"))
    client = login(coordinator)
    # One query per form type (casebook's contract), plus a fixed 16 for the page (schedule
    # versions, definitions, visits, not-done marks, query counts) and 2 for the SDV and
    # freeze/lock badges (issue 7), 1 for the ICAHT summary, 1 for the header's unread
    # safety notifications (issue 10) and 2 for the header's "My tasks (n)" (issue 31).
    form_types = list(crf_models().values())
    # +4 since session 5: the header's unread notices (issue 31), the dose-level names (issue 25)
    # and the casebook's PDF panel (issue 26)
    with django_assert_max_num_queries(26 + len(form_types)):
        started = time.perf_counter()
        response = client.get(f"/subjects/{subject.pk}/casebook/")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    print(f"casebook ({filled} visits filled): {elapsed * 1000:.0f} ms")


def test_worklist_lists_due_and_overdue_visits_of_the_users_sites(planned_today, coordinator, login, enrolled):
    subject, _today = planned_today
    page = login(coordinator).get("/subjects/worklist/").content.decode()
    assert subject.subject_id in page
    assert "Overdue" in page and "Due" in page
    # a visit dated stays on the list until its expected forms are satisfied (§7.1, issue 24)
    d8 = Visit.objects.get(subject=subject, definition__code="D8")
    assert f"/visits/{d8.pk}/" in page
    visits.record_visit_date(user=coordinator, visit=d8, visit_date=d8.planned_date)
    assert f"/visits/{d8.pk}/" in login(coordinator).get("/subjects/worklist/").content.decode()
    complete_visit(coordinator, subject, d8)
    assert f"/visits/{d8.pk}/" not in login(coordinator).get("/subjects/worklist/").content.decode()


def test_worklist_runs_a_bounded_number_of_queries(
    planned_today, coordinator, login, django_assert_max_num_queries, screened
):
    for _ in range(3):
        services.enrol(
            user=coordinator,
            subject=screened(),
            on=ENROLLED,
            dose_level="DL1",
            planned_infusion_date=timezone.localdate() - timedelta(20),
        )
    client = login(coordinator)
    # 12, plus the header's unread safety notifications and its "My tasks (n)" (2, issue 31)
    # and the header's unread notices (issue 31) and the dose-level names of the request (issue 25)
    with django_assert_max_num_queries(17):
        assert client.get("/subjects/worklist/").status_code == 200


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("coordinator", 200),
        ("investigator", 200),
        ("monitor", 200),
        ("data_manager", 200),
        ("statistician", 403),
        ("study_admin", 403),
    ],
)
def test_casebook_and_visit_pages_follow_design_4a(planned_today, users_a, login, role, status):
    subject, _today = planned_today
    client = login(users_a[role])
    d1 = Visit.objects.get(subject=subject, definition__code="D1")
    assert client.get(f"/subjects/{subject.pk}/casebook/").status_code == status
    assert client.get(f"/subjects/{subject.pk}/visits/{d1.pk}/").status_code == status
    page = client.get(f"/subjects/{subject.pk}/casebook/").content.decode()
    editor = role in ("coordinator", "investigator")
    assert ("forms/VS/new/?visit=" in page) == editor
    posted = client.post(f"/subjects/{subject.pk}/visits/{d1.pk}/", {"visit_date": "2026-03-21"})
    assert posted.status_code == (302 if editor else 403)


def test_other_sites_subject_is_not_found(planned_today, site_b, login):
    from study.roles import Role
    from tests.conftest import make_user

    subject, _today = planned_today
    stranger = make_user("coordinator_b", site=site_b, role=Role.COORDINATOR)
    client = login(stranger)
    d1 = Visit.objects.get(subject=subject, definition__code="D1")
    assert client.get(f"/subjects/{subject.pk}/casebook/").status_code == 404
    assert client.get(f"/subjects/{subject.pk}/visits/{d1.pk}/").status_code == 404
    assert subject.subject_id not in client.get("/subjects/worklist/").content.decode()


def test_visit_page_records_the_date_and_shows_its_study_day(planned_today, coordinator, login):
    subject, today = planned_today
    d1 = Visit.objects.get(subject=subject, definition__code="D1")
    client = login(coordinator)
    response = client.post(f"/subjects/{subject.pk}/visits/{d1.pk}/", {"visit_date": d1.planned_date.isoformat()})
    assert response.status_code == 302
    page = client.get(f"/subjects/{subject.pk}/visits/{d1.pk}/").content.decode()
    assert '<span class="study-day">day 1</span>' in page
    refused = client.post(f"/subjects/{subject.pk}/visits/{d1.pk}/", {"visit_date": today.isoformat()})
    assert refused.status_code == 400
    assert "Give a reason for changing the visit date." in refused.content.decode()


def complete_visit(user, subject, visit):
    """Satisfy every form D1–D21 expect: vital signs complete; CRS, ICANS and labs not done."""
    from crf.models import EntryStatus
    from subjects import assessments

    vital_signs(user, subject, visit=visit, assessment_date=visit.planned_date, entry_status=EntryStatus.COMPLETE)
    for code in ("CRS", "ICANS", "LB"):
        assessments.mark_not_done(user=user, visit=visit, crf_code=code, reason="not assessed in this test")


def test_casebook_columns_follow_the_clinical_order_and_treatment_forms_date_their_visit(
    planned_today, coordinator, login
):
    subject, _today = planned_today
    ld = Visit.objects.get(subject=subject, definition__code="LD")
    lymphodeplete(coordinator, subject, visit=ld, start_date=ld.planned_date, end_date=ld.planned_date)
    ld.refresh_from_db()
    assert ld.visit_date == ld.planned_date  # the form dated its visit
    page = login(coordinator).get(f"/subjects/{subject.pk}/casebook/").content.decode()
    # each visit lists only its expected forms (CLINICAL_SPEC §7.1)
    row = page[page.index('data-visit="LD"') : page.index('data-visit="D0"')]
    assert row.index('data-form="LD"') < row.index('data-form="VS"') < row.index('data-form="LB"')
    assert 'data-form="INF"' not in row and 'data-form="CRS"' not in row


def test_visit_page_marks_an_expected_form_not_done_with_a_reason(planned_today, coordinator, login):
    """CLINICAL_SPEC §7.1: a form marked not done with a reason satisfies the visit (issue 24)."""
    subject, _today = planned_today
    d2 = Visit.objects.get(subject=subject, definition__code="D2")
    client = login(coordinator)
    page = client.get(f"/subjects/{subject.pk}/visits/{d2.pk}/").content.decode()
    assert 'data-form="LB" data-mark="missing"' in page
    refused = client.post(f"/subjects/{subject.pk}/visits/{d2.pk}/not-done/", {"crf_code": "LB", "reason": ""})
    assert refused.status_code == 302
    assert "Give a reason why this form was not done." in client.get(refused["Location"]).content.decode()
    client.post(f"/subjects/{subject.pk}/visits/{d2.pk}/not-done/", {"crf_code": "LB", "reason": "no blood drawn"})
    page = client.get(f"/subjects/{subject.pk}/visits/{d2.pk}/").content.decode()
    assert 'data-form="LB" data-mark="not_done"' in page
    d2.refresh_from_db()
    assert d2.forms_state == "some"


def test_closing_dated_visits_marks_only_forms_without_a_record(planned_today, coordinator, login):
    """CLINICAL_SPEC §7.1 (issue 24; the bilingual walk of 2026-12-07): the consent and the
    eligibility checklist, saved whole by their services, are complete on the casebook, and the
    bulk "not done" of dated visits leaves a form with a record in progress as it is — before,
    the demo's consent and eligibility showed "not done" beside their records."""
    from subjects import assessments

    subject, _today = planned_today
    d1 = Visit.objects.get(subject=subject, definition__code="D1")
    visits.record_visit_date(user=coordinator, visit=d1, visit_date=d1.planned_date)
    vital_signs(coordinator, subject, visit=d1, assessment_date=d1.planned_date)  # in progress
    written = assessments.close_dated_visits(user=coordinator, subject=subject, reason="not collected")
    page = login(coordinator).get(f"/subjects/{subject.pk}/casebook/").content.decode()
    assert 'data-form="IC" data-mark="complete"' in page
    assert 'data-form="ELIG" data-mark="complete"' in page
    row = page[page.index('data-visit="D1"') : page.index('data-visit="D2"')]
    assert 'data-form="VS" data-mark="in_progress"' in row
    assert 'data-form="CRS" data-mark="not_done"' in row
    assert 'data-form="VS" data-mark="not_done"' not in page
    assert written == 3  # D1's CRS, ICANS and LB; the screening forms and D1's vital signs hold records


def test_the_casebook_says_which_zone_its_times_are_in(planned_today, coordinator, login):
    """The walk: lab chips read "Complete blood count 2026-09-18 06:30" with no zone anywhere on
    the page; the casebook now names the site's zone, as the record history does."""
    subject, _today = planned_today
    client = login(coordinator)
    for language, sentence in (
        ("en", "Times are shown in the site's time zone (Asia/Shanghai)."),
        ("zh-hans", "时间按研究中心所在时区显示（Asia/Shanghai）。"),
    ):
        coordinator.language = language
        coordinator.save(update_fields=["language"])
        page = client.get(f"/subjects/{subject.pk}/casebook/").content.decode()
        assert sentence in page.replace("&#x27;", "'")
