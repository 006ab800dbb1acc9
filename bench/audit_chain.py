"""Cost of the audit hash chain trigger (issue 21) on a save.

Run against a scratch database, as its owner (it switches the chain trigger off for the baseline
and leaves one study row behind). Each save is its own transaction, as in the application. Usage:
    createdb bench_chain && DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_chain \
        .venv/bin/python manage.py migrate && \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_chain .venv/bin/python bench/audit_chain.py [N]
Prints the mean time of an ORM save() of a tracked row (one UPDATE + its history event) with and
without the chain trigger, in alternating rounds."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

import django
from django.db import connection

if TYPE_CHECKING:
    from study.models import Study

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
django.setup()


def timed_saves(study: Study, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        study.title = f"Bench {i}"
        study.save(update_fields=["title"])
    return (time.perf_counter() - start) / n * 1000


def set_chain(enabled: bool) -> None:
    with connection.cursor() as cur:
        cur.execute(f"ALTER TABLE study_studyevent {'ENABLE' if enabled else 'DISABLE'} TRIGGER trialsite_audit_chain")


def main() -> None:
    from study.models import Study  # after django.setup(): the models need the app registry

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    study, _ = Study.objects.get_or_create(
        code="bench-chain", defaults={"title": "Bench", "registry_id": "NCT99999999", "phase": "I"}
    )
    timed_saves(study, 100)  # warm up
    rounds: dict[bool, list[float]] = {True: [], False: []}
    try:
        for enabled in (True, False, True, False):
            set_chain(enabled)
            rounds[enabled].append(timed_saves(study, n))
    finally:
        set_chain(True)
    with_chain, without_chain = min(rounds[True]), min(rounds[False])
    print(
        f"{n} saves per round, best of 2 rounds: {with_chain:.3f} ms with the chain trigger, "
        f"{without_chain:.3f} ms without (+{with_chain - without_chain:.3f} ms a save)"
    )


if __name__ == "__main__":
    main()
