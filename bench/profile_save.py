"""Profile the API saves in-process (issue 22): pyinstrument over `--saves` POSTs of one kind
through the Django test client (token auth, middleware, DRF, the save, the answer), and the SQL
of one such save, statement by statement. Everything is rolled back.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trialsite_writebench .venv/bin/python \
        bench/profile_save.py --kind vs [--saves 40] [--html /tmp/vs.html] [--sql]

Needs a database with the demo study (bench/write_path.py's scratch database has one).
CPU seconds of the process over the profiled saves are printed with the wall time: on a shared
machine the CPU figure is the honest one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import sys
import time
from datetime import date, timedelta
from typing import Any

from _common import setup_django
from write_path import vs_csv


def body_for(kind: str, subject_id: int, day0: date, rng: random.Random) -> tuple[str, dict]:
    last = max(1, min(28, (date.today() - day0).days - 1))
    on = (day0 + timedelta(days=rng.randint(1, last))).isoformat()
    at = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    if kind == "crs":
        return "/api/v1/crs-assessments/", {
            "subject": subject_id,
            "assessment_date": on,
            "assessment_time": at,
            "tmax_c": "38.9",
            "hypotension": False,
            "vasopressors": [],
            "oxygen_device": "nasal_cannula",
            "oxygen_flow_l_min": "4.0",
            "hypoxia_attributable_to_crs": True,
            "entry_status": "complete",
        }
    if kind == "lab":
        return "/api/v1/lab-results/", {
            "subject": subject_id,
            "collected_on": on,
            "collected_time": at,
            "panel": "CBC",
            "analyte": "ANC",
            "value": "1.2",
            "unit": "10^9/L",
            "entry_status": "complete",
        }
    if kind == "ae":
        return "/api/v1/adverse-events/", {
            "subject": subject_id,
            "ctcae_term": "Nausea",
            "grade": 1,
            "onset_date": on,
            "relationship_car_t": "possible",
            "relationship_lymphodepletion": "unlikely",
            "action": "treatment",
            "outcome": "recovering",
            "entry_status": "complete",
        }
    return "/api/v1/vital-signs/", {
        "subject": subject_id,
        "assessment_date": on,
        "assessment_time": at,
        "temperature_c": "38.4",
        "systolic_bp": 110,
        "diastolic_bp": 70,
        "heart_rate": 96,
        "spo2": 97,
        "oxygen_device": "room_air",
        "entry_status": "complete",
    }


def import_file(subjects: list[tuple[int, date]], rows: int, start: int) -> Any:
    """The benchmark's vital-signs CSV (`write_path.vs_csv`) as an upload."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("vs.csv", vs_csv(subjects, rows, start=start), content_type="text/csv")


