"""Gate audit: every URL pattern of the project (pages, the API router, Django admin) walked
from the resolver, so a page or API added later without the gate fails here (DESIGN §4
"Visibility gate", §4a; STYLE habit 5).

For every pattern not public by design (PUBLIC, each with its reason):
- anonymous: a page answers the sign-in redirect, the API 401/403 (GET and POST; 405 for a
  method the view does not take);
- a signed-in user with no membership: 403/404 on every study page and API object, with the
  objects really present at site B (a 404 on a missing row would prove nothing); the pages any
  signed-in user has (USER_LEVEL, each with its reason) are left out;
- every role of site A: 403/404 on every page and API object of site B's subject (lists of the
  API answer without site B's rows).
Patterns are named by their namespaced URL name; a new name with no way to fill its arguments
fails `test_every_pattern_is_classified` naming it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from crf.api import crf_resources
from study.models import Membership
from subjects.models import Subject
from tests.api.conftest import (  # noqa: F401 (fixtures)
    coordinator,
    coordinator_b,
    created,
    example_for,
    protocol,
    schedule,
    send,
    subject_at,
    token_client,
)
from tests.conftest import make_user

pytestmark = [pytest.mark.req("DESIGN-4"), pytest.mark.req("DESIGN-4a")]

#: open without signing in, by design
PUBLIC = {
    "health": "load balancer probe: says only up or down",
    "login": "the sign-in page itself",
    "logout": "signing out needs no session",
    "password_reset_confirm": "the invitation link carries its own one-time token",
    "password_reset_complete": "the 'password set' notice after that link",
    "choose_language": "i18n set-language: the sign-in page offers both languages",
    "knox-login": "the API sign-in itself (HTTP Basic credentials)",
    "api-schema": "the OpenAPI description: endpoints and fields, no data",
    "api-docs": "the Swagger page reading that schema, no data",
    "adverse_events:notifications": "old address: redirects to datamanagement:notifications (gated)",
    "admin:/django-admin/login/": "Django admin's own sign-in page (staff only past it)",
    "admin:/django-admin/logout/": "Django admin's sign-out",
}

#: reachable by any signed-in user, membership or not: the user's own things, no study data
USER_LEVEL = {
    "home": "the start page; without a role it says so",
    "mytasks:home": "the user's own task list (empty without a role)",
    "password_change": "the user's own password",
    "password_change_done": "the user's own password",
    "api_tokens": "the user's own API tokens",
    "api_token_revoke": "revokes one of the user's own tokens (another's key: 404)",
    "session_keepalive": "the user's own session",
    "session_status": "the user's own session",
    "knox-logout": "the user's own token",
    "knox-logoutall": "the user's own tokens",
    "api-root": "the API's list of resource URLs, no data",
    "adverse_events:ctcae_terms": "the CTCAE v5.0 dictionary (public terminology, no study data)",
    "datamanagement:notifications": "the user's own notifications (none without a role)",
    "datamanagement:notification_settings": "the user's own notification choices",
}

#: a URL name whose objects are not site-bound (study-level): left out of the site-A-vs-B walk
STUDY_LEVEL = {
    "crf_import:template": "a form's empty CSV template",
    "crf_import:columns": "a form's column list",
    "api-import": "the import endpoint of a form (POST only); the rows' subjects are gated per row",
    "study_build:site_edit": "site B's settings page: the study admin's (study-wide, DESIGN §4a)",
    "labs_build:laboratory": "site B's laboratory: the study admin's (study-wide, DESIGN §4a)",
    "user_detail": "site B's coordinator's account: the study admin's (study-wide)",
    "user_grant_role": "the study admin's (study-wide)",
    "user_set_active": "the study admin's (study-wide)",
    "user_unlock": "the study admin's (study-wide)",
    "user_revoke_api_tokens": "the study admin's (study-wide)",
    "membership_end": "the study admin's (study-wide)",
    "endpoints:run_detail": "an endpoint run covers the study (statistician, DESIGN §4a)",
    "endpoints:run_file": "an endpoint run covers the study",
    "endpoints:table_file": "an endpoint run covers the study",
    "dashboards:run_plot": "an endpoint run covers the study",
    "endpoint-run-detail": "an endpoint run covers the study",
    "endpoint-run-results": "an endpoint run covers the study",
    "endpoint-run-table": "an endpoint run covers the study",
    "exports:detail": "an export covers the study (statistician, DESIGN §4a)",
    "exports:file": "an export covers the study",
    "exports:archive": "an export covers the study",
    "export-detail": "an export covers the study",
    "export-conformance": "an export covers the study",
    "export-datasets": "an export covers the study",
    "export-files": "an export covers the study",
    "api_token_revoke": "a token key, not a site's object (another user's key: 404)",
}

API_PREFIX = "/api/"


@dataclass(frozen=True)
class Pattern:
    name: str
    kwargs: tuple[str, ...]
    route: str  # one of its routes, for Django admin's unnamed ones


def all_patterns() -> list[Pattern]:
    """One entry per URL name (the API's `.json` suffix variants fold into their name); Django
    admin's patterns one per route (some are unnamed)."""
    found: dict[str, tuple[set[str], str]] = {}

    def walk(resolver: URLResolver, namespace: tuple[str, ...], prefix: str) -> None:
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry, namespace + ((entry.namespace,) if entry.namespace else ()), route)
                continue
            if namespace[:1] == ("admin",):
                name = f"admin:{route}"
            else:
                assert entry.name, f"a URL pattern without a name: {route}"
                name = ":".join((*namespace, entry.name))
            found.setdefault(name, (set(), route))[0].update(entry.pattern.regex.groupindex)

    walk(get_resolver(), (), "/")
    return [Pattern(name, tuple(sorted(kw - {"format"})), route) for name, (kw, route) in sorted(found.items())]


