"""An export of a small study end to end (issue 14): requested as the statistician, built from
the audit-trail snapshot, its SDTM values (RFSTDTC = first infusion, RFXSTDTC = first
lymphodepletion dose, ARMNRS, --DY without day 0 beside the Day-0 clock in SUPP--, the CRS AE
with its ASTCT grade, cells/kg with fresh/thawed), its files read back from XPT with the same
values, labels and types, SHA-256 per file, planted identity sentinels absent from every byte,
and the conformance report without errors."""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from datetime import date
from pathlib import Path

import pyreadstat
import pytest

from exports import services
from exports.models import Export, ExportDataset, ExportFile, ExportStatus
from exports.sdtm import SDTM_CORE
from tests.exports.conftest import CUTOFF, SENTINEL_BYTES, populate_for_export

pytestmark = pytest.mark.req("ISSUE-14")


def rows_by(export: Export, name: str) -> list[dict]:
    dataset = ExportDataset.objects.get(export=export, name=name)
    names = [c["name"] for c in dataset.columns]
    return [dict(zip(names, row, strict=True)) for row in dataset.rows]


def supp(export: Export, domain: str, usubjid: str, seq: int) -> dict[str, str]:
    return {
        r["QNAM"]: r["QVAL"]
        for r in rows_by(export, f"SUPP{domain}")
        if r["USUBJID"] == usubjid and r["IDVARVAL"] == str(seq)
    }


