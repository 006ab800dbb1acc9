"""Where an endpoint run's time goes (issue 30 item 6): the CPU seconds of each part of one run —
each snapshot read of `load_cut`, the input digest, each table builder, the CSV and XLSX files —
on an existing bench database (nothing is generated, written or dropped), and optionally a
pyinstrument profile of the whole run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_1000 \\
        .venv/bin/python bench/endpoint_profile.py [--pyinstrument out.html] [--top 25]

CPU seconds are this process's (`time.process_time`; the database's work is not included), so
they hold on the shared machine; wall seconds are given beside them with the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from _common import peak_rss_mb, setup_django

TIMES: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])


@contextmanager
def timed(name: str) -> Iterator[None]:
    wall, cpu = time.monotonic(), time.process_time()
    try:
        yield
    finally:
        entry = TIMES[name]
        entry[0] += time.process_time() - cpu
        entry[1] += time.monotonic() - wall
        entry[2] += 1


def wrap(owner: Any, attribute: str, label: Callable[..., str]) -> None:
    """Time every call of `owner.attribute` under `label(*args, **kwargs)`."""
    original = getattr(owner, attribute)

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        with timed(label(*args, **kwargs)):
            return original(*args, **kwargs)

    setattr(owner, attribute, timed_call)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="synthetic")
    parser.add_argument("--cutoff", default="2026-10-31")
    parser.add_argument("--pyinstrument", metavar="FILE", help="also write a pyinstrument profile (.html or .txt)")
    parser.add_argument("--top", type=int, default=30, help="parts shown, largest CPU first")
    args = parser.parse_args()
    setup_django()
    from django.utils import timezone

    from endpoints import files, services, snapshot
    from study.models import Study

    wrap(snapshot, "rows_as_of", lambda model, *a, **k: f"read {model.__name__}")
    wrap(snapshot, "history_as_of", lambda model, *a, **k: f"read {model.__name__} history")
    wrap(services, "input_digest", lambda *a, **k: "input digest")
    wrap(services, "at_cutoff", lambda *a, **k: "AE grade at the cut-off")
    wrap(files, "tables_csv", lambda *a, **k: "results CSV")
    wrap(files, "tables_xlsx", lambda *a, **k: "results XLSX")
    wrap(services, "results_document", lambda *a, **k: "results JSON")
    services.BUILDERS = tuple(_timed_builder(build) for build in services.BUILDERS)

    study = Study.objects.get(code=args.study)
    cutoff, at = date.fromisoformat(args.cutoff), timezone.now()
    profiler = None
    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
    wall, cpu = time.monotonic(), time.process_time()
    paused = services.without_cyclic_gc()  # as the run computes (endpoints.services._compute)
    paused.__enter__()
    with timed("load_cut"):
        data, version, digest = services.load_cut(study, cutoff=cutoff, at=at)
    with timed("tables"):
        from endpoints import tables

        pop = tables.population(data)
        built = [build(data, pop) for build in services.BUILDERS]
    document = services.results_document(cutoff=cutoff, at=at, version=version, built=built)
    files.tables_csv(built)
    files.tables_xlsx(built, stamped=at)
    paused.__exit__(None, None, None)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    if profiler is not None:
        profiler.stop()
        out = args.pyinstrument
        with open(out, "w") as handle:
            handle.write(profiler.output_html() if out.endswith(".html") else profiler.output_text(show_all=False))
    rows = sum(len(getattr(data, name)) for name in tables.CutData.INPUTS)
    print(f"run (no writes): {cpu:.2f} CPU-s, {wall:.2f} s wall, peak RSS {peak_rss_mb():.0f} MB, ", end="")
    print(f"{rows} input rows, results {len(document)} bytes; load average {os.getloadavg()[0]:.2f}")
    # to compare code versions on the same data: the same inputs and the same tables
    tables_sha = hashlib.sha256(tables.canonical_json(built).encode()).hexdigest()
    print(f"input digest {digest}; SHA-256 of the tables {tables_sha}")
    print(f"{'part':<44} {'CPU s':>7} {'wall s':>7} {'calls':>5}")
    for name, (part_cpu, part_wall, calls) in sorted(TIMES.items(), key=lambda item: -item[1][0])[: args.top]:
        print(f"{name:<44} {part_cpu:>7.2f} {part_wall:>7.2f} {calls:>5}")


def _timed_builder(build: Callable[..., Any]) -> Callable[..., Any]:
    def timed_build(data: Any, pop: Any) -> Any:
        with timed(f"table {build.__name__}"):
            return build(data, pop)

    timed_build.__name__ = build.__name__
    return timed_build


if __name__ == "__main__":
    main()