def is_django_admin(name: str) -> bool:
    return name.startswith("admin:")


# --- site B's objects ---------------------------------------------------------------------------


@pytest.fixture
def world(study, site_b, coordinator_b, created, subject_at):  # noqa: F811
    """One of each object at site B, entered as site B's coordinator through the services and
    the API; the URLs are filled with their keys. Returns (keys, site B's subject identifiers)."""
    from adverse_events.models import AdverseEvent, CrsEpisode, IcansEpisode
    from adverse_events.services.dlt import recompute_candidates
    from crf import locks, queries, sdv
    from crf.models import ImportRecord, ImportUpload
    from crf.services import save
    from datamanagement.pdf_jobs import request_pdf
    from datamanagement.signatures import _record as record_signature
    from endpoints.services import request_run
    from exports.services import request_export
    from labs.models import Laboratory
    from study.models import Membership

    records: dict[str, int] = {}
    by_status: dict[str, Any] = {}
    client_b = token_client(coordinator_b)
    for resource in crf_resources():  # one subject per status the examples need, else a fresh one
        example = example_for(resource)
        if example.status not in by_status:
            by_status[example.status] = subject_at(example.status, user=coordinator_b, site=site_b)
        subject = by_status[example.status]
        response = send(client_b, "POST", f"/api/v1/{resource}/", example.payload_for(subject, coordinator_b))
        if response.status_code != 201:
            _client, subject, response = created(resource, user=coordinator_b, site=site_b)
        records[resource] = response.json()["id"]
    model_of = crf_resources()
    subjects = list(Subject.objects.filter(site=site_b))
    infused = model_of["infusions"].objects.get(pk=records["infusions"]).subject
    infused.refresh_from_db()
    day0 = infused.infusion_date
    sepsis = save(
        user=coordinator_b,
        instance=AdverseEvent(
            subject=infused,
            ctcae_term="Sepsis",
            grade=4,
            onset_date=day0 + timedelta(days=6),
            serious_hospitalisation=True,
            relationship_car_t="possible",
            relationship_lymphodepletion="unlikely",
            outcome="recovering",
        ),
        expected_version=None,
    )
    icans = {**example_for("icans-assessments").payload, "ice_orientation": 2, "subject": infused.pk}
    icans["assessment_date"] = (day0 + timedelta(days=2)).isoformat()
    assert send(client_b, "POST", "/api/v1/icans-assessments/", icans).status_code == 201  # ICE 8: grade 1
    candidate = recompute_candidates(subject=infused, today=day0 + timedelta(days=40))[0]
    data_manager_b = make_user("data_manager_b", site=site_b, role="data_manager")
    investigator_b = make_user("investigator_b", site=site_b, role="investigator")
    monitor_b = make_user("monitor_b", site=site_b, role="monitor")
    statistician_b = make_user("statistician_b", site=site_b, role="statistician")
    from labs.models import VitalSigns

    vs = VitalSigns.objects.get(pk=records["vital-signs"])
    query = queries.raise_query(user=monitor_b, form=vs, field_name="systolic_bp", text="Please check SBP.")
    mark = sdv.mark_verified(user=monitor_b, form=vs)
    lock = locks.set_data_lock(user=data_manager_b, kind="freeze", study=study, form=vs, reason="review")
    signature = record_signature(
        user=investigator_b, subject=vs.subject, scope="form", meaning="reviewed", visit=None, form=vs
    )
    pdf = request_pdf(actor=data_manager_b, study=study, kind="casebook", language="en", subject=vs.subject)
    run = request_run(actor=statistician_b, study=study, cutoff_date=date(2026, 6, 1))
    export = request_export(actor=statistician_b, study=study, cutoff_date=date(2026, 6, 1))
    now = timezone.now()
    kept = ImportRecord.objects.create(
        user=coordinator_b,
        started_at=now,
        crf_code="VS",
        file_name="vs.csv",
        sha256="0" * 64,
        encoding="utf-8",
        delimiter=",",
        channel="page",
        rows=0,
        outcome="rejected",
    )
    upload = ImportUpload.objects.create(
        user=coordinator_b, crf_code="VS", file_name="vs.csv", content=b"subject\n", uploaded_at=now
    )
    laboratory = Laboratory.objects.filter(site=site_b).first() or Laboratory.objects.create(
        site=site_b, code="LAB-B", name="Lab B"
    )
    keys = {
        "records": records,
        "lab_subject": model_of["lab-results"].objects.get(pk=records["lab-results"]).subject_id,
        "marrow_subject": model_of["marrow-assessments"].objects.get(pk=records["marrow-assessments"]).subject_id,
        "crs_subject": CrsEpisode.objects.filter(subject__site=site_b).values_list("subject_id", flat=True).first(),
        "subject": vs.subject.pk,
        "infused": infused.pk,
        "visit": vs.subject.visits.order_by("pk").first().pk,
        "vs": vs.pk,
        "lab": records["lab-results"],
        "marrow": records["marrow-assessments"],
        "sae": sepsis.pk,
        "candidate": candidate.pk,
        "crs_episode": CrsEpisode.objects.filter(subject__site=site_b).values_list("pk", flat=True).first(),
        "icans_episode": IcansEpisode.objects.filter(subject__site=site_b).values_list("pk", flat=True).first(),
        "query": query.pk,
        "mark": mark.pk,
        "lock": lock.pk,
        "signature": signature.pk,
        "pdf": pdf.pk,
        "run": run.pk,
        "export": export.pk,
        "import_record": kept.pk,
        "upload": upload.pk,
        "laboratory": laboratory.pk,
        "site": site_b.pk,
        "user": coordinator_b.pk,
        "membership": Membership.objects.get(user=coordinator_b).pk,
    }
    names = set()
    for subject in subjects:
        subject.refresh_from_db()
        names.update(n for n in (subject.subject_id, subject.screening_number) if n)
    return keys, names


