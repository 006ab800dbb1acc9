"""Dashboard server time at scale (issue 13, performance): the median time Django takes to
answer each page for a signed-in investigator, over a synthetic study (default 10,000
subjects) with a stored endpoint run. Target: under 300 ms per page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/dashboards.py \
        --subjects 10000 [--paths / /endpoints/ /safety/dlt/ ...] [--repeat 7]

The database `<prefix>_<N>` is the one bench/endpoint_run.py fills (created, migrated and
filled from the generator's dump cache when missing). When the study has no succeeded endpoint
run yet, one is computed first. Server time is measured in-process with Django's test Client
(middleware, views, queries, templates; no network), after one warm-up request per page.
Default pages: the study home, the subject list, the endpoint runs, the DLT monitor, the
latest run's page, and every parameterless URL whose name mentions a dashboard, overview,
safety, survival or response page (the dashboards of issue 13 once merged).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from _common import ROOT, child_env, ensure_database, has_study, manage, setup_django, signed_in_client

DEFAULT_PATHS = ["/", "/subjects/", "/endpoints/", "/safety/dlt/"]
DASHBOARD_WORDS = ("dashboard", "overview", "survival", "swimmer", "heat", "response_page", "safety_page")


def discovered_paths() -> list[str]:
    """Parameterless URL patterns named like the dashboards (found, not hard-coded)."""
    from django.urls import URLPattern, URLResolver, get_resolver, reverse

    found: list[str] = []

    def walk(patterns, namespace: str = "") -> None:  # type: ignore[no-untyped-def]
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace)
            elif isinstance(pattern, URLPattern) and pattern.name and any(w in pattern.name for w in DASHBOARD_WORDS):
                try:
                    found.append(reverse(f"{namespace}{pattern.name}"))
                except Exception:
                    continue

    walk(get_resolver().url_patterns)
    return sorted(set(found))


def measure(study_code: str, paths: list[str], repeat: int) -> list[dict[str, object]]:
    setup_django()
    from datetime import date

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from endpoints import services
    from endpoints.models import EndpointRun, RunStatus, RunTrigger
    from study.models import Study, User

    study = Study.objects.get(code=study_code)
    run = EndpointRun.objects.filter(study=study, status=RunStatus.SUCCEEDED).order_by("-pk").first()
    if run is None:
        started = time.monotonic()
        run = services.request_run(actor=None, study=study, cutoff_date=date(2026, 10, 31), trigger=RunTrigger.NIGHTLY)
        run = services.compute_run(run_id=run.pk)
        print(f"computed endpoint run {run.pk} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    # Signed in through the real sign-in page (the session carries its login stamp); the
    # investigator of a synthetic study gets a throw-away password here.
    client = signed_in_client(User.objects.get(username=f"{study_code}-investigator"))
    paths = paths or [*DEFAULT_PATHS, f"/endpoints/{run.pk}/", *discovered_paths()]
    rows = []
    for path in dict.fromkeys(paths):
        client.get(path)  # warm-up: template and translation caches
        times = []
        for _ in range(repeat):
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
        rows.append(
            {
                "path": path,
                "status": response.status_code,
                "median_ms": round(statistics.median(times), 1),
                "min_ms": round(min(times), 1),
                "max_ms": round(max(times), 1),
                # the query log keeps the last 9000: a full log means at least that many
                "queries": len(queries) if len(connection.queries_log) < 9000 else ">=9000",
                "bytes": len(response.content),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prefix", default="trialsite_bench", help="database name prefix")
    parser.add_argument("--study", default="synthetic")
    parser.add_argument("--paths", nargs="*", default=[], help="URL paths (default: see above)")
    parser.add_argument("--repeat", type=int, default=7, help="requests per page (median reported)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.study, args.paths, args.repeat)))
        return
    database = f"{args.prefix}_{args.subjects}"
    ensure_database(database)
    from_cache = (
        manage(
            database,
            "generate_synthetic_study",
            f"--subjects={args.subjects}",
            f"--seed={args.seed}",
            f"--study={args.study}",
            "--replace-data",
        )
        if not has_study(database, args.study)
        else None
    )
    if from_cache is not None:
        print(from_cache.stdout.strip().splitlines()[0], file=sys.stderr)
    child = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "dashboards.py"),
            "--measure",
            f"--study={args.study}",
            f"--repeat={args.repeat}",
            "--paths",
            *args.paths,
        ],
        env=child_env(database),
        check=True,
        text=True,
        capture_output=True,
    )
    sys.stderr.write(child.stderr)
    rows = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"{args.subjects} subjects, median of {args.repeat} requests as {args.study}-investigator (target < 300 ms)")
    print(f"{'path':<40} {'status':>6} {'median ms':>10} {'min':>8} {'max':>8} {'queries':>8} {'kB':>7}")
    for row in rows:
        print(
            f"{row['path']:<40} {row['status']:>6} {row['median_ms']:>10} {row['min_ms']:>8} {row['max_ms']:>8} "
            f"{row['queries']:>8} {int(row['bytes']) // 1024:>7}"
        )


if __name__ == "__main__":
    main()
