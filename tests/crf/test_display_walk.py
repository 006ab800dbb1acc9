"""Issue 25 "done when": the raw-value scan and the unlabelled-time scan. Every CRF's verification view (the monitor's
read-only form page) and its record history, in English and Chinese, show each stored value as
its label: never `True`, `False`, `None`, a Python list or a raw choice key. Every time those
pages, the query, notification, SDV, dashboard, endpoint-run and export pages show names its
zone (`2026-12-06 11:22 +08:00`, or `UTC`)."""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from io import StringIO

import pytest
from django.core.management import call_command

from crf.declarations import declaration_for
from crf.models import Query
from crf.registry import crf_models
from demo.definition import DEMO_PASSWORD
from study.models import Site, User

pytestmark = [pytest.mark.req("ISSUE-25"), pytest.mark.timeout(900)]

#: Value cells of the read-only form table and of the history's change table.
FORM_VALUE = re.compile(r'<td class="value">(.*?)</td>', re.S)
HISTORY_VALUE = re.compile(r"<td>\s*(?:<del>)?(?:→ )?(.*?)(?:</del>)?\s*</td>", re.S)
HISTORY_TABLE = re.compile(r'<table class="changes">(.*?)</table>', re.S)
TAG = re.compile(r"<[^>]+>")
PY_LIST = re.compile(r"^\[.*\]$|\['|', '")
FORBIDDEN = {"True", "False", "None", "[]", "{}"}
#: Stored keys that read well as they are (a code that is also its own label).
KEYS_THAT_ARE_LABELS = {""}

#: A time of day not followed by its zone; Django's default formats ("Dec. 5, 2026", "3 p.m.").
UNLABELLED_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?"  # a date and a time …
    r"(?! ?(?::\d{2} )?(?:UTC|[+\u2212-]\d{2}:\d{2}))"  # … not followed by its zone
)
DJANGO_DEFAULT = re.compile(
    r"\b(?:a\.m\.|p\.m\.|noon|midnight)|\b(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Oct|Nov|Dec)\. \d"
)
#: Pages beside the forms and histories that show times, by the role that reads them.
TIME_PAGES = {
    "monitor": ["/data/queries/", "/data/sdv/"],
    "investigator": ["/data/notifications/", "/safety/alerts/", "/safety/dlt/"],
    "datamanager": ["/data/queries/", "/safety/dashboard/"],
    "statistician": ["/endpoints/", "/exports/"],
    "studyadmin": ["/admin/names/"],
}

#: CRFs the demo data holds at least one form of (the walk asserts it saw them all).
EXPECTED_AT_LEAST = 18


def _text(cell: str) -> str:
    return " ".join(unescape(TAG.sub(" ", cell)).split())


def _choices(model) -> tuple[set[str], set[str]]:
    """(choice keys of the model's fields that differ from every label, all labels) in both
    languages: a label may read "None" (action taken: none), a raw key never shows."""
    from django.utils import translation

    keys: set[str] = set()
    labels: set[str] = set()
    for field in model._meta.concrete_fields:
        base = getattr(field, "base_field", field)
        for key, label in getattr(base, "flatchoices", None) or []:
            if isinstance(key, str) and key:
                keys.add(key)
                for language in ("en", "zh-hans"):
                    with translation.override(language):
                        labels.add(str(label))
    return keys - labels - KEYS_THAT_ARE_LABELS, labels


