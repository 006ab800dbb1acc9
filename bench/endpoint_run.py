"""Endpoint run at scale (issue 13, performance): wall time and peak memory of one endpoint run
over a synthetic study of N subjects, for several N, to show whether growth is linear.
Target: under 60 s and under 2 GB peak RSS at 10,000 subjects on 2 cores (issue 30 item 6: under
10 s and 1 GB on the realistic synthetic study). Each row also gives the CPU seconds of the run and
of `load_cut` (this process only) and the run's results and input SHA-256, to compare code versions
on the same database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/endpoint_run.py 1000 5000 10000

Each N gets a database of its own (`<prefix>_<N>`, created and migrated when missing) filled by
`generate_synthetic_study` (restored from its dump cache when there is one; the generation or
restore time is printed). The run is computed in a fresh process (so its peak RSS is the run's
own), the way the Celery task does it: `endpoints.services.request_run` then `compute_run`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import ROOT, child_env, ensure_database, has_study, manage, peak_rss_mb, rss_mb, setup_django


def measure(study_code: str, cutoff: str) -> dict[str, object]:
    """In this process: one endpoint run of the study; wall time, peak RSS, and the load share."""
    setup_django()
    from datetime import date

    from endpoints import services
    from endpoints.models import RunTrigger
    from study.models import Study
    from subjects.models import Subject

    study = Study.objects.get(code=study_code)
    subjects = Subject.objects.filter(site__study=study).count()
    before = rss_mb()
    run = services.request_run(
        actor=None, study=study, cutoff_date=date.fromisoformat(cutoff), trigger=RunTrigger.NIGHTLY
    )
    started, cpu = time.monotonic(), time.process_time()
    run = services.compute_run(run_id=run.pk)
    wall, cpu = time.monotonic() - started, time.process_time() - cpu
    peak = peak_rss_mb()
    assert run.status == "succeeded", run.error
    started, load_cpu = time.monotonic(), time.process_time()
    services.load_cut(study, cutoff=run.cutoff_date, at=run.snapshot_at)
    load, load_cpu = time.monotonic() - started, time.process_time() - load_cpu
    return {
        "subjects": subjects,
        "run_id": run.pk,
        "wall_s": round(wall, 2),
        "load_cut_s": round(load, 2),
        # CPU seconds of this process (the database's work not included): on the shared 2-core
        # machine the wall times above depend mostly on the load average (issue 30 item 6).
        "cpu_s": round(cpu, 2),
        "load_cut_cpu_s": round(load_cpu, 2),
        "results_sha256": run.results_sha256,
        "input_sha256": run.input_sha256,
        "peak_rss_mb": round(peak, 1),
        "rss_before_mb": round(before, 1),
        "results_bytes": len(run.results_json),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("subjects", type=int, nargs="*", default=[1000, 5000, 10000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prefix", default="trialsite_bench", help="database name prefix")
    parser.add_argument("--study", default="synthetic")
    parser.add_argument("--cutoff", default="2026-10-31", help="clinical cut-off of the run")
    parser.add_argument(
        "--keep-data", action="store_true", help="use the study already in the database (no generation or restore)"
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.study, args.cutoff)))
        return
    rows = []
    for n in args.subjects:
        database = f"{args.prefix}_{n}"
        ensure_database(database)
        started = time.monotonic()
        if args.keep_data and has_study(database, args.study):
            how = "kept"
        else:
            out = manage(
                database,
                "generate_synthetic_study",
                f"--subjects={n}",
                f"--seed={args.seed}",
                f"--study={args.study}",
                "--replace-data",
            )
            how = "restored" if "Restored from the cache" in out.stdout else "generated"
        prepared = time.monotonic() - started
        child = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "endpoint_run.py"),
                "--measure",
                f"--study={args.study}",
                f"--cutoff={args.cutoff}",
            ],
            env=child_env(database),
            check=True,
            text=True,
            capture_output=True,
        )
        row = json.loads(child.stdout.strip().splitlines()[-1])
        row.update(database=database, prepared=how, prepare_s=round(prepared, 1))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    heads = ("subjects", "data", "prep s", "run s", "load s", "peak MB", "ms/subj", "kB/subj")
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, (8, 9, 7, 7, 7, 8, 8, 8), strict=True)))
    for row in rows:
        n = int(row["subjects"])
        extra = float(row["peak_rss_mb"]) - float(row["rss_before_mb"])
        print(
            f"{n:>8} {row['prepared']:>9} {row['prepare_s']:>7} {row['wall_s']:>7} {row['load_cut_s']:>7} "
            f"{row['peak_rss_mb']:>8} {1000 * float(row['wall_s']) / n:>8.2f} {1024 * extra / n:>8.1f}"
        )
    print("ms/subj = run wall time per subject; kB/subj = (peak RSS - RSS before the run) per subject.")
    print("Roughly constant per-subject figures across N mean linear growth.")


if __name__ == "__main__":
    main()
