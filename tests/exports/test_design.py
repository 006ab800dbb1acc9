"""Trial design and EPOCH (issue 28 item 1): TS with the FDA-required parameters, TA/TE/TV/TI
from the study build, SE and SV from the subjects' courses, and EPOCH in the subject-level
events, interventions and findings read from SE — every value read back from the written XPT."""

from __future__ import annotations

import pytest

from exports import services
from exports.models import ExportFile, ExportStatus
from tests.exports.conftest import CUTOFF, populate_for_export
from tests.exports.test_exports import read_xpt

pytestmark = pytest.mark.req("ISSUE-28")

DESIGN = ["TS", "TE", "TA", "TV", "TI", "SE", "SV", "DM", "EX", "AE", "CM", "DS", "LB", "VS"]


def xpt_rows(export, name: str) -> list[dict]:
    frame, _meta = read_xpt(bytes(ExportFile.objects.get(export=export, name=f"{name.lower()}.xpt").content))
    return [{k: (None if v == "" or v != v else v) for k, v in row.items()} for row in frame.to_dict("records")]


def test_trial_design_and_epochs_read_back_from_the_xpt(world):
    populate_for_export(world)
    world.study.registry_id = "NCT05212584"
    world.study.phase = "I"
    world.study.planned_subjects = 24
    world.study.save()
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, dataset_names=DESIGN, formats=["xpt"]
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert export.conformance_errors == 0, [f for f in export.conformance if f["severity"] == "error"]

    ts = {(r["TSPARMCD"], r["TSSEQ"]): r for r in xpt_rows(export, "TS")}
    value = {parm: r["TSVAL"] for (parm, _seq), r in ts.items()}
    assert value["SSTDTC"] == "2026-03-01"  # the first informed consent (FDA technical rejection 1734)
    assert (value["REGID"], ts[("REGID", 1)]["TSVCDREF"]) == ("NCT05212584", "ClinicalTrials.gov")
    assert (value["TPHASE"], ts[("TPHASE", 1)]["TSVALCD"]) == ("PHASE I TRIAL", "C15600")
    assert (value["SDTMVER"], value["SDTIGVER"], value["PLANSUB"], value["NARMS"]) == ("2.0", "3.4", "24", "3")
    assert (value["TRT"], value["RANDOM"], value["INTMODEL"], value["FCNTRY"]) == (
        "CD7 CAR-T CELLS",
        "N",
        "SINGLE GROUP",
        "CHN",
    )
    assert (value["DCUTDTC"], value["LENGTH"], value["ACTSUB"]) == ("2026-06-30", "P398D", "3")
    # no age limits in the study build: present with a null flavour, never invented
    assert (ts[("AGEMIN", 1)]["TSVAL"], ts[("AGEMIN", 1)]["TSVALNF"]) == (None, "NI")
    assert ts[("AGEMAX", 1)]["TSVALNF"] == "NI"

    te = [(r["ETCD"], r["TEDUR"]) for r in xpt_rows(export, "TE")]
    assert te == [("SCRN", "P28D"), ("LD", "P5D"), ("CART", "P29D"), ("FU", None)]
    ta = xpt_rows(export, "TA")
    assert sorted({r["ARMCD"] for r in ta}) == ["DL1", "DL2", "DL3"]  # one arm per dose level, DM.ARMCD's codes
    assert [(r["TAETORD"], r["ETCD"], r["EPOCH"]) for r in ta if r["ARMCD"] == "DL2"] == [
        (1, "SCRN", "SCREENING"),
        (2, "LD", "TREATMENT"),
        (3, "CART", "TREATMENT"),
        (4, "FU", "FOLLOW-UP"),
    ]
    tv = {r["VISIT"]: r for r in xpt_rows(export, "TV")}
    assert len(tv) == 26
    assert (tv["INFUSION (DAY 0)"]["VISITDY"], tv["DAY 28"]["VISITDY"], tv["SCREENING"]["VISITDY"]) == (1, 29, None)
    ti = {r["IETESTCD"]: r for r in xpt_rows(export, "TI")}
    assert (ti["IN2"]["IETEST"], ti["IN2"]["IECAT"], ti["EX3"]["IECAT"]) == (
        "ECOG performance status 0-2",
        "INCLUSION",
        "EXCLUSION",
    )

    se = [(r["USUBJID"][-5:], r["ETCD"], r["SESTDTC"], r["SEENDTC"]) for r in xpt_rows(export, "SE")]
    assert se == [
        ("A-001", "SCRN", "2026-03-01", "2026-03-15"),
        ("A-001", "LD", "2026-03-15", "2026-03-20T07:30"),
        ("A-001", "CART", "2026-03-20T07:30", "2026-04-18"),  # day 29 starts the follow-up
        ("A-001", "FU", "2026-04-18", None),  # alive at the cut-off
        ("A-002", "SCRN", "2026-03-01", "2026-03-15"),
        ("A-002", "LD", "2026-03-15", "2026-03-20T07:30"),
        ("A-002", "CART", "2026-03-20T07:30", "2026-04-09"),  # died on day 20
        ("A-003", "SCRN", "2026-03-01", "2026-03-12"),  # not infused
        ("-S003", "SCRN", "2026-03-01", "2026-03-04"),  # screen failure
    ]

    # EPOCH from SE in events, interventions and findings
    ae = {(r["USUBJID"][-5:], r["AEDECOD"], r["AESTDY"]): r["EPOCH"] for r in xpt_rows(export, "AE")}
    assert ae[("A-001", "Vomiting", -4)] == "TREATMENT"  # during lymphodepletion
    assert ae[("A-001", "Nausea", 41)] == "FOLLOW-UP"
    assert ae[("A-002", "Sepsis", 16)] == "TREATMENT"
    ds = {(r["USUBJID"][-5:], r["DSDECOD"]): r["EPOCH"] for r in xpt_rows(export, "DS")}
    assert ds[("A-001", "INFORMED CONSENT OBTAINED")] == "SCREENING"
    assert ds[("A-002", "DEATH")] == "TREATMENT"
    assert ds[("-S003", "SCREEN FAILURE")] == "SCREENING"
    assert {r["EPOCH"] for r in xpt_rows(export, "EX")} == {"TREATMENT"}
    assert {r["EPOCH"] for r in xpt_rows(export, "LB")} == {"TREATMENT"}  # day -1, after the first LD dose
    assert [r["EPOCH"] for r in xpt_rows(export, "CM")] == ["TREATMENT"]
    # LB and VS at no scheduled visit: an unscheduled VISITNUM after the last visit held (SDTMIG 3.4)
    lb_visits = {(r["USUBJID"][-5:], r["LBDTC"], r["VISITNUM"], r["VISIT"]) for r in xpt_rows(export, "LB")}
    vs_visits = {(r["USUBJID"][-5:], r["VSDTC"], r["VISITNUM"], r["VISIT"]) for r in xpt_rows(export, "VS")}
    sv = [(r["USUBJID"][-5:], r["VISITNUM"], r["VISIT"], r["SVPRESP"], r["SVSTDTC"]) for r in xpt_rows(export, "SV")]
    assert lb_visits == vs_visits == {("A-001", "2026-03-19", 0.01, "UNSCHEDULED 0.01")}  # no visit held before
    assert sv == [("A-001", 0.01, "UNSCHEDULED 0.01", None, "2026-03-19")]
    # no EPOCH where SDTMIG does not put it
    for name in ("DM", "TS", "TE", "TI", "SUPPAE"):
        if ExportFile.objects.filter(export=export, name=f"{name.lower()}.xpt").exists():
            assert "EPOCH" not in xpt_rows(export, name)[0], name


