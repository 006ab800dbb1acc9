"""Query pages (issue 7 item 1; DESIGN §4 "Queries", §4a): a manual and an automatic query
walked through their whole life on the pages, each step audited with its context; the lists
per study, site and subject with filters and aging; the study-home counts; who may take each
step on the pages (expectations from the §4a table)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F

from crf.models import Query, QueryEvent, QueryStep
from labs.models import VitalSigns
from tests.conftest import make_user

pytestmark = pytest.mark.req("ISSUE-7")

ROLES = ("coordinator", "investigator", "monitor", "data_manager", "statistician", "study_admin")
#: DESIGN §4a "view CRF pages"
MAY_VIEW = {"coordinator", "investigator", "monitor", "data_manager"}
#: DESIGN §4a "raise / close / re-open / cancel queries"
MAY_MANAGE = {"monitor", "data_manager"}
#: DESIGN §4a "create/edit CRF data, answer queries"
MAY_ANSWER = {"coordinator", "investigator"}


@pytest.fixture
def login(login, client):
    """Sign in as another user on the same client (signing out first)."""

    def _switch(user):
        client.logout()
        return login(user)

    return _switch


def _form_url(vs: VitalSigns) -> str:
    return f"/subjects/{vs.subject_id}/forms/VS/{vs.pk}/"


def _vs_post(vs: VitalSigns, **values) -> dict[str, str]:
    """What the form page posts for a saved vital-signs form, with `values` changed."""
    vs = VitalSigns.objects.get(pk=vs.pk)
    data = {
        "opened_version": str(vs.version),
        "assessment_date": vs.assessment_date.isoformat(),
        "systolic_bp": "" if vs.systolic_bp is None else str(vs.systolic_bp),
        "diastolic_bp": "" if vs.diastolic_bp is None else str(vs.diastolic_bp),
        "oxygen_device": vs.oxygen_device,
    }
    if vs.entry_status == "complete":
        data["mark_complete"] = "on"
    data.update({k: str(v) for k, v in values.items()})
    return data


def _steps(query: Query) -> list[tuple[str, str | None, str]]:
    return [
        (s.action, s.by.username if s.by else None, s.text)
        for s in QueryStep.objects.filter(query=query).select_related("by").order_by("at", "pk")
    ]


def _contexts(query: Query) -> list[tuple[str, str | None, str | None, str | None]]:
    """(label, username, role, url) of every audited change to the query row."""
    return [
        (e.pgh_label, e.pgh_context.get("username"), e.pgh_context.get("role"), e.pgh_context.get("url"))
        for e in QueryEvent.objects.filter(pgh_obj_id=query.pk).order_by("pgh_id")
    ]


def _step(client, query: Query, step: str, text: str, next_url: str):
    return client.post(f"/data/queries/{query.pk}/{step}/", {"text": text, "next": next_url})


# --- a manual query, its whole life on the pages -----------------------------------------------


def test_manual_query_life_on_the_pages(vs, users_a, login, client):
    monitor, coordinator = users_a["monitor"], users_a["coordinator"]
    url = _form_url(vs)

    # the monitor sees the read-only form with a "Raise a query" panel per field, and raises one
    login(monitor)
    page = client.get(url).content.decode()
    assert "Raise a query" in page and 'name="field_name" value="systolic_bp"' in page
    response = client.post(
        f"/data/subjects/{vs.subject_id}/forms/VS/{vs.pk}/query/",
        {"field_name": "systolic_bp", "text": "SBP 120 looks copied from day 1.", "next": url},
    )
    query = Query.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{url}#q-{query.pk}"
    assert (query.status, query.field_name, query.raised_by, query.value) == ("open", "systolic_bp", monitor, 120)

    # the coordinator sees the badge and the thread beside the field, and confirms the value
    login(coordinator)
    page = client.get(url).content.decode()
    assert "1 open query" in page and "SBP 120 looks copied from day 1." in page
    assert f'action="/data/queries/{query.pk}/confirm/"' in page
    assert f'action="/data/queries/{query.pk}/close/"' not in page
    response = _step(client, query, "confirm", "Checked the nursing chart.", url)
    assert response.status_code == 302
    assert Query.objects.get().status == "answered"

    # the raiser closes it, then re-opens it
    login(monitor)
    assert _step(client, query, "close", "Accepted.", url).status_code == 302
    assert _step(client, query, "reopen", "The chart of that day shows 112.", url).status_code == 302
    assert Query.objects.get().status == "open"

    # the coordinator corrects the value on the form with a reason for change: answered "corrected"
    login(coordinator)
    response = client.post(url, _vs_post(vs, systolic_bp=112, reason="Transcription error."))
    assert response.status_code == 302
    assert VitalSigns.objects.get(pk=vs.pk).systolic_bp == 112
    query.refresh_from_db()
    assert (query.status, query.answer, query.answered_by) == ("answered", "corrected", coordinator)

    login(monitor)
    assert _step(client, query, "close", "", url).status_code == 302
    assert Query.objects.get().status == "closed"

    assert _steps(query) == [
        ("raised", "monitor_a", "SBP 120 looks copied from day 1."),
        ("answered", "coordinator_a", "Checked the nursing chart."),
        ("closed", "monitor_a", "Accepted."),
        ("reopened", "monitor_a", "The chart of that day shows 112."),
        ("answered", "coordinator_a", "Value corrected from 120 to 112. Transcription error."),
        ("closed", "monitor_a", ""),
    ]
    # every change to the query row is audited with who, in which role, on which page
    raise_url = f"/data/subjects/{vs.subject_id}/forms/VS/{vs.pk}/query/"
    assert _contexts(query) == [
        ("insert", "monitor_a", "monitor", raise_url),
        ("update", "coordinator_a", "coordinator", f"/data/queries/{query.pk}/confirm/"),
        ("update", "monitor_a", "monitor", f"/data/queries/{query.pk}/close/"),
        ("update", "monitor_a", "monitor", f"/data/queries/{query.pk}/reopen/"),
        ("update", "coordinator_a", "coordinator", url),
        ("update", "monitor_a", "monitor", f"/data/queries/{query.pk}/close/"),
    ]
    reasons = [e.pgh_context.get("reason") for e in QueryEvent.objects.filter(pgh_obj_id=query.pk).order_by("pgh_id")]
    assert reasons[1:4] == ["Checked the nursing chart.", "Accepted.", "The chart of that day shows 112."]


def test_a_manual_query_cancelled_on_the_page_by_its_raiser(vs, users_a, login, client):
    data_manager = users_a["data_manager"]
    login(data_manager)
    client.post(
        f"/data/subjects/{vs.subject_id}/forms/VS/{vs.pk}/query/",
        {"field_name": "diastolic_bp", "text": "DBP 80: please confirm."},
    )
    query = Query.objects.get()
    assert _step(client, query, "cancel", "Raised on the wrong visit.", _form_url(vs)).status_code == 302
    assert Query.objects.get().status == "cancelled"
    assert _contexts(query)[-1] == ("update", "data_manager_a", "data_manager", f"/data/queries/{query.pk}/cancel/")


# --- an automatic query, its whole life on the pages --------------------------------------------


def test_automatic_query_life_on_the_pages(crf_ready, users_a, login, client):
    coordinator, data_manager, monitor = users_a["coordinator"], users_a["data_manager"], users_a["monitor"]
    subject = crf_ready

    # the edit check raises it when the coordinator saves the form on its page
    login(coordinator)
    response = client.post(
        f"/subjects/{subject.pk}/forms/VS/new/",
        {"assessment_date": "2026-03-02", "systolic_bp": "90", "diastolic_bp": "95", "oxygen_device": "room_air"},
    )
    assert response.status_code == 302
    vs = VitalSigns.objects.get()
    query = Query.objects.get(rule_code="VS-DBP-GE-SBP")
    assert (query.status, query.raised_by, query.field_name) == ("open", None, "diastolic_bp")
    url = _form_url(vs)

    # it appears in the study's list, marked automatic
    login(monitor)
    listing = client.get("/data/queries/?origin=automatic").content.decode()
    assert f"/data/queries/{query.pk}/" in listing and "Automatic" in listing and "VS-DBP-GE-SBP" in listing
    assert f"/data/queries/{query.pk}/" not in client.get("/data/queries/?origin=manual").content.decode()

    # the coordinator confirms; a data manager (no raiser) closes and re-opens it
    login(coordinator)
    assert _step(client, query, "confirm", "Measured twice.", url).status_code == 302
    login(data_manager)
    page = client.get(url).content.decode()
    assert f'action="/data/queries/{query.pk}/close/"' in page
    assert _step(client, query, "close", "Confirmed by the site.", url).status_code == 302
    assert _step(client, query, "reopen", "Please re-measure.", url).status_code == 302

    # the coordinator corrects the value on the form: the rule stops firing, the query closes itself
    login(coordinator)
    response = client.post(url, _vs_post(vs, diastolic_bp=60))
    assert response.status_code == 302
    query.refresh_from_db()
    assert (query.status, query.closed_by) == ("closed", None)
    assert [s[:2] for s in _steps(query)] == [
        ("raised", None),
        ("answered", "coordinator_a"),
        ("closed", "data_manager_a"),
        ("reopened", "data_manager_a"),
        ("auto_closed", None),
    ]
    labels = [(label, user, role) for label, user, role, _url in _contexts(query)]
    assert labels == [
        ("insert", "coordinator_a", "coordinator"),
        ("update", "coordinator_a", "coordinator"),
        ("update", "data_manager_a", "data_manager"),
        ("update", "data_manager_a", "data_manager"),
        ("update", "coordinator_a", "coordinator"),
    ]


# --- lists, filters, aging, counts --------------------------------------------------------------


@pytest.fixture
def two_queries(vs, users_a, crf_ready, save_vs):
    from crf.queries import raise_query

    manual = raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Please check SBP.")
    auto_form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    automatic = Query.objects.get(object_id=auto_form.pk, rule_code="VS-DBP-GE-SBP")
    # the manual query has been open for 40 days, the automatic one for 3
    Query.objects.filter(pk=manual.pk).update(raised_at=F("raised_at") - timedelta(days=40))
    Query.objects.filter(pk=automatic.pk).update(raised_at=F("raised_at") - timedelta(days=3))
    return manual, automatic


def _listed(client, query_string: str = "") -> list[int]:
    import re

    page = client.get(f"/data/queries/{query_string}").content.decode()
    return [int(pk) for pk in re.findall(r'href="/data/queries/(\d+)/">#', page)]


def test_query_list_filters_and_aging(two_queries, users_a, login, client):
    manual, automatic = two_queries
    login(users_a["data_manager"])
    assert _listed(client) == [manual.pk, automatic.pk]  # oldest first
    assert _listed(client, "?origin=automatic") == [automatic.pk]
    assert _listed(client, f"?origin={users_a['monitor'].pk}") == [manual.pk]
    assert _listed(client, "?min_days=30") == [manual.pk]
    assert _listed(client, "?status=answered") == []
    assert _listed(client, "?form=VS&site=01&status=open") == [manual.pk, automatic.pk]
    assert _listed(client, "?site=02") == []  # not one of the user's sites: refused, nothing listed
    page = client.get("/data/queries/?min_days=30").content.decode()
    assert "<td>40</td>" in page  # days open
    response = client.get("/data/queries/?min_days=-1")
    assert response.status_code == 400


def test_subject_query_list_and_another_sites_subject(two_queries, users_a, login, client, subject_b):
    manual, _automatic = two_queries
    login(users_a["coordinator"])
    page = client.get(f"/data/subjects/{manual.subject_id}/queries/").content.decode()
    assert f"/data/queries/{manual.pk}/" in page
    assert client.get(f"/data/subjects/{subject_b.pk}/queries/").status_code == 404
    assert client.get(f"/data/queries/{manual.pk}/").status_code == 200


def test_study_home_counts_open_answered_and_aged_queries(two_queries, users_a, login, client):
    from crf.queries import answer_query

    manual, _automatic = two_queries
    answer_query(user=users_a["coordinator"], query=manual, answer=Query.Answer.CONFIRMED, text="As in source.")
    login(users_a["monitor"])
    page = client.get("/").content.decode()
    assert '?status=open">1</a>' in page
    assert '?status=answered">1</a>' in page
    assert 'min_days=30">1</a>' in page


def test_query_list_costs_the_same_number_of_queries_for_2_or_6_rows(two_queries, vs, users_a, login, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crf.queries import raise_query

    login(users_a["monitor"])

    def cost() -> int:
        from django.core.cache import cache

        cache.clear()  # the top bar's My tasks count is kept a minute: both calls compute it
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/data/queries/").status_code == 200
        return len(captured)

    with_two = cost()
    for name in ("heart_rate", "spo2", "temperature_c", "assessment_date"):
        raise_query(user=users_a["monitor"], form=vs, field_name=name, text="Please check.")
    assert len(_listed(client)) == 6
    assert cost() == with_two


# --- who may do what on the pages (DESIGN §4a) --------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_who_may_raise_a_query_on_the_page(vs, users_a, login, client, role):
    login(users_a[role])
    response = client.post(
        f"/data/subjects/{vs.subject_id}/forms/VS/{vs.pk}/query/", {"field_name": "heart_rate", "text": "HR?"}
    )
    if role in MAY_MANAGE:
        assert response.status_code == 302
        assert Query.objects.get().raised_by == users_a[role]
    else:
        assert response.status_code == 403
        assert Query.objects.count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_who_may_answer_on_the_page(vs, users_a, login, client, role):
    from crf.queries import raise_query

    query = raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Check.")
    login(users_a[role])
    response = _step(client, query, "confirm", "As in source.", _form_url(vs))
    if role in MAY_ANSWER:
        assert response.status_code == 302
        assert Query.objects.get().status == "answered"
    else:
        assert response.status_code == (403 if role in MAY_VIEW else 404)
        assert Query.objects.get().status == "open"


@pytest.mark.parametrize("role", ROLES)
def test_who_may_close_an_automatic_query_on_the_page(crf_ready, save_vs, users_a, login, client, role):
    from crf.queries import answer_query

    form = save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    query = Query.objects.get(rule_code="VS-DBP-GE-SBP")
    answer_query(user=users_a["coordinator"], query=query, answer=Query.Answer.CONFIRMED, text="Twice.")
    login(users_a[role])
    response = _step(client, query, "close", "", _form_url(form))
    if role in MAY_MANAGE:
        assert response.status_code == 302
        assert Query.objects.get().status == "closed"
    else:
        assert response.status_code == (403 if role in MAY_VIEW else 404)
        assert Query.objects.get().status == "answered"


def test_only_the_raiser_closes_a_manual_query_on_the_page(vs, users_a, site_a, login, client):
    from crf.queries import answer_query, raise_query

    query = raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Check.")
    answer_query(user=users_a["coordinator"], query=query, answer=Query.Answer.CONFIRMED, text="As in source.")
    login(make_user("monitor2_a", site=site_a, role="monitor"))
    assert _step(client, query, "close", "", _form_url(vs)).status_code == 403
    assert Query.objects.get().status == "answered"


def test_a_refused_step_shows_the_reason_and_saves_nothing(vs, users_a, login, client):
    from crf.queries import raise_query

    query = raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Check.")
    login(users_a["coordinator"])
    response = _step(client, query, "confirm", "   ", _form_url(vs))
    assert response.status_code == 400
    assert "Give the reason the value is correct as entered." in response.content.decode()
    login(users_a["monitor"])
    response = _step(client, query, "close", "", _form_url(vs))
    assert response.status_code == 400
    assert "Only an answered query can be closed" in response.content.decode()
    assert client.post(f"/data/queries/{query.pk}/approve/", {"text": ""}).status_code == 404
    assert [s[0] for s in _steps(query)] == ["raised"]


def test_a_monitor_at_another_site_gets_404(vs, users_a, site_b, login, client):
    from crf.queries import raise_query

    query = raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Check.")
    login(make_user("monitor_b", site=site_b, role="monitor"))
    assert client.get(f"/data/queries/{query.pk}/").status_code == 404
    assert _step(client, query, "cancel", "no", "/").status_code == 404
    response = client.post(
        f"/data/subjects/{vs.subject_id}/forms/VS/{vs.pk}/query/", {"field_name": "heart_rate", "text": "?"}
    )
    assert response.status_code == 404
    assert _listed(client) == []
