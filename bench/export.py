"""The SDTM + ADaM export at scale (issue 29 item 7): time and peak memory of each step and each
format over a synthetic study of N subjects, for several N.
Targets (2 cores): every format at 10,000 subjects in under 120 s, peak under 1.5 GB, the
writers' memory flat in the number of subjects, the archive download starting within 1 s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/export.py 1000 10000

Each N gets a database of its own (`<prefix>_<N>`, created and migrated when missing) filled by
`generate_synthetic_study` (restored from its dump cache when there is one; `--keep-data` uses
the study already there). Every measurement runs in a fresh child process, whose own peak RSS
(VmHWM) it reports:

- `formats`: load the cut and build every SDTM and ADaM dataset ("build": its time and peak
  are the data assembly's; in chunks of subjects with the rows spooled to disk as the export
  does, exports.chunked, `--chunk N` subjects a chunk, 0 = every subject at once with
  exports.sdtm.load and the builders alone), then write each format in turn (`csv`, `xpt`,
  `json` = Dataset-JSON and NDJSON, `xlsx`; `odm` = the captured data as CDISC ODM, read from the
  database again, exports.services.odm_file) to a scratch directory (exports.services.write_files),
  the peak reset before each (/proc/self/clear_refs): "writer s" and "writer MB" (peak over the
  RSS it started from) are that writer's alone. `all` writes csv, xpt, json and xlsx in one
  call, as the export does (the files shared out among the worker processes together).
- the chunks are built and the files written by `EXPORT_WORKERS` forked processes (exports.parallel,
  default 2; set the variable to 1 for one process); `cpu s` adds the workers' CPU, and
  "workers MB" is the largest peak of one worker so far.
- `--repeat K` writes the formats once more with every dataset's rows repeated K times (copies
  made as they are read, USUBJID suffixed): the writers at K times the volume, to show their
  memory flat in the number of rows. The assembly is not repeated.
- `export`: one whole export in every dataset format (not ODM: ~3 MB a subject, measured by the
  formats step) as the worker runs it (request_export +
  compute_export: build, checks, write, store the files in the database), wall time and peak.
- every step also reports the measuring process's CPU seconds (`cpu s`: user + system, the
  database server's not included) and the load average before and after it (a shared machine).
- `archive`: "download all" of that export through the real view (Django test client, signed
  in as a statistician of every site): time to the first byte, total time, bytes, peak.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import ROOT, child_env, ensure_database, has_study, manage, peak_rss_mb, rss_mb, setup_django

FORMATS = ("csv", "xpt", "json", "xlsx", "odm")
#: also accepted by --formats: "all" = csv, xpt, json and xlsx written in one call, as the export does
#: the whole export's formats: every dataset format; ODM (the captured data with their audit
#: trail, ~3 MB a subject) is measured by the formats step, not stored by this one
EXPORT_FORMATS = ("csv", "xpt", "json", "xlsx")
STEPS = ("formats", "export", "archive")


def cpu_s() -> float:
    """CPU seconds (user + system) of this process and of its worker processes that have ended
    (exports.parallel) so far (the database server's are not in it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


def workers_peak_mb() -> float:
    """The largest peak RSS of any worker process of this one that has ended (0 without any):
    each worker is forked from this process, so its RSS counts the pages it still shares with it."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def _export_for(study_code: str, cutoff: str, formats: list[str]):  # type: ignore[no-untyped-def]
    """An unsaved export of every dataset of every site: what build() reads."""
    from datetime import date

    from django.utils import timezone

    from exports import services
    from exports.models import Export
    from study.models import Site, Study

    study = Study.objects.get(code=study_code)
    return Export(
        study=study,
        site_ids=sorted(Site.objects.filter(study=study).values_list("pk", flat=True)),
        datasets=services.available_datasets(),
        formats=formats,
        cutoff_date=date.fromisoformat(cutoff),
        snapshot_at=timezone.now(),
        code_version="bench",
    )


class Repeated(Sequence):  # type: ignore[type-arg]
    """A dataset's rows `times` over, copy k's USUBJID suffixed "-k": the volume of `times` as
    many subjects for the writers, without holding more rows than the study has (a copy is
    made as it is read)."""

    def __init__(self, rows: list[dict[str, object]], times: int) -> None:
        self.rows, self.times = rows, times

    def __len__(self) -> int:
        return len(self.rows) * self.times

    def _row(self, index: int) -> dict[str, object]:
        copy, at = divmod(index, len(self.rows))
        row = self.rows[at]
        if copy == 0 or "USUBJID" not in row:
            return row
        return {**row, "USUBJID": f"{row['USUBJID']}-{copy}"}

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            return itertools.islice(iter(self), start, stop, step)
        return self._row(index)

    def __iter__(self):  # type: ignore[no-untyped-def]
        # read in order, not by index: spooled rows (exports.spool) are read a block at a time
        for copy in range(self.times):
            for row in self.rows:
                yield row if copy == 0 or "USUBJID" not in row else {**row, "USUBJID": f"{row['USUBJID']}-{copy}"}


def measure_formats(
    study_code: str, cutoff: str, formats: list[str], times: int = 1, chunk: int = -1
) -> list[dict[str, object]]:
    """Build once (load + datasets, timed with its peak: in chunks of `chunk` subjects as the
    export does, exports.chunked; 0 = every subject at once), then write each format in turn,
    the peak reset before each: every format's own time and peak."""
    setup_django()
    from exports import chunked, datasets, parallel, sdtm, services

    chunk = services.CHUNK_SUBJECTS if chunk < 0 else chunk
    export = _export_for(study_code, cutoff, formats)
    base = rss_mb()
    spool = tempfile.TemporaryDirectory(prefix="bench-export-spool-")
    load_before, cpu_before = load(), cpu_s()
    started = time.monotonic()
    if chunk:
        built, _changes = chunked.build(
            study=export.study,
            site_ids=export.site_ids,
            cutoff=export.cutoff_date,
            at=export.snapshot_at,
            names=export.datasets,
            directory=Path(spool.name),
            chunk=chunk,
        )
        loaded = started
    else:
        data = sdtm.load(study=export.study, site_ids=export.site_ids, cutoff=export.cutoff_date, at=export.snapshot_at)
        loaded = time.monotonic()
        built = datasets.build_all(data, export.datasets)
        del data
    out: list[dict[str, object]] = [
        {
            "format": "build",
            "times": 1,
            "chunk": chunk,
            "rows": sum(len(d.rows) for d in built),
            "LB": next((len(d.rows) for d in built if d.name == "LB"), 0),
            "load_s": round(loaded - started, 1),
            "wall_s": round(time.monotonic() - started, 1),
            "cpu_s": round(cpu_s() - cpu_before, 1),
            "load": f"{load_before} → {load()}",
            "rss_before_mb": round(base),
            "peak_mb": round(peak_rss_mb()),
            "workers": parallel.workers(),
            "workers_peak_mb": round(workers_peak_mb()),
        }
    ]
    if times > 1:
        for dataset in built:
            if dataset.rows:
                dataset.rows = Repeated(dataset.rows, times)  # type: ignore[assignment]
    for fmt in formats:
        # "all": every dataset format in one call, as the export writes them (their files shared
        # out among the worker processes together)
        export.formats = list(EXPORT_FORMATS) if fmt == "all" else [fmt]
        before = rss_mb()
        reset_peak()
        load_before, cpu_before = load(), cpu_s()
        with tempfile.TemporaryDirectory(prefix="bench-export-") as scratch:
            started = time.monotonic()
            if fmt == "odm":  # the captured data, not the datasets: read from the database again
                files = [services.odm_file(export, Path(scratch))]
            else:
                files = services.write_files(export, built, Path(scratch))
            wall = time.monotonic() - started
            cpu = cpu_s() - cpu_before
        writer_peak = peak_rss_mb()
        out.append(
            {
                "format": fmt,
                "times": times,
                "rows": sum(len(d.rows) for d in built),
                "write_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
                "load": f"{load_before} → {load()}",
                "rss_before_write_mb": round(before),
                "write_peak_mb": round(writer_peak),
                "write_extra_mb": round(writer_peak - before),
                "files": len(files),
                "bytes_mb": round(sum(f["size_bytes"] for f in files) / 2**20, 1),
                "workers_peak_mb": round(workers_peak_mb()),
            }
        )
    spool.cleanup()
    return out


def measure_export(study_code: str, cutoff: str) -> dict[str, object]:
    setup_django()
    from exports import services
    from exports.models import ExportTrigger

    template = _export_for(study_code, cutoff, list(EXPORT_FORMATS))
    export = services.request_export(
        actor=None,
        study=template.study,
        cutoff_date=template.cutoff_date,
        formats=list(EXPORT_FORMATS),
        trigger=ExportTrigger.COMMAND,
    )
    load_before, cpu_before = load(), cpu_s()
    started = time.monotonic()
    export = services.compute_export(export_id=export.pk)
    wall = time.monotonic() - started
    assert export.status == "succeeded", export.error
    return {
        "export_id": export.pk,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu_s() - cpu_before, 1),
        "load": f"{load_before} → {load()}",
        "peak_mb": round(peak_rss_mb()),
        "workers_peak_mb": round(workers_peak_mb()),
        "files": export.files.count(),
        "bytes_mb": round(sum(export.files.values_list("size_bytes", flat=True)) / 2**20, 1),
    }