def kwargs_for(name: str, keys: dict[str, Any]) -> dict[str, Any]:
    """The URL arguments of `name`, filled with site B's objects (every name has a rule)."""
    subject, vs = keys["subject"], keys["vs"]
    by_name: dict[str, dict[str, Any]] = {
        "subjects:detail": {"pk": subject},
        "subjects:casebook": {"pk": subject},
        "subjects:eligibility_new": {"pk": subject},
        "subjects:infusion_live_dose": {"pk": subject},
        "subjects:identity": {"pk": subject},
        "subjects:identity_edit": {"pk": subject},
        "subjects:visit": {"pk": subject, "visit_pk": keys["visit"]},
        "subjects:visit_enter": {"pk": subject, "visit_pk": keys["visit"]},
        "subjects:visit_not_done": {"pk": subject, "visit_pk": keys["visit"]},
        "subjects:lifecycle": {"pk": subject, "action": "enrol"},
        "subjects:form_new": {"subject_pk": subject, "code": "VS"},
        "subjects:form_edit": {"subject_pk": subject, "code": "VS", "pk": vs},
        "labs:choose_panel": {"subject_pk": keys["infused"]},
        "labs:panel_new": {"subject_pk": keys["infused"], "panel": "CBC"},
        "labs:panel_edit": {"subject_pk": keys["lab_subject"], "pk": keys["lab"]},
        "response:live": {"subject_pk": keys["infused"]},
        "response:adjudicate": {"subject_pk": keys["marrow_subject"], "pk": keys["marrow"]},
        "crf:history": {"label": "labs.VitalSigns", "pk": vs},
        "crf_dm:subject_queries": {"subject_pk": subject},
        "crf_dm:query_detail": {"pk": keys["query"]},
        "crf_dm:query_step": {"pk": keys["query"], "step": "close"},
        "crf_dm:query_raise": {"subject_pk": subject, "code": "VS", "pk": vs},
        "crf_dm:sdv_mark": {"subject_pk": subject, "code": "VS", "pk": vs},
        "crf_dm:lock_lift": {"pk": keys["lock"]},
        "crf_import:preview": {"pk": keys["upload"]},
        "crf_import:preview_report": {"pk": keys["upload"]},
        "crf_import:confirm": {"pk": keys["upload"]},
        "crf_import:record": {"pk": keys["import_record"]},
        "crf_import:record_report": {"pk": keys["import_record"]},
        "crf_import:template": {"code": "VS"},
        "crf_import:columns": {"code": "VS"},
        "api-import": {"code": "VS"},
        "datamanagement:audit_export": {"fmt": "csv"},
        "datamanagement:pdf": {"pk": keys["pdf"]},
        "datamanagement:pdf_download": {"pk": keys["pdf"]},
        "datamanagement:casebook_pdf": {"subject_pk": subject},
        "datamanagement:report": {"key": "queries"},
        "dashboards:run_plot": {"pk": keys["run"], "name": "km"},
        "adverse_events:crs_live_grade": {"subject_pk": keys["infused"]},
        "adverse_events:icans_live_grade": {"subject_pk": keys["infused"]},
        "adverse_events:gvhd_live_grade": {"subject_pk": keys["infused"]},
        "adverse_events:icaht": {"subject_pk": keys["infused"]},
        "adverse_events:episodes": {"subject_pk": keys["infused"]},
        "adverse_events:episode": {"subject_pk": keys["crs_subject"], "kind": "crs", "pk": keys["crs_episode"]},
        "adverse_events:dlt_candidate": {"pk": keys["candidate"]},
        "adverse_events:sae": {"subject_pk": keys["infused"], "pk": keys["sae"]},
        "endpoints:run_detail": {"pk": keys["run"]},
        "endpoints:run_file": {"pk": keys["run"], "fmt": "csv"},
        "endpoints:table_file": {"pk": keys["run"], "key": "dlt", "fmt": "csv"},
        "exports:detail": {"pk": keys["export"]},
        "exports:file": {"pk": keys["export"], "name": "dm.csv"},
        "exports:archive": {"pk": keys["export"]},
        "study_build:site_edit": {"pk": keys["site"]},
        "labs_build:laboratory": {"pk": keys["laboratory"]},
        "user_detail": {"pk": keys["user"]},
        "user_grant_role": {"pk": keys["user"]},
        "user_set_active": {"pk": keys["user"]},
        "user_unlock": {"pk": keys["user"]},
        "user_revoke_api_tokens": {"pk": keys["user"]},
        "membership_end": {"pk": keys["membership"]},
        "api_token_revoke": {"token_key": "abcdefgh"},
        "password_reset_confirm": {"uidb64": "MQ", "token": "set-password"},
        "subject-detail": {"pk": subject},
        "visit-detail": {"pk": keys["visit"]},
        "dlt-candidate-detail": {"pk": keys["candidate"]},
        "dlt-candidate-adjudicate": {"pk": keys["candidate"]},
        "endpoint-run-detail": {"pk": keys["run"]},
        "endpoint-run-results": {"pk": keys["run"]},
        "endpoint-run-table": {"pk": keys["run"], "key": "dlt"},
        "export-detail": {"pk": keys["export"]},
        "export-conformance": {"pk": keys["export"]},
        "export-datasets": {"pk": keys["export"], "name": "DM"},
        "export-files": {"pk": keys["export"], "name": "dm.csv"},
        "query-detail": {"pk": keys["query"]},
        "query-answer": {"pk": keys["query"]},
        "query-cancel": {"pk": keys["query"]},
        "query-close": {"pk": keys["query"]},
        "query-reopen": {"pk": keys["query"]},
        "sdv-mark-detail": {"pk": keys["mark"]},
        "lock-detail": {"pk": keys["lock"]},
        "lock-lift": {"pk": keys["lock"]},
        "crs-episode-detail": {"pk": keys["crs_episode"]},
        "icans-episode-detail": {"pk": keys["icans_episode"]},
        "signature-detail": {"pk": keys["signature"]},
        "signature-verify": {"pk": keys["signature"]},
        "pdf-detail": {"pk": keys["pdf"]},
        "pdf-download": {"pk": keys["pdf"]},
    }
    for resource, pk in keys["records"].items():
        for action in ("detail", "entered-in-error"):
            by_name[f"{resource}-{action}"] = {"pk": pk}
    return by_name[name]


