"""CLINICAL_SPEC §10: the published CD7 CAR-T series as a sanity check of what the endpoint run
and the dashboards report. The synthetic study (demo/synthetic.py) is drawn to the published
proportions; computed through the same endpoint run a statistician starts, each published rate
must fall inside the run's exact 95 % interval — a run that miscounted responders, episodes or
grades (a wrong population, a grade scale shifted by one, episodes counted per assessment)
would put the published figure outside it.

Published (CLINICAL_SPEC §10): Pan 2021 CR 18/20 (90 %), CRS grade 1–2 in 18 and grade 3–4 in 2
(CRS 20/20, grade ≥ 3 10 %), neurotoxicity grade 1–2 in 3 (15 %); Lu 2022 MRD-negative CR by day 28
19/20 (95 %), CRS grade ≤ 2 in 18 and grade 3 in 1, neurotoxicity grade 1 in 2 (10 %)."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from endpoints import services
from endpoints.models import RunStatus
from study.models import Study
from subjects.models import Subject

pytestmark = [pytest.mark.slow, pytest.mark.req("CLINICAL_SPEC-10")]


def _row(rows, **match):
    found = [row for row in rows if all(row.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, rows)
    return found[0]


def _inside(row, published_percent: str) -> bool:
    return Decimal(row["ci_lower"]) <= Decimal(published_percent) <= Decimal(row["ci_upper"])


def test_the_runs_rates_on_the_synthetic_study_hold_the_published_series(transactional_db, tmp_path):
    call_command("generate_synthetic_study", "--subjects=60", "--seed=10", f"--cache-dir={tmp_path}", stdout=StringIO())
    study = Study.objects.get()
    run = services.request_run(actor=None, study=study, cutoff_date=timezone.localdate(), snapshot_at=None)
    done = services.compute_run(run_id=run.pk)
    assert done.status == RunStatus.SUCCEEDED, done.error
    tables = {table["key"]: table["rows"] for table in json.loads(done.results_json)["tables"]}
    infused = Subject.objects.filter(infusion_date__isnull=False).count()
    crs, icans, marrow = tables["crs_summary"], tables["icans_summary"], tables["marrow_response"]
    for rows in (crs, icans, marrow):
        assert {row["N"] for row in rows if row["population"] == "infused"} == {infused}

    # CR/CRi at day 28: Pan 18/20 (90 %), Lu 19/20 (95 %)
    orr = _row(marrow, category="orr", detail="day_28")
    assert _inside(orr, "90") and _inside(orr, "95"), orr
    # CRS in most: Lu 19/20 (95 %); grade 3 or higher: Pan 2/20 (10 %), Lu 1/20 (5 %)
    assert _inside(_row(crs, category="any"), "95")
    severe = _row(crs, category="grade_3_or_higher")
    assert _inside(severe, "10") and _inside(severe, "5"), severe
    # neurotoxicity (ICANS): Pan 3/20 grade 1–2 (15 %), Lu 2/20 grade 1 (10 %), none grade 3 or higher
    any_icans = _row(icans, category="any")
    assert _inside(any_icans, "15") and _inside(any_icans, "10"), any_icans
    assert _inside(_row(icans, category="grade_3_or_higher"), "0")
    # and the published figures are not all inside by width alone: the intervals are informative
    assert not _inside(orr, "50") and not _inside(severe, "50") and not _inside(any_icans, "50")
