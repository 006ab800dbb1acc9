"""ADTTE's time to relapse with non-relapse death competing (issue 29 item 5; CLINICAL_SPEC §5.3,
§8): a competing death is an event of its own kind (EVNTTYPN 2), not a censoring, so the
Aalen–Johansen estimate computed from the exported XPT alone reproduces the endpoint run's
cumulative incidence of relapse — 0.4156 at day 365 on §8's data (R survival 3.5-3)."""

from __future__ import annotations

import pytest

from clinical.survival import CompetingRiskObservation, aalen_johansen
from exports import services
from exports.models import ExportFile, ExportStatus
from tests.endpoints.conftest import make_world
from tests.endpoints.test_survival_tables import COMPETING, CUT, ORIGIN, on
from tests.endpoints.test_tables import find, run_at, tables_of
from tests.exports.test_exports import read_xpt

pytestmark = pytest.mark.req("ISSUE-29")


def test_the_run_s_cumulative_incidence_of_relapse_from_adtte_alone(transactional_db):
    world = make_world("cir-adtte")
    for days, cause in COMPETING:
        subject = world.infused_on(ORIGIN)
        if cause == 1:
            world.relapse(subject, on(days))
        elif cause == 2:
            world.death(subject, on(days), "infection")
        else:
            world.alive(subject, on(days))
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUT, dataset_names=["DM", "ADSL", "ADTTE"]
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    frame, meta = read_xpt(bytes(ExportFile.objects.get(export=export, name="adtte.xpt").content))
    assert meta.column_names_to_labels["EVNTTYPN"] == "Event Type (N)"
    rows = frame[frame["PARAMCD"] == "TTREL"].to_dict("records")
    assert len(rows) == 12
    # the §8 data as exported: (days, EVNTTYPN, CNSR, EVNTDESC) in time order
    assert sorted((r["AVAL"], r["EVNTTYPN"], r["CNSR"], r["EVNTDESC"]) for r in rows)[:4] == [
        (30.0, 0.0, 1.0, "CENSORED"),
        (60.0, 1.0, 0.0, "RELAPSE OR PROGRESSION"),
        (90.0, 2.0, 0.0, "DEATH WITHOUT RELAPSE (COMPETING EVENT)"),
        (120.0, 1.0, 0.0, "RELAPSE OR PROGRESSION"),
    ]
    incidence = aalen_johansen(
        [CompetingRiskObservation(time=r["AVAL"], cause=int(r["EVNTTYPN"])) for r in rows], cause=1
    ).interval_at(365.0)
    assert (round(incidence.incidence, 4), round(incidence.std_error, 4)) == (0.4156, 0.1633)
    assert (round(incidence.lower, 4), round(incidence.upper, 4)) == (0.1924, 0.8977)

    # the same figure as the run's table at the same cut-off
    summary = tables_of(run_at(world, cutoff=CUT))["relapse_cif_summary"]
    assert find(summary, statistic="incidence_365")["estimate"] == "41.6"  # percent, one decimal (issue 30)
    # no HSCT here: the sensitivity parameter carries the same records
    sensitivity = frame[frame["PARAMCD"] == "TTRELHS"].to_dict("records")
    assert sorted((r["AVAL"], r["EVNTTYPN"]) for r in sensitivity) == sorted((r["AVAL"], r["EVNTTYPN"]) for r in rows)