def backend_cpu(pid: int) -> float:
    """CPU seconds of one PostgreSQL backend (this process's connection) from /proc (Linux, same
    machine): what the triggers (pghistory, the audit chain) and the statements cost the server."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=["vs", "crs", "lab", "ae", "import"], default="vs")
    parser.add_argument("--import-rows", type=int, default=200, help="rows of the VS CSV (--kind import)")
    parser.add_argument("--saves", type=int, default=40)
    parser.add_argument("--html", help="write pyinstrument's HTML report here")
    parser.add_argument("--sql", action="store_true", help="print the SQL of one save")
    parser.add_argument("--sql-summary", action="store_true", help="the SQL of one save by shape: count and time")
    parser.add_argument("--sql-saves", type=int, default=1, help="with --sql-summary: over this many saves")
    parser.add_argument("--no-profile", action="store_true", help="time only (no profiler overhead)")
    parser.add_argument("--flat", action="store_true", help="cProfile's flat list (own time) instead")
    parser.add_argument("--prof", help="with --flat: also dump cProfile's stats here (pstats, snakeviz)")
    args = parser.parse_args()
    setup_django()
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from knox.models import AuthToken

    from study.models import User
    from subjects.models import Subject

    rng = random.Random(22)
    user = User.objects.get(username="coordinator")
    subjects = list(
        Subject.objects.filter(infusion_date__isnull=False).order_by("pk").values_list("pk", "infusion_date")
    )

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            _, token = AuthToken.objects.create(user)
            client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="localhost")

            imported = [0]  # rows imported so far: each file goes on where the last one ended

            def post(rows: int = args.import_rows) -> None:
                if args.kind == "import":
                    upload = import_file(subjects, rows, imported[0])
                    imported[0] += rows
                    answer = client.post("/api/v1/imports/VS/", {"file": upload}, HTTP_HOST="localhost")
                    if answer.status_code != 201:
                        print(answer.status_code, answer.content[:400], file=sys.stderr)
                    return
                pk, day0 = rng.choice(subjects)
                path, body = body_for(args.kind, pk, day0, rng)
                answer = client.post(path, json.dumps(body), content_type="application/json")
                if answer.status_code != 201:
                    print(answer.status_code, answer.content[:400], file=sys.stderr)

            for _ in range(1 if args.kind == "import" else 3):  # warm: URLconf, serializers' fields, content types
                post(min(args.import_rows, 42))  # an import's warm-up small: the rows stay in the transaction
            if args.sql or args.sql_summary:
                with CaptureQueriesContext(connection) as ctx:
                    for _ in range(args.sql_saves if args.sql_summary else 1):
                        post()
                shapes: dict[str, list[float]] = {}
                for i, query in enumerate(ctx.captured_queries, 1):
                    sql = query["sql"]
                    if sql.startswith("SELECT set_config('pghistory"):  # the audit context, then the statement
                        sql = "[ctx] " + sql.split("; ", 1)[-1]
                    if args.sql_summary:
                        # a prepared statement by its name and text, whatever its parameters
                        prepared = re.match(r"(\[ctx\] )?EXECUTE (\w+) \(.*?\) (/\*.*)", sql, re.S)
                        key = " ".join(g for g in prepared.groups() if g) if prepared else sql
                        shape = shapes.setdefault(key[:90], [0, 0.0])
                        shape[0] += 1
                        shape[1] += float(query["time"])
                    else:
                        print(f"{i:3d} {query['time']:>6} {sql[:260]}")
                if os.environ.get("SQL_DUMP"):  # every statement in full, for EXPLAIN ANALYZE in psql
                    with open(os.environ["SQL_DUMP"], "w") as dump:
                        dump.writelines(q["sql"] + ";\n" for q in ctx.captured_queries)
                for sql, (count, seconds) in sorted(shapes.items(), key=lambda item: -item[1][1]):
                    print(f"{count:6d} {seconds:8.3f} s  {sql}")
                print(f"{len(ctx)} statements")
            profiler = flat = None
            if args.flat:
                import cProfile

                flat = cProfile.Profile(time.process_time)
                flat.enable()
            elif not args.no_profile:
                from pyinstrument import Profiler
                from pyinstrument.stack_sampler import get_stack_sampler

                # sample on this process's CPU clock: time waiting for PostgreSQL or for a core
                # (a shared machine) is left out, as the benchmark's CPU-ms column leaves it out
                get_stack_sampler().timer_func = time.process_time
                profiler = Profiler(interval=0.0005)
                profiler.start()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend = cursor.fetchone()[0]
            wall, used, server = time.perf_counter(), cpu(), backend_cpu(backend)
            for _ in range(args.saves):
                post()
            wall, used, server = time.perf_counter() - wall, cpu() - used, backend_cpu(backend) - server
            if profiler is not None:
                profiler.stop()
            if flat is not None:
                import pstats

                flat.disable()
                if args.prof:
                    flat.dump_stats(args.prof)
                pstats.Stats(flat).sort_stats("tottime").print_stats(45)
                pstats.Stats(flat).sort_stats("cumulative").print_stats(80)
            print(
                f"{args.saves} {args.kind} saves: {wall * 1000 / args.saves:.1f} ms wall, "
                f"{used * 1000 / args.saves:.1f} ms client-process CPU per save, "
                f"{server * 1000 / args.saves:.1f} ms PostgreSQL backend CPU per save"
                + (" (under the profiler)" if profiler else "")
            )
            if profiler is not None:
                if args.html:
                    with open(args.html, "w") as out:
                        out.write(profiler.output_html())
                print(profiler.output_text(unicode=True, color=False, show_all=False))
            raise Rollback
    except Rollback:
        pass


if __name__ == "__main__":
    main()