def read_xpt(content: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.xpt"
        path.write_bytes(content)
        return pyreadstat.read_xport(str(path))


def test_an_export_of_the_small_study(world, django_assert_max_num_queries):
    populate_for_export(world)
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, dataset_names=SDTM_CORE
    )
    assert export.datasets == ["DM", "EX", "AE", "CM", "DS", "LB", "VS", "MH"]
    with django_assert_max_num_queries(60):  # each form read once, whatever the number of subjects
        export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert export.row_counts == {
        "DM": 4,
        "SUPPDM": 2,
        "EX": 6,
        "SUPPEX": 24,
        "AE": 8,
        "SUPPAE": 33,
        "FA": 13,  # the grade course of each AE, one grade each here (issue 30), and the CRS assessment's 5 (issue 28)
        "CM": 1,
        "SUPPCM": 2,
        "DS": 9,
        "SUPPDS": 5,
        "LB": 2,
        "SUPPLB": 0,  # no Day-0 row per result any more (issue 28): empty, so no file
        "VS": 5,
        "SUPPVS": 0,
        "MH": 1,
    }
    assert export.conformance_errors == 0, [f for f in export.conformance if f["severity"] == "error"]
    assert export.conformance_warnings == 0, [f for f in export.conformance if f["severity"] == "warning"]

    dm = {r["SUBJID"]: r for r in rows_by(export, "DM")}
    a = dm["A-001"]
    assert a["USUBJID"] == "trial7-01-A-001"
    assert (a["RFSTDTC"], a["RFXSTDTC"], a["RFICDTC"]) == ("2026-03-20T07:30", "2026-03-15", "2026-03-01")
    assert (a["ARMCD"], a["ACTARMCD"], a["ARMNRS"], a["AGE"], a["SEX"], a["COUNTRY"]) == (
        "DL2",
        "DL2",
        None,
        46,
        "M",
        "CHN",
    )
    assert "BRTHDTC" not in a
    assert (dm["A-003"]["ARMCD"], dm["A-003"]["ACTARMCD"], dm["A-003"]["ARMNRS"]) == (
        "DL1",
        None,
        "ASSIGNED, NOT TREATED",
    )
    assert dm["A-002"]["DTHDTC"] == "2026-04-09" and dm["A-002"]["DTHFL"] == "Y"
    (failed,) = [r for r in dm.values() if r["ARMNRS"] == "SCREEN FAILURE"]
    assert failed["ARMCD"] is None

    # the CRS AE the system keeps in step: ASTCT grade, scale named; SDTM day 2 = Day-0 clock day 1
    (crs,) = [r for r in rows_by(export, "AE") if r["AECAT"] == "CRS"]
    assert (crs["AEDECOD"], crs["AELLTCD"], crs["AESOC"], crs["AETOXGR"]) == (
        "Cytokine release syndrome",
        10052015,
        "Immune system disorders",
        "1",
    )
    assert (crs["AESTDTC"], crs["AESTDY"]) == ("2026-03-21", 2)
    assert supp(export, "AE", crs["USUBJID"], crs["AESEQ"])["TOXGRSCL"] == "ASTCT 2019"
    assert supp(export, "AE", crs["USUBJID"], crs["AESEQ"])["AESTDY0"] == "1"
    (vomiting,) = [r for r in rows_by(export, "AE") if r["AEDECOD"] == "Vomiting"]  # during lymphodepletion
    assert (vomiting["AESTDY"], supp(export, "AE", vomiting["USUBJID"], vomiting["AESEQ"])["AESTDY0"]) == (-4, "-4")
    assert supp(export, "AE", vomiting["USUBJID"], vomiting["AESEQ"])["TOXGRSCL"] == "CTCAE v5.0"

    ex = [r for r in rows_by(export, "EX") if r["USUBJID"] == "trial7-01-A-002"]
    assert [(r["EXSEQ"], r["EXTRT"], r["EXDOSE"], r["EXDOSU"], r["EXSTDY"]) for r in ex] == [
        (1, "CYCLOPHOSPHAMIDE", 300, "mg/m2", -5),
        (2, "FLUDARABINE", 30, "mg/m2", -5),
        (3, "CD7 CAR-T CELLS", 1200000, "cells/kg", 1),
    ]
    assert supp(export, "EX", "trial7-01-A-002", 3)["PRODSTAT"] == "THAWED"
    assert supp(export, "EX", "trial7-01-A-002", 3)["EXSTDY0"] == "0"

    # CLINICAL_SPEC §3 lab-derived grades in LBTOX/LBTOXGR: ANC 0.4 → 4, platelets 45 → 3
    lb = {r["LBTESTCD"]: r for r in rows_by(export, "LB")}
    assert (lb["NEUT"]["LBTOX"], lb["NEUT"]["LBTOXGR"]) == ("Neutrophil count decreased", "4")
    assert (lb["PLAT"]["LBTOX"], lb["PLAT"]["LBTOXGR"]) == ("Platelet count decreased", "3")

    cm = rows_by(export, "CM")[0]
    assert (cm["CMTRT"], cm["CMINDC"]) == ("paracetamol", None)  # Chinese text left out, not garbled
    ds = [(r["DSDECOD"], r["DSCAT"]) for r in rows_by(export, "DS") if r["USUBJID"] == "trial7-01-A-002"]
    assert ds == [
        ("INFORMED CONSENT OBTAINED", "PROTOCOL MILESTONE"),
        ("CAR-T CELLS INFUSED", "PROTOCOL MILESTONE"),
        ("DEATH", "DISPOSITION EVENT"),
    ]

    files = {f.name: f for f in ExportFile.objects.filter(export=export)}
    written = [d for d, rows in export.row_counts.items() if rows]
    assert set(files) == {f"{d.lower()}.{fmt}" for d in written for fmt in ("csv", "xpt")} | {
        "define.json",
        "define.xml",
        "define.html",
        "define2-1.xsl",
    }
    for file in files.values():
        content = bytes(file.content)
        assert file.sha256 == hashlib.sha256(content).hexdigest() and file.size_bytes == len(content)
        for sentinel in SENTINEL_BYTES:
            assert sentinel not in content, (file.name, sentinel)
    define = json.loads(bytes(files["define.json"].content))
    assert "ASTCT 2019" in define["grading_scales"]["AE.AETOXGR"]
    assert define["day_convention"].startswith("--DY: SDTM study day (no day 0")

    # every XPT reads back with the same values, labels and types as the dataset
    for dataset in ExportDataset.objects.filter(export=export, rows__len__gt=0):
        df, meta = read_xpt(bytes(files[f"{dataset.name.lower()}.xpt"].content))
        assert meta.table_name == dataset.name
        assert meta.column_names == [c["name"] for c in dataset.columns]
        assert meta.column_names_to_labels == {c["name"]: c["label"] for c in dataset.columns}
        assert meta.readstat_variable_types == {
            c["name"]: "string" if c["type"] == "Char" else "double" for c in dataset.columns
        }
        for index, row in enumerate(dataset.rows):
            for column, value in zip(dataset.columns, row, strict=True):
                got = df[column["name"]][index]
                if column["type"] == "Char":
                    assert got == ("" if value is None else value), (dataset.name, column["name"], index)
                elif value is None:
                    assert math.isnan(got), (dataset.name, column["name"], index)
                else:
                    assert got == value, (dataset.name, column["name"], index)