def measure_archive(study_code: str, export_id: int) -> dict[str, object]:
    setup_django()
    from _common import signed_in_client
    from django.utils import timezone

    from study.models import Membership, Site, User

    user, _created = User.objects.get_or_create(
        username=f"{study_code}-bench-statistician", defaults={"printed_name": "Bench statistician"}
    )
    for site in Site.objects.filter(study__code=study_code):
        Membership.objects.get_or_create(
            user=user, site=site, role="statistician", defaults={"granted_at": timezone.now()}
        )
    client = signed_in_client(user)
    base = rss_mb()
    load_before, cpu_before = load(), cpu_s()
    started = time.monotonic()
    response = client.get(f"/exports/{export_id}/archive.zip")
    assert response.status_code == 200, response.status_code
    stream = iter(response.streaming_content)
    first = next(stream)
    first_byte = time.monotonic() - started
    size = len(first)
    for piece in stream:
        size += len(piece)
    wall = time.monotonic() - started
    return {
        "first_byte_s": round(first_byte, 3),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu_s() - cpu_before, 1),
        "load": f"{load_before} → {load()}",
        "bytes_mb": round(size / 2**20, 1),
        "rss_before_mb": round(base),
        "peak_mb": round(peak_rss_mb()),
    }


def child(database: str, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "export.py"), *args],
        env=child_env(database),
        check=False,
        text=True,
        capture_output=True,
    )
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:200], "returncode": done.returncode}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("subjects", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prefix", default="trialsite_bench_export", help="database name prefix")
    parser.add_argument("--study", default="synthetic")
    parser.add_argument("--cutoff", default="2026-10-31", help="clinical cut-off of the export")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, of {', '.join(STEPS)}")
    parser.add_argument("--formats", default=",".join(FORMATS), help="the formats written by the formats step")
    parser.add_argument("--keep-data", action="store_true", help="use the study already in the database")
    parser.add_argument(
        "--chunk",
        type=int,
        default=-1,
        help="subjects built at a time by the formats step (default: the export's, "
        "exports.services.CHUNK_SUBJECTS; 0 = every subject at once)",
    )
    parser.add_argument("--measure", default="", help=argparse.SUPPRESS)
    parser.add_argument("--export-id", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="also write each format with every dataset's rows repeated this many times (the volume of "
        "that many times the subjects, for the writers alone: the assembly is not repeated)",
    )
    args = parser.parse_args()
    if args.measure:
        if args.measure == "export":
            result = measure_export(args.study, args.cutoff)
        elif args.measure == "archive":
            result = measure_archive(args.study, args.export_id)
        else:
            result = measure_formats(args.study, args.cutoff, args.measure.split(","), max(1, args.repeat), args.chunk)
        print(json.dumps(result))
        return
    steps = [s for s in args.steps.split(",") if s]
    table = []
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
        print(
            json.dumps({"subjects": n, "database": database, "data": how, "prep_s": round(time.monotonic() - started)})
        )
        export_id = 0
        for step in steps:
            common = [f"--study={args.study}", f"--cutoff={args.cutoff}"]
            if step == "formats":
                for times in sorted({1, max(1, args.repeat)}):
                    rows = child(
                        database, f"--measure={args.formats}", f"--repeat={times}", f"--chunk={args.chunk}", *common
                    )
                    for row in rows if isinstance(rows, list) else [rows]:
                        suffix = f" x{times}" if times > 1 else ""
                        row = {"n": n, "step": f"{row.get('format', 'formats')}{suffix}", **row}
                        table.append(row)
                        print(json.dumps(row), flush=True)
                continue
            if step == "archive" and not export_id:
                continue
            extra = [f"--export-id={export_id}"] if step == "archive" else []
            row = child(database, f"--measure={step}", *common, *extra)
            if step == "export" and "export_id" in row:
                export_id = int(row["export_id"])  # type: ignore[call-overload]
            row = {"n": n, "step": step, **row}
            table.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(
        f"{'subjects':>8} {'step':>9} {'time s':>8} {'cpu s':>7} {'peak MB':>8} {'workers MB':>10} {'writer s':>8} "
        f"{'writer MB':>9} {'files MB':>8}  load average (1/5/15 min) before → after"
    )
    for row in table:
        if "error" in row:
            print(f"{row['n']:>8} {row['step']:>9}  failed: {row['error']}")
            continue
        seconds = row.get("wall_s", row.get("write_s", ""))
        writer = row.get("write_s", "")
        extra = row.get("write_extra_mb", "")
        print(
            f"{row['n']:>8} {row['step']:>9} {seconds!s:>8} {row.get('cpu_s', '')!s:>7} {row.get('peak_mb', '')!s:>8} "
            f"{row.get('workers_peak_mb', '')!s:>10} {writer!s:>8} {extra!s:>9} {row.get('bytes_mb', '')!s:>8}  "
            f"{row.get('load', '')}"
        )
    print("format steps: 'time s' and 'writer s' = writing that format; 'peak MB' = the process (build included);")
    print("'cpu s' = the process and its worker processes (EXPORT_WORKERS, exports.parallel); 'workers MB' = the")
    print("largest peak of one worker so far (forked: it counts pages shared with the process);")
    print("'writer MB' = the writer's peak over the RSS it started from. archive: first byte in", end=" ")
    print(", ".join(f"{r['first_byte_s']} s ({r['n']})" for r in table if r.get("first_byte_s") is not None) or "-")


if __name__ == "__main__":
    main()
