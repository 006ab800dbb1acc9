"""ADLB (issue 29 item 5): one BDS record per numeric LB result, the SDTM baseline (LBLOBXFL) as
ABLFL with BASE/CHG/PCHG, the lab-derived CTCAE grade of CLINICAL_SPEC §3 as a low-direction
grade with its baseline grade, and the worst post-infusion grade flagged — read back from the XPT."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from clinical.units import Panel
from exports import services
from exports.models import ExportFile, ExportStatus
from labs.services import PanelRow, record_lab_panel
from tests.exports.conftest import CUTOFF, day, populate_for_export
from tests.exports.test_exports import read_xpt

pytestmark = pytest.mark.req("ISSUE-29")


def test_adlb_baseline_change_and_worst_grade(world):
    subjects = populate_for_export(world)
    a = subjects["a"]
    # ANC: screening (before the first lymphodepletion dose, day -5) grade 2, then the nadir twice
    for on, value in ((day(-10), "1.2"), (day(7), "0.3"), (day(14), "0.3"), (day(21), "0.8")):
        record_lab_panel(
            user=world.coordinator,
            subject=a,
            panel=Panel.CBC,
            collected_on=on,
            collected_time=time(8, 0),
            visit=None,
            sex="M",
            rows=[PanelRow("ANC", Decimal(value), "10^9/L")],
            complete=True,
        )
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, dataset_names=["DM", "LB", "ADSL", "ADLB"]
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert not [f for f in export.conformance if f["severity"] == "error" and f["dataset"] == "ADLB"]
    frame, meta = read_xpt(bytes(ExportFile.objects.get(export=export, name="adlb.xpt").content))
    assert meta.column_names_to_labels["ATOXGRL"] == "Analysis Toxicity Grade Low"
    neut = frame[(frame["PARAMCD"] == "NEUT") & (frame["SUBJID"] == "A-001")].sort_values("ADT")
    shown = [
        (
            str(r["ADT"]),
            r["AVAL"],
            r["ABLFL"],
            r["BASE"],
            None if r["CHG"] != r["CHG"] else round(r["CHG"], 4),
            None if r["PCHG"] != r["PCHG"] else round(r["PCHG"], 2),
            r["ATOXGRL"],
            r["BTOXGRL"],
            r["ONTRTFL"],
            r["ANL01FL"],
        )
        for r in neut.to_dict("records")
    ]
    assert shown == [
        ("2026-03-10", 1.2, "Y", 1.2, None, None, "2", "2", "", ""),
        ("2026-03-19", 0.4, "", 1.2, -0.8, -66.67, "4", "2", "", ""),  # day -1: before the infusion
        ("2026-03-27", 0.3, "", 1.2, -0.9, -75.0, "4", "2", "Y", "Y"),  # the first worst post-infusion grade
        ("2026-04-03", 0.3, "", 1.2, -0.9, -75.0, "4", "2", "Y", ""),
        ("2026-04-10", 0.8, "", 1.2, -0.4, -33.33, "3", "2", "Y", ""),
    ]
    assert neut["PARAM"].iloc[0] == "Neutrophils (10^9/L)"
    assert set(neut["SRCDOM"]) == {"LB"}
