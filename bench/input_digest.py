"""The run's input digest under each scheme (issue 30 item 6) on a bench database: per scheme,
`load_cut` with the rows that scheme covers (v1, the canonical JSON of the inputs, kept to verify
the runs computed before: every AE column; v2, the inputs' Python literals: `AE_COLUMNS`), then
its digest again `--repeat` times; CPU seconds of this process, the best of the repeats.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_1000 .venv/bin/python bench/input_digest.py
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date

from _common import setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="synthetic")
    parser.add_argument("--cutoff", default="2026-10-31")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup_django()
    from django.utils import timezone

    from endpoints import services, tables
    from study.models import Study

    study = Study.objects.get(code=args.study)
    cutoff, at = date.fromisoformat(args.cutoff), timezone.now()
    print(f"load average {os.getloadavg()[0]:.2f}")
    for scheme in (services.INPUT_DIGEST_V1, services.INPUT_DIGEST_V2):
        # the rows each scheme covers (v1: every AE column; v2: services.AE_COLUMNS)
        started = time.process_time()
        data, version, found = services.load_cut(study, cutoff=cutoff, at=at, digest_scheme=scheme)
        read = time.process_time() - started
        rows = sum(len(getattr(data, name)) for name in tables.CutData.INPUTS)
        values = sum(len(row) for name in tables.CutData.INPUTS for row in getattr(data, name))
        best = float("inf")
        for _ in range(args.repeat):
            started = time.process_time()
            again = services.input_digest(
                cutoff=cutoff, choices=data.choices, version=version, data=data, scheme=scheme
            )
            best = min(best, time.process_time() - started)
            assert again == found
        print(
            f"{scheme}: digest {best:.3f} CPU-s (best of {args.repeat}); load_cut with it {read:.2f} CPU-s; "
            f"{rows} rows, {values} values; {found}"
        )


if __name__ == "__main__":
    main()