ADMIN_ARGUMENTS = {"app_label": "study", "object_id": "1", "content_type_id": "1", "id": "1", "url": "x"}


def url_of(pattern: Pattern, keys: dict[str, Any]) -> str:
    if is_django_admin(pattern.name):  # routes like /django-admin/study/user/<path:object_id>/change/
        route = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^)]*\))*\)", lambda m: ADMIN_ARGUMENTS[m.group(1)], pattern.route)
        route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: ADMIN_ARGUMENTS[m.group(1)], route)
        return route.replace("^", "").replace("$", "")
    return reverse(pattern.name, kwargs=kwargs_for(pattern.name, keys) if pattern.kwargs else {})


class Anything(dict):
    """Keys of the world for the anonymous walk: any key is 1 (nothing is read)."""

    def __missing__(self, key: str) -> Any:
        return {"r": 1} if key == "records" else 1


def dummy_keys() -> dict[str, Any]:
    from crf.api import crf_resources

    return Anything(records=dict.fromkeys(crf_resources(), 1))


def is_api(url: str) -> bool:
    return url.startswith(API_PREFIX)


def answers(client: Client, url: str) -> dict[str, Any]:
    return {"GET": client.get(url), "POST": client.post(url)}


def test_every_pattern_is_classified():
    """Every pattern has a rule for its arguments, and the lists name only existing patterns."""
    patterns = all_patterns()
    names = {p.name for p in patterns}
    assert len(patterns) > 200
    for pattern in patterns:
        url_of(pattern, dummy_keys())  # KeyError names a pattern without a rule
    assert set(PUBLIC) <= names and set(USER_LEVEL) <= names and set(STUDY_LEVEL) <= names


