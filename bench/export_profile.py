"""Where the export's CPU goes (issue 29 item 7): the build and each dataset writer profiled
one at a time, in one process (no worker processes), on a study already in the database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_1000 nice -n 10 .venv/bin/python \
        bench/export_profile.py build --keep /tmp/export-spool [--profile build.prof] [--chunk 500]
    DATABASE_URL=… nice -n 10 .venv/bin/python bench/export_profile.py write csv --keep /tmp/export-spool \
        [--profile csv.prof] [--repeat 3]

`build` builds every SDTM and ADaM dataset in chunks as the export does (exports.chunked, one
process), spooling the rows under the `--keep` directory, and saves the datasets' metadata there
(`datasets.pickle`: each dataset without its rows, and where its spooled blocks lie), so that `write
FMT` (csv, xpt, json or xlsx; all: the four as the export writes them) can write the same rows again
and again without building: only that writer's CPU is measured (`--repeat` times, the best printed)
into a scratch directory. Each prints one JSON line: CPU seconds (user + system of this process),
wall seconds, the load average before and after, and with `--profile` a cProfile file (read with
`python -m pstats`).
`--sha` also prints each file's SHA-256: the same after a change means the same bytes.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import json
import os
import pickle
import resource
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path
from typing import Any

from _common import peak_rss_mb, setup_django


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _spool_state(rows: Any) -> dict[str, Any]:
    """Where a SpooledRows' blocks are: enough to read them again in another process."""
    paths = {rows._fd: str(rows.path), **{fd: str(path) for path, fd in rows._adopted.items()}}
    return {
        "columns": rows.columns,
        "blocks": [(count, places, paths[fd]) for count, places, fd in rows._blocks],
        "order": rows._order,
        "rows": rows._rows,
        "maps": rows._maps,
    }


def _spool_from(state: dict[str, Any]) -> Any:
    from exports.spool import SpooledRows

    spool = SpooledRows.__new__(SpooledRows)
    spool.path = Path(state["blocks"][0][2]) if state["blocks"] else Path(os.devnull)
    spool.columns = state["columns"]
    spool._position = {name: i for i, name in enumerate(spool.columns)}
    spool._fd = -1
    spool._end = 0
    spool._adopted = {}
    for _count, _places, path in state["blocks"]:
        if Path(path) not in spool._adopted:
            spool._adopted[Path(path)] = os.open(path, os.O_RDONLY)
    spool._blocks = [(count, places, spool._adopted[Path(path)]) for count, places, path in state["blocks"]]
    spool._order = state["order"]
    spool._rows = state["rows"]
    spool._maps = state["maps"]
    return spool


def _export(study_code: str, cutoff: str, at: Any = None) -> Any:
    from datetime import date, datetime

    from exports import services
    from exports.models import Export
    from study.models import Site, Study

    study = Study.objects.get(code=study_code)
    return Export(
        study=study,
        site_ids=sorted(Site.objects.filter(study=study).values_list("pk", flat=True)),
        datasets=services.available_datasets(),
        formats=["csv"],
        cutoff_date=date.fromisoformat(cutoff),
        # the writers only stamp their headers with it: a fixed time gives the same files on every
        # run (the build reads the data as they stand now)
        snapshot_at=at or datetime(2026, 12, 7, tzinfo=UTC),
        code_version="bench",
    )


def build(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["EXPORT_WORKERS"] = "1"
    setup_django()
    from django.conf import settings

    from exports import chunked, services

    settings.EXPORT_WORKERS = 1
    from django.utils import timezone

    export = _export(args.study, args.cutoff, timezone.now())
    keep = Path(args.keep)
    keep.mkdir(parents=True, exist_ok=True)
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    before, cpu = load(), cpu_s()
    started = time.monotonic()
    if profiler:
        profiler.enable()
    built, _changes = chunked.build(
        study=export.study,
        site_ids=export.site_ids,
        cutoff=export.cutoff_date,
        at=export.snapshot_at,
        names=export.datasets,
        directory=keep,
        chunk=args.chunk if args.chunk >= 0 else services.CHUNK_SUBJECTS,
    )
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    wall, cpu = time.monotonic() - started, cpu_s() - cpu
    saved = []
    for dataset in built:
        rows = dataset.rows
        state = _spool_state(rows) if hasattr(rows, "_blocks") else {"list": list(rows)}
        saved.append((dataclasses.replace(dataset, rows=[]), state))
    (keep / "datasets.pickle").write_bytes(pickle.dumps(saved))
    return {
        "step": "build",
        "rows": sum(len(d.rows) for d in built),
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 1),
        "load": f"{before} → {load()}",
        "peak_mb": round(peak_rss_mb()),
    }


def _datasets(keep: Path) -> list[Any]:
    out = []
    for meta, state in pickle.loads((keep / "datasets.pickle").read_bytes()):
        rows = state["list"] if "list" in state else _spool_from(state)
        out.append(dataclasses.replace(meta, rows=rows))
    return out


def write(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["EXPORT_WORKERS"] = "1"
    setup_django()
    from django.conf import settings

    from exports import services

    settings.EXPORT_WORKERS = 1
    export = _export(args.study, args.cutoff)
    export.formats = ["csv", "xpt", "json", "xlsx"] if args.format == "all" else [args.format]
    built = _datasets(Path(args.keep))
    export.study  # noqa: B018  (read before the clock starts)
    times = []
    digests: dict[str, str] = {}
    size = 0
    before = load()
    for attempt in range(args.repeat):
        profiler = cProfile.Profile(time.process_time) if args.profile and attempt == 0 else None
        with tempfile.TemporaryDirectory(prefix="export-profile-") as scratch:
            cpu, started = cpu_s(), time.monotonic()
            if profiler:
                profiler.enable()
            files = services.write_files(export, built, Path(scratch))
            if profiler:
                profiler.disable()
                profiler.dump_stats(args.profile)
            times.append((cpu_s() - cpu, time.monotonic() - started))
            digests = {f["name"]: f["sha256"] for f in files}
            size = sum(f["size_bytes"] for f in files)
    best = min(times)
    out = {
        "step": args.format,
        "cpu_s": round(best[0], 2),
        "cpu_s_all": [round(t[0], 2) for t in times],
        "wall_s": round(best[1], 1),
        "load": f"{before} → {load()}",
        "files": len(digests),
        "mb": round(size / 2**20, 1),
        "sha256_of_all": hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()[:16],
    }
    if args.sha:
        out["sha256"] = digests
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["build", "write"])
    parser.add_argument("format", nargs="?", default="csv", choices=["csv", "xpt", "json", "xlsx", "all"])
    parser.add_argument("--keep", required=True, help="directory of the spooled rows and their metadata")
    parser.add_argument("--study", default="synthetic")
    parser.add_argument("--cutoff", default="2026-10-31")
    parser.add_argument("--chunk", type=int, default=-1, help="subjects a chunk (default: the export's)")
    parser.add_argument("--profile", default="", help="write a cProfile file here (the first repeat)")
    parser.add_argument("--repeat", type=int, default=1, help="write the format this many times, print the best")
    parser.add_argument("--sha", action="store_true", help="print every file's SHA-256")
    args = parser.parse_args()
    result = build(args) if args.step == "build" else write(args)
    print(json.dumps(result), file=sys.stdout)


if __name__ == "__main__":
    main()
