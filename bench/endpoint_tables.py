"""Benchmark of the endpoint tables' computing step (issue 12): every builder of a run over a
synthetic cut of N infused subjects, without a database (the loading step is one query per
input model: tests/endpoints/test_safety_efficacy_tables.py). Target for the whole run at
10,000 subjects: < 60 s and < 2 GB.

    DJANGO_DEBUG=1 .venv/bin/python bench/endpoint_tables.py --subjects 10000

Prints the seconds and the peak traced memory of building the tables and their canonical JSON.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")


def synthetic_cut(n: int, seed: int = 12) -> Any:
    from endpoints.tables import CutData

    rng = random.Random(seed)
    origin = date(2024, 1, 1)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in CutData.INPUTS}
    ids = iter(range(1, 10**9))
    for pk in range(1, n + 1):
        day0 = origin + timedelta(days=rng.randrange(0, 300))
        level = rng.choice(["DL1", "DL2", "DL3"])
        rows["subjects"].append(
            {
                "id": pk,
                "subject_id": f"A-{pk:05d}",
                "screening_number": f"S-{pk:05d}",
                "enrolled_on": day0 - timedelta(days=15),
                "dose_level": level,
            }
        )
        rows["subject_history"].append(
            {"id": pk, "pgh_label": "update", "status": "follow_up", "status_date": day0, "not_infused_reason": ""}
        )
        rows["consents"].append({"id": next(ids), "subject_id": pk, "consent_date": day0 - timedelta(days=20)})
        rows["collections"].append({"id": next(ids), "subject_id": pk, "collection_date": day0 - timedelta(days=18)})
        rows["infusions"].append(
            {
                "id": next(ids),
                "subject_id": pk,
                "infusion_date": day0,
                "infusion_start": datetime.combine(day0, datetime.min.time(), tzinfo=UTC),
                "state": "fresh",
                "car_positive_per_kg_e6": Decimal("1.000"),
                "dose_lower_e6": Decimal("0.700"),
                "dose_in_range": True,
            }
        )
        for k in range(5):
            rows["adverse_events"].append(
                {
                    "id": next(ids),
                    "subject_id": pk,
                    "onset_date": day0 + timedelta(days=rng.randrange(0, 120)),
                    "collection_period": "after_infusion",
                    "grade": rng.randrange(1, 5),
                    "serious": k == 0,
                    "soc": "Gastrointestinal disorders",
                    "ctcae_term": rng.choice(["Nausea", "Vomiting", "Diarrhea"]),
                    "verbatim": "",
                    "relationship_lymphodepletion": "unlikely",
                }
            )
        crs_days = rng.randrange(0, 5)
        for d in range(1, crs_days + 1):
            rows["crs_assessments"].append(
                {
                    "id": next(ids),
                    "subject_id": pk,
                    "assessment_date": day0 + timedelta(days=d),
                    "grade": rng.randrange(0, 4),
                }
            )
        if crs_days:
            rows["crs_episodes"].append(
                {
                    "id": next(ids),
                    "subject_id": pk,
                    "number": 1,
                    "onset_date": day0 + timedelta(days=1),
                    "last_date": day0 + timedelta(days=crs_days),
                    "derived_grade": rng.randrange(1, 4),
                    "adjudicated_grade": None,
                    "superseded": False,
                }
            )
            rows["conmeds"].append(
                {
                    "id": next(ids),
                    "subject_id": pk,
                    "category": "tocilizumab",
                    "start_date": day0 + timedelta(days=1),
                    "stop_date": None,
                }
            )
        rows["icaht"].append(
            {
                "id": next(ids),
                "subject_id": pk,
                "inputs": [
                    {
                        "date": (day0 + timedelta(days=d)).isoformat(),
                        "day": d,
                        "anc": str(rng.choice(["0.3", "0.8", "1.5"])),
                    }
                    for d in range(0, 60, 3)
                ],
            }
        )
        base = next(ids)
        rows["marrow_assessments"].append(
            {
                "id": base,
                "subject_id": pk,
                "assessment_date": day0 - timedelta(days=8),
                "marrow_blasts_pct": Decimal("60"),
                "is_baseline": True,
                "response": "",
                "adjudicated_response": "",
                "mrd_status": "",
            }
        )
        for visit in (28, 90, 180):
            ma = next(ids)
            category = rng.choice(["CR", "CR", "CRi", "NR", "relapse"])
            rows["marrow_assessments"].append(
                {
                    "id": ma,
                    "subject_id": pk,
                    "assessment_date": day0 + timedelta(days=visit),
                    "marrow_blasts_pct": Decimal("2"),
                    "is_baseline": False,
                    "response": category,
                    "adjudicated_response": "",
                    "mrd_status": "negative" if category in ("CR", "CRi") else "",
                }
            )
            rows["mrd_tests"].append(
                {
                    "id": next(ids),
                    "subject_id": pk,
                    "assessment_id": ma,
                    "sample_date": day0 + timedelta(days=visit),
                    "method": "flow",
                    "detected": False,
                    "level_pct": None,
                    "sensitivity": Decimal("1E-5"),
                    "cells_analysed": 1_000_000,
                }
            )
        fate = rng.random()
        if fate < 0.3:
            rows["relapses"].append(
                {
                    "id": next(ids),
                    "subject_id": pk,
                    "relapse_date": day0 + timedelta(days=rng.randrange(60, 400)),
                    "site_marrow": True,
                    "site_blood": False,
                    "site_cns": False,
                    "site_other_emd": False,
                    "blast_cd7_status": "negative",
                }
            )
        if fate < 0.2:
            rows["deaths"].append(
                {
                    "id": next(ids),
                    "subject_id": pk,
                    "death_date": day0 + timedelta(days=rng.randrange(30, 500)),
                    "primary_cause": "disease",
                }
            )
        if 0.5 < fate < 0.6:
            rows["subsequent_therapies"].append(
                {
                    "id": next(ids),
                    "subject_id": pk,
                    "therapy_type": "hsct",
                    "start_date": day0 + timedelta(days=45),
                    "consolidative": True,
                    "donor": "matched_sibling",
                }
            )
        for month in range(1, 13):
            rows["follow_ups"].append(
                {"id": next(ids), "subject_id": pk, "contact_date": day0 + timedelta(days=30 * month), "alive": True}
            )
    return CutData(cutoff=date(2026, 1, 1), **rows)


def main() -> None:
    import django

    django.setup()
    from endpoints import services, tables

    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=10_000)
    args = parser.parse_args()
    data = synthetic_cut(args.subjects)
    tracemalloc.start()
    started = time.perf_counter()
    built = services.build_tables(data)
    document = tables.canonical_json(built)
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{args.subjects} subjects: {len(built)} tables, {len(document)} bytes of JSON")
    print(f"built in {seconds:.1f} s, peak traced memory {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