def test_anonymous_gets_the_sign_in_redirect_or_401(db, client):
    holes = []
    for pattern in all_patterns():
        if pattern.name in PUBLIC:
            continue
        url = url_of(pattern, dummy_keys())
        login = "/django-admin/login/" if is_django_admin(pattern.name) else "/accounts/login/"
        gated = []
        for method, response in answers(client, url).items():
            if response.status_code == 405:
                continue
            if is_api(url):
                ok = response.status_code in (401, 403)
            else:
                ok = response.status_code == 302 and response["Location"].startswith(login)
            gated.append(ok)
            if not ok:
                holes.append((pattern.name, method, url, response.status_code))
        assert gated, f"{pattern.name}: 405 to GET and POST"
    assert holes == [], "\n".join(map(str, holes))


def gate_answers(client: Client, url: str) -> dict[str, int]:
    return {method: response.status_code for method, response in answers(client, url).items()}


def leaks(response: Any, names: set[str]) -> list[str]:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    body = raw.decode(errors="replace")
    return sorted(name for name in names if name in body)


def test_a_user_without_membership_gets_403_or_404_on_every_study_page_and_object(world, login):
    keys, names = world
    nobody = make_user("nobody")
    page_client = login(nobody)
    api_client = token_client(nobody)
    holes = []
    for pattern in all_patterns():
        if pattern.name in PUBLIC or pattern.name in USER_LEVEL:
            continue
        url = url_of(pattern, keys)
        client = api_client if is_api(url) else page_client
        for method, response in answers(client, url).items():
            if is_django_admin(pattern.name):
                ok = response.status_code == 302 and response["Location"].startswith("/django-admin/login/")
            else:
                ok = response.status_code in (403, 404, 405)
            if not ok or leaks(response, names):
                holes.append((pattern.name, method, url, response.status_code, leaks(response, names)))
    assert holes == [], "\n".join(map(str, holes))