def test_unscheduled_visits_are_numbered_after_the_last_visit_held():
    """SDTMIG 3.4: an unscheduled visit's VISITNUM follows the last scheduled visit on or before
    its date (1 → 1.01, 1.02; 3 → 3.01; before any visit 0.01); a record at a visit keeps it."""
    from datetime import date

    from exports.sdtm import ExportData

    d = date
    visits = {
        10: {"num": 1, "name": "SCREENING", "subject_id": 7, "definition_id": 1, "date": d(2026, 3, 1)},
        11: {"num": 3, "name": "DAY 7", "subject_id": 7, "definition_id": 3, "date": d(2026, 3, 27)},
        12: {"num": 4, "name": "DAY 14", "subject_id": 7, "definition_id": 4, "date": None},  # not held
    }
    labs = [
        {"subject_id": 7, "visit_id": None, "collected_on": on}
        for on in (d(2026, 2, 27), d(2026, 3, 5), d(2026, 3, 9), d(2026, 3, 5), d(2026, 4, 20))
    ]
    vitals = [
        {"subject_id": 7, "visit_id": None, "assessment_date": d(2026, 3, 9)},
        {"subject_id": 7, "visit_id": 11, "assessment_date": d(2026, 3, 28)},
    ]
    data = ExportData(
        study_code="S",
        cutoff=d(2026, 6, 1),
        sites={},
        subjects=[],
        visits=visits,
        arms={},
        forms={"labs": labs, "vitals": vitals},
    )
    assert data.unscheduled() == {
        (7, d(2026, 2, 27)): (0.01, "UNSCHEDULED 0.01"),
        (7, d(2026, 3, 5)): (1.01, "UNSCHEDULED 1.01"),
        (7, d(2026, 3, 9)): (1.02, "UNSCHEDULED 1.02"),
        (7, d(2026, 4, 20)): (3.01, "UNSCHEDULED 3.01"),
    }
    assert data.visit_of(vitals[1], d(2026, 3, 28)) == (3, "DAY 7")
    assert data.visit_of(vitals[0], d(2026, 3, 9)) == (1.02, "UNSCHEDULED 1.02")
    # the same, a column at a time (LB and VS read by column)
    assert data.visits_at([None, 11, 12], [7, 7, 7], [d(2026, 3, 9), d(2026, 3, 28), d(2026, 6, 1)]) == [
        (1.02, "UNSCHEDULED 1.02"),
        (3, "DAY 7"),
        (4, "DAY 14"),
    ]