def _visible(html: str) -> str:
    """The page's text as read: no tags, scripts or attribute values (a <time datetime=…>)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(TAG.sub(" ", html))


def _check_times(html: str, where: str, problems: list[str]) -> None:
    text = _visible(html)
    for found in UNLABELLED_TIME.finditer(text):
        problems.append(f"{where}: unlabelled time {text[found.start() : found.end() + 12]!r}")
    for found in DJANGO_DEFAULT.finditer(text):
        problems.append(f"{where}: {text[found.start() - 20 : found.end() + 10]!r}")


def _check(cells: list[str], choices: tuple[set[str], set[str]], where: str, problems: list[str]) -> None:
    raw_keys, labels = choices
    for cell in cells:
        shown = _text(cell)
        if shown in FORBIDDEN and shown not in labels:
            problems.append(f"{where}: {shown!r}")
        if PY_LIST.search(shown):
            problems.append(f"{where}: a Python list {shown!r}")
        if shown in raw_keys:
            problems.append(f"{where}: raw choice key {shown!r}")


#: Demo courses walked: 12 (HSCT in remission, GvHD, death) and 2 (CRi, relapse, death) between
#: them fill most forms; the whole demo study (24 subjects) is too slow for the fast tier.
COURSES = (12, 2)


@pytest.fixture
def demo(db, monkeypatch):
    return _walked(monkeypatch, COURSES)


#: The demo course whose CRS grade 3 on pressors the investigator confirms as a DLT.
DLT_COURSE = 6


@pytest.fixture
def demo_dlt(db, monkeypatch):
    return _walked(monkeypatch, (DLT_COURSE,))


def _walked(monkeypatch, walked: tuple[int, ...]) -> Site:
    import random

    from demo import courses as subjects_demo
    from demo import safety as demo_safety

    call_command("load_demo_study", "--with-demo-accounts", "--no-subjects", stdout=StringIO())
    site = Site.objects.get(code="01")
    coordinator = User.objects.get(username="coordinator")
    today = date(2027, 6, 1)
    # the courses are walked to a day after the real today: lifecycle dates after the site's today
    # are refused (issue 24), so the site's today (one seam) is that day
    monkeypatch.setattr("subjects.services.visits.site_today", lambda subject, now=None: today)
    demo_safety.ensure_sponsor_contacts(site.study)
    investigator = demo_safety.site_investigator(site)
    rng = random.Random(subjects_demo.SEED + 1)
    courses = subjects_demo.plan(today)
    for index in walked:
        subjects_demo._walk(
            courses[index], site=site, user=coordinator, today=today, rng=rng, investigator=investigator
        )
    return site


def test_every_crf_value_and_history_cell_is_a_label(demo, login, client):
    monitor = User.objects.get(username="monitor")
    login(monitor, password=DEMO_PASSWORD)
    seen = []
    problems: list[str] = []
    for code, model in sorted(crf_models().items()):
        form = model._default_manager.filter(subject__site=demo, entered_in_error=False).order_by("pk").last()
        if form is None:
            continue
        seen.append(code)
        choices = _choices(model)
        for language in ("en", "zh-hans"):
            monitor.language = language
            monitor.save(update_fields=["language"])
            if declaration_for(model).entry_page is None:
                page = client.get(f"/subjects/{form.subject_id}/forms/{code}/{form.pk}/")
                assert page.status_code == 200, code
                _check_times(page.content.decode(), f"{code} form {language}", problems)
                cells = FORM_VALUE.findall(page.content.decode())
                assert cells, f"{code}: no value cells on the verification view"
                _check(cells, choices, f"{code} form {language}", problems)
            page = client.get(f"/history/{model._meta.label_lower}/{form.pk}/")
            assert page.status_code == 200, code
            _check_times(page.content.decode(), f"{code} history {language}", problems)
            changes = HISTORY_TABLE.findall(page.content.decode())
            assert changes, f"{code}: no changes in the history"
            _check(
                [c for t in changes for c in HISTORY_VALUE.findall(t)], choices, f"{code} history {language}", problems
            )
    assert len(seen) >= EXPECTED_AT_LEAST, seen
    queries = list(Query.objects.filter(subject__site=demo).order_by("pk").values_list("pk", flat=True)[:3])
    for username, urls in TIME_PAGES.items():
        user = User.objects.get(username=username)
        client.post("/accounts/logout/")  # the sign-in page keeps a signed-in user as they are
        login(user, password=DEMO_PASSWORD)
        assert client.get("/").wsgi_request.user == user
        for language in ("en", "zh-hans"):
            user.language = language
            user.save(update_fields=["language"])
            # query pages are CRF pages: not for statisticians or study admins (DESIGN §4a)
            query_pages = (
                [f"/data/queries/{pk}/" for pk in queries] if username not in ("statistician", "studyadmin") else []
            )
            for url in [*urls, *query_pages]:
                page = client.get(url)
                if page.status_code != 200:
                    problems.append(f"{url} {username}: status {page.status_code}")
                    continue
                _check_times(page.content.decode(), f"{url} {username} {language}", problems)
    assert problems == [], "\n".join(problems)


def test_names_and_dlt_findings_in_the_reader_language(demo_dlt, login, client):
    """Issue 25 items 3 and 4 on the walked pages: the demo's dose levels and site by their
    Chinese names for a Chinese reader and English names for an English one, never the other
    language's; each DLT finding in the reader's language, rendered from its stored code."""
    from django.utils import translation

    from adverse_events.dlt_text import finding_text
    from adverse_events.models import DltCandidate
    from study.models import DoseLevelName
    from subjects.models import Subject

    investigator = User.objects.get(username="investigator")
    login(investigator, password=DEMO_PASSWORD)
    levels = list(DoseLevelName.objects.filter(study=demo_dlt.study).order_by("code"))
    assert [(level.code, level.name_zh) for level in levels][:1] == [("DL1", "剂量组 1（0.5 × 10⁶/kg）")]
    candidates = list(DltCandidate.objects.filter(subject__site=demo_dlt, withdrawn=False))
    assert candidates, "the walked courses flag at least one DLT candidate"
    assert all(c.description_code for c in candidates)
    subject = Subject.objects.filter(site=demo_dlt).exclude(dose_level="").order_by("pk").first()
    level = next(level for level in levels if level.code == subject.dose_level)
    for language, other in (("zh-hans", "en"), ("en", "zh-hans")):
        investigator.language = language
        investigator.save(update_fields=["language"])
        name_of = {"zh-hans": lambda row: row.name_zh, "en": lambda row: row.name}
        monitor_page = _visible(client.get("/safety/dlt/").content.decode())
        for row in levels:
            assert name_of[language](row) in monitor_page, (language, row.code)
            assert name_of[other](row) not in monitor_page, (language, row.code)
        for candidate in candidates:
            with translation.override(language):
                shown = finding_text(candidate)
            with translation.override(other):
                not_shown = finding_text(candidate)
            page = _visible(client.get(f"/safety/dlt/candidates/{candidate.pk}/").content.decode())
            assert " ".join(shown.split()) in " ".join(page.split()), (language, candidate.key)
            assert " ".join(not_shown.split()) not in " ".join(page.split()), (language, candidate.key)
        detail = _visible(client.get(f"/subjects/{subject.pk}/").content.decode())
        assert name_of[language](level) in detail and name_of[other](level) not in detail, language
        site_name = demo_dlt.name_zh if language == "zh-hans" else demo_dlt.name
        assert site_name in detail, language