@pytest.mark.req("DESIGN-5")
def test_the_export_shows_subjects_and_aes_as_they_stood_at_the_cut_off(world):
    """Review finding: subjects consented or enrolled after the cut-off appeared in DM with their
    later arm, and an AE resolved after the cut-off showed its later outcome."""
    from datetime import timedelta

    from subjects.services import subject as subject_services

    subjects = populate_for_export(world)
    world.infused_on(CUTOFF + timedelta(days=40), "DL3")  # consented on the cut-off + 20 days
    waiting = world.screened()  # consented before the cut-off, enrolled after it
    subject_services.enrol(
        user=world.coordinator,
        subject=waiting,
        on=CUTOFF + timedelta(days=5),
        dose_level="DL3",
        planned_infusion_date=CUTOFF + timedelta(days=20),
    )
    world.ae(
        subjects["a"],
        ctcae_term="Hypokalemia",
        grade=2,
        onset_date=CUTOFF - timedelta(days=3),
        resolution_date=CUTOFF + timedelta(days=5),
        outcome="recovered",
    )
    from decimal import Decimal

    from crf.services import save
    from subjects.models import ConcomitantMedication

    save(
        user=world.coordinator,
        instance=ConcomitantMedication(
            subject=subjects["a"], medication_name="potassium chloride", category="other", dose=Decimal("1000"),
            dose_unit="mg", route="oral", start_date=CUTOFF - timedelta(days=2), stop_date=CUTOFF + timedelta(days=3),
        ),
        expected_version=None,
    )  # fmt: skip
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, dataset_names=SDTM_CORE
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    (cm,) = [r for r in rows_by(export, "CM") if r["CMTRT"] == "potassium chloride"]
    assert (cm["CMENDTC"], cm["CMENRTPT"], cm["CMENTPT"]) == (None, "ONGOING", "2026-06-30")
    dm = {row["SUBJID"]: row for row in rows_by(export, "DM")}
    assert len(dm) == 5  # the four of the small study and the one screened before the cut-off
    waiting.refresh_from_db()
    assert waiting.subject_id not in dm and waiting.screening_number in dm
    row = dm[waiting.screening_number]
    assert (row["ARMCD"], row["ARMNRS"]) == (None, "NOT ASSIGNED")
    (ae,) = [r for r in rows_by(export, "AE") if r["AEDECOD"] == "Hypokalemia"]
    assert (ae["AESTDTC"], ae["AEENDTC"], ae["AEOUT"]) == ("2026-06-27", None, "NOT RECOVERED/NOT RESOLVED")


@pytest.mark.req("ISSUE-30")
def test_an_ae_whose_grade_changed_is_one_ae_record_at_its_cut_off_maximum_with_its_course_in_fa(world):
    """Issue 30 item 3, the sponsor convention of docs/exports.md "AE grade course": one AE
    record per AE whose AETOXGR is the highest grade reached by the cut-off, and the dated course
    in FA (one record per grade, FASPID = AESPID); a change after the cut-off is in neither."""
    subjects = populate_for_export(world)
    course = [
        {"from": "2026-06-01", "grade": 1},
        {"from": "2026-06-20", "grade": 2},
        {"from": "2026-07-10", "grade": 3},  # after the cut-off of 2026-06-30
    ]
    saved = world.ae(
        subjects["a"], ctcae_term="Hypertension", grade=1, onset_date=date(2026, 6, 1), grade_course=course
    )
    assert saved.grade == 3  # the snapshot holds the later maximum
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, dataset_names=["AE"]
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    (ae,) = [r for r in rows_by(export, "AE") if r["AEDECOD"] == "Hypertension"]
    assert (ae["AESPID"], ae["AETOXGR"], ae["AESTDTC"]) == (str(saved.pk), "2", "2026-06-01")
    course_rows = [r for r in rows_by(export, "FA") if r["FASPID"] == str(saved.pk)]
    assert [
        (r["USUBJID"], r["FATESTCD"], r["FATEST"], r["FAOBJ"], r["FAORRES"], r["FASTRESN"], r["FADTC"], r["FADY"])
        for r in course_rows
    ] == [
        ("trial7-01-A-001", "TOXGR", "Toxicity Grade", "Hypertension", "1", 1, "2026-06-01", 74),
        ("trial7-01-A-001", "TOXGR", "Toxicity Grade", "Hypertension", "2", 2, "2026-06-20", 93),
    ]
    assert {r["FASCAT"] for r in course_rows} == {"CTCAE V5.0"}
    # an AE that kept one grade has one FA record: its grade from its onset
    others = [r for r in rows_by(export, "AE") if r["AEDECOD"] != "Hypertension"]
    fa = [r for r in rows_by(export, "FA") if r["FACAT"] == "ADVERSE EVENT GRADE COURSE"]
    assert len(fa) == len(others) + 2
    assert export.conformance_errors == 0, [f for f in export.conformance if f["severity"] == "error"]
