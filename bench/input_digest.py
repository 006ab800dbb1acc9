"""The run's input digest under each scheme (issue 30 item 6) on a bench database: `load_cut`
once (no digest), then the v1 digest (the canonical JSON of the inputs, kept to verify the runs
computed before) and the v2 digest (the inputs' Python literals) over the same inputs, each
`--repeat` times; CPU seconds of this process, the best of the repeats.

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
    cutoff = date.fromisoformat(args.cutoff)
    started = time.process_time()
    data, version, _none = services.load_cut(study, cutoff=cutoff, at=timezone.now(), digest_scheme=services.NO_DIGEST)
    read = time.process_time() - started
    rows = sum(len(getattr(data, name)) for name in tables.CutData.INPUTS)
    print(f"load_cut without a digest: {read:.2f} CPU-s, {rows} input rows; load average {os.getloadavg()[0]:.2f}")
    for scheme in (services.INPUT_DIGEST_V1, services.INPUT_DIGEST_V2):
        best, found = float("inf"), ""
        for _ in range(args.repeat):
            started = time.process_time()
            found = services.input_digest(
                cutoff=cutoff, choices=data.choices, version=version, data=data, scheme=scheme
            )
            best = min(best, time.process_time() - started)
        print(f"{scheme}: {best:.3f} CPU-s (best of {args.repeat})  {found}")


if __name__ == "__main__":
    main()
