"""My tasks (issue 31 item 2): per role the literal items and counts, the visibility gate (a
site-01 coordinator never sees site 02), queries oldest first with their age, the top bar's count
in a number of SQL queries that does not grow with subjects or items, the SDV selection in SQL
equal to the SDV worklist's, and the page in both languages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from adverse_events.models import DltCandidate
from crf import sdv
from crf.models import FormDraft, Query
from crf.queries import answer_query, raise_query
from datamanagement import signatures
from labs.models import VitalSigns
from labs.services import record_vital_signs
from mytasks import selectors
from subjects.models import EligibilityAssessment, InformedConsent, Subject, Visit
from subjects.services import subject as services
from subjects.services import visits
from tests.conftest import PASSWORD, make_user
from tests.datamanagement.test_signatures import _sign_casebook as sign_casebook
from tests.factories import demo_schedule
from tests.subjects.conftest import ENROLLED

pytestmark = pytest.mark.req("ISSUE-31")

#: 10:00 in Shanghai (the sites' zone) on 25 March 2026: day 5 after the infusion planned on 20 March
NOW = datetime(2026, 3, 25, 2, 0, tzinfo=UTC)
PLANNED = date(2026, 3, 20)


@pytest.fixture
def schedule(study):
    return demo_schedule(study)


@pytest.fixture
def coordinator_b(site_b):
    return make_user("coordinator_b", site=site_b, role="coordinator")


def _enrol(screened, coordinator, *, site=None, user=None) -> Subject:
    subject = screened(site=site, user=user)
    return services.enrol(
        user=user or coordinator, subject=subject, on=ENROLLED, dose_level="DL2", planned_infusion_date=PLANNED
    )


def _aged(query: Query, days: int, hours: int = 0) -> Query:
    Query.objects.filter(pk=query.pk).update(raised_at=NOW - timedelta(days=days, hours=hours))
    return Query.objects.get(pk=query.pk)


def _sign_casebook(rf, user, subject):
    return sign_casebook(rf, user, subject)[1]


@pytest.fixture
def scene(schedule, screened, coordinator, coordinator_b, users_a, site_a, site_b, rf):
    """Subject 01-A enrolled at site 01 with day 0 planned on 20 March; subject 02-B enrolled
    the same way at site 02; queries, drafts, a broken signature and DLT candidates on both."""
    monitor, investigator = users_a["monitor"], users_a["investigator"]
    a = _enrol(screened, coordinator)
    b = _enrol(screened, coordinator, site=site_b, user=coordinator_b)
    consent_a = InformedConsent.objects.get(subject=a)
    # raised in this order, aged so that the later one is the older
    young = _aged(raise_query(user=monitor, form=consent_a, field_name="consent_version", text="Version?"), 2, 1)
    old = _aged(raise_query(user=monitor, form=consent_a, field_name="consent_date", text="Date?"), 9)
    answered = raise_query(
        user=monitor, form=EligibilityAssessment.objects.get(subject=a), field_name="assessment_date", text="Date?"
    )
    answer_query(user=coordinator, query=answered, answer=Query.Answer.CONFIRMED, text="As in the source.")
    # an automatic query: D1 dated outside its window, confirmed by the coordinator
    d1 = Visit.objects.get(subject=a, definition__code="D1")
    visits.record_visit_date(user=coordinator, visit=d1, visit_date=date(2026, 3, 24))
    automatic = Query.objects.get(subject=a, content_type__model="visit")
    answer_query(user=coordinator, query=automatic, answer=Query.Answer.CONFIRMED, text="Seen late, as documented.")
    # a data manager's own answered query: not the monitor's to close
    dm_query = raise_query(
        user=users_a["data_manager"],
        form=EligibilityAssessment.objects.get(subject=a),
        field_name="protocol_version",
        text="Version?",
    )
    answer_query(user=coordinator, query=dm_query, answer=Query.Answer.CONFIRMED, text="Chinese.")
    # site 02: an open query and an answered automatic one (never shown at site 01)
    raise_query(
        user=make_user("monitor_b", site=site_b, role="monitor"),
        form=InformedConsent.objects.get(subject=b),
        field_name="consent_date",
        text="Date?",
    )
    d5 = Visit.objects.get(subject=a, definition__code="D5")
    FormDraft.objects.create(
        user=coordinator, path=f"/subjects/{a.pk}/forms/VS/new/?visit={d5.pk}", data={}, saved_at=NOW
    )
    FormDraft.objects.create(user=coordinator, path=f"/subjects/{b.pk}/forms/VS/new/", data={}, saved_at=NOW)
    # the investigator signs 01-A's casebook; a vital-signs form added afterwards breaks it
    signed = _sign_casebook(rf, investigator, a)
    record_vital_signs(
        user=coordinator,
        vital_signs=VitalSigns(
            subject=a, visit=d5, assessment_date=date(2026, 3, 25), systolic_bp=120, diastolic_bp=80
        ),
    )
    ended = Subject.objects.create(
        site=site_a, subject_id="01-END", dose_level="DL1", status="completed", status_date=date(2026, 3, 1)
    )
    for subject, key, withdrawn in ((a, "crs:1", False), (a, "crs:2", True), (b, "crs:1", False)):
        DltCandidate.objects.create(
            subject=subject, key=key, criterion="crs", onset_day=3, description="CRS grade 4", withdrawn=withdrawn
        )
    return {
        "a": a,
        "b": b,
        "old": old,
        "young": young,
        "answered": answered,
        "automatic": automatic,
        "dm": dm_query,
        "signed": signed,
        "ended": ended,
        "d5": d5,
    }


def test_coordinator_sees_visits_with_missing_forms_queries_drafts_and_broken_signatures(scene, coordinator):
    tasks = selectors.my_tasks(coordinator, now=NOW)
    # overdue first, then by planned date (the worklist's order); day 5 is 25 March at the site
    assert [(t.item.visit.definition.code, t.item.state.value) for t in tasks.visits] == [
        ("SCR", "overdue"),
        ("LD", "overdue"),
        ("D0", "overdue"),
        ("D1", "overdue"),
        ("D2", "overdue"),
        ("D3", "overdue"),
        ("D4", "due"),
        ("D5", "due"),
        ("D6", "due"),
    ]
    assert {t.item.visit.subject.subject_id for t in tasks.visits} == {scene["a"].subject_id}
    missing = {t.item.visit.definition.code: [f.code for f in t.missing] for t in tasks.visits}
    assert missing["D0"] == ["INF", "VS", "CRS", "ICANS"]
    assert missing["LD"] == ["LD", "VS", "LB"]
    # the vital signs entered at D5 are in progress, not complete: still to finish, linked to the form
    assert missing["D5"] == ["VS", "CRS", "ICANS", "LB"]
    d5_vs = next(t for t in tasks.visits if t.item.visit.definition.code == "D5").missing[0]
    assert d5_vs.mark.value == "in_progress" and len(d5_vs.instances) == 1
    # open queries of site 01 only, oldest first, with their age in whole days
    assert [(t.query.pk, t.query.days_open) for t in tasks.queries_to_answer] == [
        (scene["old"].pk, 9),
        (scene["young"].pk, 2),
    ]
    assert [(t.form_title, t.field_label) for t in tasks.queries_to_answer] == [
        ("Informed consent", "consent date"),
        ("Informed consent", "consent form version"),
    ]
    assert [(d.subject.pk, d.form_title) for d in tasks.drafts] == [(scene["a"].pk, "Vital signs")]
    assert [s.pk for s in tasks.broken_signatures] == [scene["signed"].pk]
    assert tasks.broken_signatures[0].broken_reason == "VS added"
    # a coordinator has no monitor's or investigator's sections
    assert tasks.forms_to_verify == [] and tasks.queries_to_close == [] and tasks.to_sign == []
    counts = selectors.task_counts(coordinator, now=NOW)
    assert (counts.visits, counts.queries_to_answer, counts.drafts, counts.broken_signatures) == (9, 2, 1, 1)
    assert counts.total == tasks.total == 13


def test_site_02_coordinator_sees_only_site_02(scene, coordinator_b):
    tasks = selectors.my_tasks(coordinator_b, now=NOW)
    assert {t.item.visit.subject_id for t in tasks.visits} == {scene["b"].pk}
    assert len(tasks.visits) == 9
    assert [t.query.subject_id for t in tasks.queries_to_answer] == [scene["b"].pk]
    # the draft path names a site-01 subject: not shown, even to its author on another site
    assert tasks.drafts == [] and tasks.broken_signatures == []
    assert selectors.task_counts(coordinator_b, now=NOW).total == 10


def test_monitor_verifies_what_the_sdv_worklist_lists_and_closes_own_and_automatic_answers(scene, users_a, site_a):
    monitor = users_a["monitor"]
    tasks = selectors.my_tasks(monitor, now=NOW)
    worklist = sdv.sdv_worklist(monitor, site=site_a)
    # one rule: the SQL selection lists exactly the SDV worklist's forms, in the same order
    assert [(t.form.crf_code, t.form.pk) for t in tasks.forms_to_verify] == [
        (row.form.crf_code, row.form.pk) for row in worklist
    ]
    # the full-verification forms, then the sampled ones: which forms the sample takes depends on
    # their ids (SHA-256 of seed:code:id), so it is read off the Python rule, not assumed
    assert [(t.form.crf_code, t.full) for t in tasks.forms_to_verify if t.full] == [("ELIG", True), ("IC", True)]
    plan = sdv.plan_for(site_a.study)
    sampled = [t for t in tasks.forms_to_verify if not t.full]
    assert all(
        sdv.in_sample(seed=plan.seed, crf_code=t.form.crf_code, form_id=t.form.pk, percent=plan.sample_percent)
        for t in sampled
    )
    # the monitor's own answered query and the automatic one; not the data manager's
    assert [t.query.pk for t in tasks.queries_to_close] == [scene["answered"].pk, scene["automatic"].pk]
    assert tasks.visits == [] and tasks.queries_to_answer == []
    counts = selectors.task_counts(monitor, now=NOW)
    assert (counts.forms_to_verify, counts.queries_to_close, counts.total) == (2 + len(sampled), 2, 4 + len(sampled))
    # verified in full: off the list and the count
    sdv.mark_verified(user=monitor, form=tasks.forms_to_verify[0].form)
    assert selectors.task_counts(monitor, now=NOW).forms_to_verify == 1 + len(sampled)


def test_data_manager_closes_own_and_automatic_answers(scene, users_a):
    tasks = selectors.my_tasks(users_a["data_manager"], now=NOW)
    assert [t.query.pk for t in tasks.queries_to_close] == [scene["automatic"].pk, scene["dm"].pk]
    assert tasks.forms_to_verify == []
    assert selectors.task_counts(users_a["data_manager"], now=NOW).total == 2


def test_investigator_re_signs_signs_ended_casebooks_and_adjudicates_at_own_sites(scene, users_a):
    tasks = selectors.my_tasks(users_a["investigator"], now=NOW)
    assert [(t.subject.subject_id, t.signature.pk if t.signature else None) for t in tasks.to_sign] == [
        (scene["a"].subject_id, scene["signed"].pk),
        ("01-END", None),
    ]
    assert tasks.to_sign[0].url == f"/data/signatures/sign/?subject={scene['a'].pk}&scope=casebook"
    assert [(c.subject_id, c.key) for c in tasks.dlt_candidates] == [(scene["a"].pk, "crs:1")]
    counts = selectors.task_counts(users_a["investigator"], now=NOW)
    assert (counts.to_sign, counts.dlt_candidates, counts.total) == (2, 1, 3)


def test_a_re_signed_casebook_leaves_the_lists(scene, users_a, coordinator, rf):
    _sign_casebook(rf, users_a["investigator"], scene["a"])
    assert selectors.my_tasks(coordinator, now=NOW).broken_signatures == []
    assert [t.subject.subject_id for t in selectors.my_tasks(users_a["investigator"], now=NOW).to_sign] == ["01-END"]
    assert signatures.to_resign(users_a["investigator"]) == []


def test_roles_without_tasks_have_no_count(scene, users_a):
    for role in ("statistician", "study_admin"):
        assert selectors.task_counts(users_a[role], now=NOW) is None


def test_the_count_takes_the_same_queries_for_one_subject_or_many(schedule, screened, coordinator, users_a, rf, site_a):
    """The top bar's count: a fixed number of SQL statements whatever the number of subjects and
    items (memberships, the coordinator's sites, the SDV plan, one counting statement…)."""
    monitor, investigator = users_a["monitor"], users_a["investigator"]

    def statements(user) -> int:
        with CaptureQueriesContext(connection) as captured:
            selectors.task_counts(user, now=NOW)
        return len(captured.captured_queries)

    def add_subject() -> None:
        subject = _enrol(screened, coordinator)
        consent = InformedConsent.objects.get(subject=subject)
        raise_query(user=monitor, form=consent, field_name="consent_date", text="Date?")
        FormDraft.objects.create(user=coordinator, path=f"/subjects/{subject.pk}/forms/VS/new/", data={}, saved_at=NOW)
        DltCandidate.objects.create(subject=subject, key="crs:1", criterion="crs", onset_day=3, description="x")

    add_subject()
    for user in users_a.values():
        selectors.task_counts(user, now=NOW)  # the content types cache fills on first use
    first = {role: statements(users_a[role]) for role in ("coordinator", "monitor", "investigator")}
    one = selectors.task_counts(coordinator, now=NOW)
    for _more in range(3):
        add_subject()
    assert {role: statements(users_a[role]) for role in ("coordinator", "monitor", "investigator")} == first
    # the memberships (with the sites' zones and studies), the SDV plans for a monitor, then one
    # statement counting every section
    assert first == {"coordinator": 2, "monitor": 3, "investigator": 2}
    four = selectors.task_counts(coordinator, now=NOW)
    assert (one.visits, one.queries_to_answer, one.drafts) == (9, 1, 1)
    assert (four.visits, four.queries_to_answer, four.drafts) == (36, 4, 4)
    assert selectors.task_counts(investigator, now=NOW).dlt_candidates == 4


@pytest.mark.parametrize(("seed", "code", "percent"), [(7, "VS", 20), (7, "LB", 20), (123, "CRS", 35), (0, "AE", 1)])
def test_the_sample_computed_in_sql_is_the_sample_in_python(db, seed, code, percent):
    """crf.sdv.SampleBucket (PostgreSQL) against crf.sdv.in_sample for 3,000 form ids."""
    sql = sdv.SampleBucket(seed=seed, crf_code=code).template % {"expressions": "g"}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT g, {sql} FROM generate_series(1, 3000) AS g ORDER BY g")
        rows = cursor.fetchall()
    in_sql = [g for g, bucket in rows if bucket < percent * 100]
    in_python = [g for g in range(1, 3001) if sdv.in_sample(seed=seed, crf_code=code, form_id=g, percent=percent)]
    assert in_sql == in_python
    assert len(in_python) > 0


def test_a_code_that_is_not_a_crf_code_is_refused():
    with pytest.raises(ValueError):
        sdv.SampleBucket(seed=7, crf_code="VS'; DROP TABLE x; --")


# --- the page, the top bar and the sign-in --------------------------------------------------------


@pytest.fixture
def on_day_5(monkeypatch):
    """The page and the top bar read the lists at NOW."""
    monkeypatch.setattr(selectors, "clock", lambda: NOW)


def test_page_lists_every_coordinator_section_in_english_with_zones_and_links(scene, coordinator, login, on_day_5):
    page = login(coordinator).get("/tasks/").content.decode()
    a = scene["a"]
    assert "<h1>My tasks</h1>" in page
    assert "13 tasks" in page
    assert "data-my-tasks>My tasks (13)</a>" in page  # the top bar
    assert page.count('data-task="visit"') == 9
    assert page.count('data-task="query"') == 2
    assert page.count('data-task="draft"') == 1 and page.count('data-task="signature"') == 1
    # a missing form links to its entry at the visit; the in-progress one to the form itself
    d0 = Visit.objects.get(subject=a, definition__code="D0")
    assert f'href="/subjects/{a.pk}/forms/CRS/new/?visit={d0.pk}"' in page
    assert f'href="/subjects/{a.pk}/visits/{d0.pk}/"' in page  # the infusion is entered from the visit
    vs = VitalSigns.objects.get(subject=a)
    assert f'href="/subjects/{a.pk}/forms/VS/{vs.pk}/"' in page
    assert f'href="/data/queries/{scene["old"].pk}/"' in page
    # times in the site's zone: the draft kept at 10:00 in Shanghai
    assert "<td>2026-03-25 10:00 +08:00</td>" in page
    assert scene["b"].subject_id not in page


def test_page_in_chinese(scene, coordinator, login, on_day_5):
    coordinator.language = "zh-hans"
    coordinator.save(update_fields=["language"])
    page = login(coordinator).get("/tasks/").content.decode()
    assert "<h1>我的任务</h1>" in page
    assert "我的任务（13）" in page
    assert "待我回复的质疑" in page and "我未保存的草稿" in page and "我的受试者上已失效的签名" in page
    assert "Queries awaiting my answer" not in page


@pytest.mark.parametrize("role", ["statistician", "study_admin"])
def test_roles_without_tasks_get_403_and_no_link(scene, users_a, login, role):
    client = login(users_a[role])
    assert client.get("/tasks/").status_code == 403
    assert "data-my-tasks" not in client.get("/").content.decode()


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get("/tasks/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_coordinator_lands_on_my_tasks_after_sign_in_and_a_monitor_on_the_study_home(client, users_a):
    for role, landing in (("coordinator", "/tasks/"), ("monitor", "/")):
        response = client.post("/accounts/login/", {"username": f"{role}_a", "password": PASSWORD})
        assert response.status_code == 302 and response["Location"] == landing
        client.post("/accounts/logout/")
    # a link followed before signing in still wins
    response = client.post("/accounts/login/?next=/subjects/", {"username": "coordinator_a", "password": PASSWORD})
    assert response["Location"] == "/subjects/"


def test_the_page_reads_a_fixed_number_of_queries(schedule, screened, coordinator, login, on_day_5):
    client = login(coordinator)

    def statements() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/tasks/").status_code == 200
        return len(captured.captured_queries)

    _enrol(screened, coordinator)
    statements()  # caches (content types) fill on first use
    one = statements()
    for _more in range(2):
        _enrol(screened, coordinator)
    assert statements() == one


def test_a_monitors_top_bar_count_is_kept_a_minute_and_refreshed_by_the_page(settings):
    """The SDV sample makes a monitor's count costly (issue 31): the top bar keeps it for
    COUNT_SECONDS; opening My tasks stores the number it lists."""
    from django.core.cache import cache

    from mytasks.selectors import COUNT_SECONDS, count_key

    assert COUNT_SECONDS == 60
    cache.set(count_key(424242), 7, COUNT_SECONDS)
    from mytasks.templatetags.mytasks import my_tasks_count

    class _User:
        pk = 424242
        is_authenticated = True

    class _Request:
        user = _User()

    assert my_tasks_count({"request": _Request()}) == 7


def test_an_investigators_dlt_row_reads_the_candidates_finding(scene, users_a, login, on_day_5):
    """The finding column shows the candidate's stored finding (its sentence, or its message code
    rendered in the reader's language), never an empty cell."""
    page = login(users_a["investigator"]).get("/tasks/").content.decode()
    rows = page.split('data-task="dlt"')[1:]
    assert len(rows) == 1
    assert "<td>CRS grade 4</td>" in rows[0]


def test_a_subject_not_yet_enrolled_is_named_by_its_screening_number(schedule, screened, users_a, login, on_day_5):
    """The walk: the monitor's forms to verify of a subject still in screening (no subject ID yet)
    showed an empty subject cell beside the site code."""
    subject = screened()
    assert subject.subject_id == "" and subject.screening_number
    page = login(users_a["monitor"]).get("/tasks/").content.decode()
    row = f'<td class="nowrap">{subject.screening_number} <span class="muted">{subject.site.code}</span></td>'
    assert page.count(row) == 2  # its consent and its eligibility checklist, both verified in full
