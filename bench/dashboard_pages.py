"""Server time and query count of the dashboard pages (issue 13: "dashboards under 300 ms server
time at 10,000 subjects from the stored run"). A benchmark, not a test: it prints figures.

    DATABASE_URL=… .venv/bin/python bench/dashboard_pages.py --study cd7-cart-01 \
        --user investigator --password 'TrialSite-Demo-2026!' [--repeat 5] [--clone-to 10000]

Each page is requested in-process with Django's test client (the whole request: middleware,
views, queries, templates; no network), `--repeat` times after one warm-up; the median and
maximum wall time and the number of queries are printed. The run plots are timed cold (cache
cleared: matplotlib draws them) and warm (cached per run).

`--clone-to N` first grows the study to N subjects by copying its infused subjects with their
infusion, visits and CRS/ICANS assessments in bulk (audit triggers still fire) — a stand-in until
the synthetic study generator of issue 13 item 4 is available; the copies are left in the
database (use a scratch database).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")

import django

django.setup()

from django.core.cache import cache  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from adverse_events.models import CrsAssessment, IcansAssessment  # noqa: E402
from endpoints.dashboards import latest_run  # noqa: E402
from study.models import Study  # noqa: E402
from subjects.models import Infusion, Subject, Visit  # noqa: E402


def clone_to(study: Study, target: int) -> None:
    """Copy the study's infused subjects (with infusion, visits, CRS/ICANS assessments) until
    the study holds `target` subjects."""
    originals = list(Subject.objects.filter(site__study=study, infusion_date__isnull=False).order_by("pk"))
    if not originals:
        raise SystemExit("the study has no infused subject to copy")
    have = Subject.objects.filter(site__study=study).count()
    children = {model: {} for model in (Infusion, Visit, CrsAssessment, IcansAssessment)}
    for model, rows in children.items():
        for row in model._default_manager.filter(subject__in=originals).order_by("pk"):
            rows.setdefault(row.subject_id, []).append(row)
    copy = 0
    while have < target:
        with transaction.atomic():
            batch = []
            for original in originals[: min(len(originals), target - have)]:
                clone = Subject.objects.get(pk=original.pk)
                clone.pk = None
                clone.subject_id = f"{original.subject_id}-C{copy:05d}"
                clone.screening_number = f"{original.screening_number}-C{copy:05d}" if original.screening_number else ""
                batch.append((original, clone))
            Subject.objects.bulk_create([clone for _o, clone in batch])
            for model, rows in children.items():
                new = []
                for original, clone in batch:
                    for row in rows.get(original.pk, []):
                        row.pk = None
                        row.subject_id = clone.pk
                        if model is not Visit and hasattr(row, "visit_id"):
                            row.visit_id = None
                        new.append(row)
                model._default_manager.bulk_create(new, batch_size=2000)
            have += len(batch)
            copy += 1
        print(f"  {have} subjects", flush=True)


def timed(client: Client, url: str, repeat: int, *, clear: bool = False) -> tuple[float, float, int]:
    if not clear:
        client.get(url)  # warm-up
    times = []
    queries = 0
    for _ in range(repeat):
        if clear:
            cache.clear()
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured)
    return statistics.median(times), max(times), queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", required=True)
    parser.add_argument("--user", default="investigator")
    parser.add_argument("--password", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--clone-to", type=int, default=0)
    args = parser.parse_args()
    study = Study.objects.get(code=args.study)
    if args.clone_to:
        clone_to(study, args.clone_to)
    client = Client()
    response = client.post(reverse("login"), {"username": args.user, "password": args.password})
    if response.status_code != 302:
        raise SystemExit("sign-in failed")
    subjects = Subject.objects.filter(site__study=study).count()
    print(f"study {study.code}: {subjects} subjects; user {args.user}; {args.repeat} requests per page")
    pages = [
        ("safety dashboard, page 1", reverse("dashboards:safety") + f"?study={study.code}", False),
        ("safety dashboard, last page", reverse("dashboards:safety") + f"?study={study.code}&page=last", False),
        ("swimmer SVG, page 1", reverse("dashboards:swimmer_svg") + f"?study={study.code}", False),
        ("response and survival", reverse("dashboards:efficacy") + f"?study={study.code}", False),
        ("study overview", reverse("dashboards:overview") + f"?study={study.code}", False),
        ("enrolment SVG", reverse("dashboards:enrolment_svg") + f"?study={study.code}", False),
    ]
    run = latest_run(study)
    if run is not None:
        for name in ("os-km", "relapse-cif", "response"):
            url = reverse("dashboards:run_plot", args=[run.pk, name])
            if client.get(url).status_code == 200:
                pages.append((f"run plot {name} (cold: drawn)", url, True))
                pages.append((f"run plot {name} (warm: cached)", url, False))
    print(f"{'page':40} {'median ms':>10} {'max ms':>8} {'queries':>8}")
    for label, url, clear in pages:
        median, worst, queries = timed(client, url, args.repeat, clear=clear)
        print(f"{label:40} {median:10.1f} {worst:8.1f} {queries:8d}")


if __name__ == "__main__":
    main()