#: arguments that choose a format or a report, not an object: walked as site A's lists
NOT_AN_OBJECT = {"datamanagement:audit_export", "datamanagement:report"}

#: end the walker's own session or tokens: not walked while signed in
SIGN_OUT = {"knox-logout", "knox-logoutall"}


def test_site_a_users_cannot_read_site_b_subjects(world, users_a, site_a, login):
    """Site A's six roles held by one user (the union of their rights is the strongest reader
    there is): every page and API object of site B's subjects answers 403/404, and no page or
    list it may open shows a site-B subject."""
    keys, names = world
    reader = users_a["coordinator"]
    for role in users_a:
        if role != "coordinator":
            Membership.objects.create(user=reader, site=site_a, role=role, granted_at=timezone.now())
    client = login(reader)
    api_client = token_client(reader)
    holes = []
    for pattern in all_patterns():
        if pattern.name in PUBLIC or pattern.name in STUDY_LEVEL or pattern.name in SIGN_OUT:
            continue
        url = url_of(pattern, keys)
        carries_object = bool(pattern.kwargs) and pattern.name not in NOT_AN_OBJECT
        user_client = api_client if is_api(url) else client
        # a list or a page of site A is read (GET): whatever it answers, never site B's subjects
        found = answers(user_client, url) if carries_object else {"GET": user_client.get(url)}
        for method, response in found.items():
            if is_django_admin(pattern.name):  # not staff: Django admin's own sign-in
                ok = response.status_code == 302 and response["Location"].startswith("/django-admin/login/")
            elif carries_object:  # a site-B object: refused whatever the method
                ok = response.status_code in (403, 404, 405)
            else:
                ok = response.status_code < 500
            if not ok or leaks(response, names):
                holes.append((pattern.name, method, url, response.status_code, leaks(response, names)))
    assert holes == [], "\n".join(map(str, holes))
