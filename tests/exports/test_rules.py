"""The conformance report's cross-dataset rules (issue 28), each named by the FDA business rule it
follows, each shown catching a deliberately broken fixture and passing the fixed one; and the
small study's export read back from its files: a death from an infection makes the infection AE
fatal, every death is in DD with its cause, one label per SUPP-- QNAM, QORIG CRF for collected
qualifiers, no Day-0 SUPP row per LB/VS record, and no file for an empty dataset."""

from __future__ import annotations

import pytest

from exports import checks, services
from exports.datasets import make_dataset
from exports.metadata import SDTMIG
from exports.models import ExportFile, ExportStatus
from tests.exports.conftest import CUTOFF, populate_for_export
from tests.exports.test_design import xpt_rows

pytestmark = pytest.mark.req("ISSUE-28")

S = {"STUDYID": "S"}


def dm(*rows):
    return make_dataset(
        "DM",
        standard=SDTMIG,
        ig_dataset="DM",
        variables=["STUDYID", "DOMAIN", "USUBJID", "ARMCD", "ACTARMCD", "DTHFL"],
        rows=[S | {"DOMAIN": "DM"} | r for r in rows],
        keys=("USUBJID",),
    )


def ae(*rows, epoch=True):
    variables = ["STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AEOUT", "AESDTH"] + (["EPOCH"] if epoch else [])
    return make_dataset(
        "AE",
        standard=SDTMIG,
        ig_dataset="AE",
        variables=variables,
        rows=[S | {"DOMAIN": "AE", "AESEQ": n} | r for n, r in enumerate(rows, start=1)],
        keys=("USUBJID", "AESEQ"),
    )


def dd(*rows):
    return make_dataset(
        "DD",
        standard=SDTMIG,
        ig_dataset="DD",
        variables=["STUDYID", "DOMAIN", "USUBJID", "DDSEQ", "DDTESTCD", "DDTEST", "DDSTRESC"],
        rows=[
            S | {"DOMAIN": "DD", "DDSEQ": 1, "DDTESTCD": "PRCDTH", "DDTEST": "Primary Cause of Death"} | r for r in rows
        ],
        keys=("USUBJID", "DDSEQ"),
    )


def found(datasets, rule):
    return [(f.severity, f.dataset, f.message) for f in checks.cross_checks(datasets) if f.check == rule]


def test_fb0609_a_death_needs_a_fatal_ae_or_a_cause_in_dd():
    died = dm({"USUBJID": "S-1", "DTHFL": "Y"})
    assert found([died, ae({"USUBJID": "S-1", "AEOUT": "RECOVERED/RESOLVED", "AESDTH": "N"})], "FB0609") == [
        ("error", "DM", "S-1 died: no fatal AE and no DD record")
    ]
    explained = [died, ae(), dd({"USUBJID": "S-1", "DDSTRESC": "DISEASE RELAPSE OR PROGRESSION"})]
    assert found(explained, "FB0609") == [
        ("warning", "DM", "S-1 died without a fatal AE: explained in DD (primary cause DISEASE RELAPSE OR PROGRESSION)")
    ]
    assert found([died, ae({"USUBJID": "S-1", "AEOUT": "FATAL", "AESDTH": "Y"})], "FB0609") == []


def test_fb0920_one_label_per_qnam():
    def supp(*labels):
        return make_dataset(
            "SUPPAE",
            standard=SDTMIG,
            ig_dataset="SUPPQUAL",
            variables=["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG"],
            rows=[
                S
                | {"RDOMAIN": "AE", "USUBJID": "S-1", "IDVAR": "AESEQ", "IDVARVAL": str(n), "QNAM": "AEEPISOD"}
                | {"QLABEL": label, "QVAL": "1", "QORIG": "Derived"}
                for n, label in enumerate(labels, start=1)
            ],
            keys=("USUBJID", "IDVAR", "IDVARVAL", "QNAM"),
        )

    broken = supp("CRS Episode Number", "ICANS Episode Number")  # what the export wrote before issue 28
    assert found([broken], "FB0920") == [("error", "SUPPAE", "QNAM AEEPISOD has 2 labels")]
    assert found([supp("CRS or ICANS Episode Number", "CRS or ICANS Episode Number")], "FB0920") == []


def test_fb2201_epoch_in_events_interventions_findings():
    row = {"USUBJID": "S-1", "AEOUT": "RECOVERED/RESOLVED", "AESDTH": "N", "EPOCH": "TREATMENT"}
    assert found([ae(row, epoch=False)], "FB2201") == [("error", "AE", "EPOCH is missing")]
    assert found([ae(row)], "FB2201") == []


def test_ta_armcd_every_dm_arm_is_a_trial_arm():
    ta = make_dataset(
        "TA",
        standard=SDTMIG,
        ig_dataset="TA",
        variables=["STUDYID", "DOMAIN", "ARMCD"],
        rows=[S | {"DOMAIN": "TA", "ARMCD": "DL1"}],
        keys=("ARMCD",),
    )
    subject = dm({"USUBJID": "S-1", "ARMCD": "DL2", "ACTARMCD": "DL1"})
    assert found([subject, ta], "TA-ARMCD") == [("error", "DM", "DL2 is not an arm of TA")]


def test_adsl_arm_is_dm_arm_null_for_a_screen_failure():
    from exports.metadata import ADAMIG, ADSL

    def datasets(failed_arm):
        dm_rows = [
            {"USUBJID": "S-1", "ARM": "CD7 CAR-T DL1", "ARMNRS": None},
            {"USUBJID": "S-2", "ARM": None, "ARMNRS": "SCREEN FAILURE"},
        ]
        dm_set = make_dataset(
            "DM",
            standard=SDTMIG,
            ig_dataset="DM",
            variables=["STUDYID", "DOMAIN", "USUBJID", "ARM", "ARMNRS"],
            rows=[S | {"DOMAIN": "DM"} | r for r in dm_rows],
            keys=("USUBJID",),
        )
        adsl = make_dataset(
            "ADSL",
            standard=ADAMIG,
            ig_dataset=ADSL,
            variables=["STUDYID", "USUBJID", "ARM"],
            rows=[S | {"USUBJID": "S-1", "ARM": "CD7 CAR-T DL1"}, S | {"USUBJID": "S-2", "ARM": failed_arm}],
            keys=("USUBJID",),
        )
        return dm_set, adsl

    dm_set, adsl = datasets("SCREEN FAILURE")  # what ADSL said before: not DM's
    assert found([dm_set, adsl], "ADSL-ARM") == [("error", "ADSL", "S-2: ARM 'SCREEN FAILURE', DM.ARM None")]
    dm_set, adsl = datasets(None)
    assert found([dm_set, adsl], "ADSL-ARM") == []
    # null as its source: a note, not a required-empty error
    per_dataset = [(f.severity, f.check) for f in checks.check_dataset(adsl) if f.variable == "ARM"]
    assert per_dataset == [("note", "null-as-source")]


def test_the_small_studys_deaths_supp_and_empty_datasets_read_back(world):
    populate_for_export(world)
    export = services.request_export(
        actor=world.statistician,
        study=world.study,
        cutoff_date=CUTOFF,
        dataset_names=["TA", "DM", "EX", "AE", "DD", "LB", "VS"],
        formats=["xpt"],
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert export.conformance_errors == 0, [f for f in export.conformance if f["severity"] == "error"]
    assert export.conformance_warnings == 0, [f for f in export.conformance if f["severity"] == "warning"]

    # B died of an infection on day 20: the ongoing grade-4 sepsis is the fatal AE, ending that day
    (sepsis,) = [r for r in xpt_rows(export, "AE") if r["AEDECOD"] == "Sepsis"]
    assert (sepsis["AEOUT"], sepsis["AESDTH"], sepsis["AESER"], sepsis["AEENDTC"]) == (
        "FATAL",
        "Y",
        "Y",
        "2026-04-09",
    )
    assert [r["USUBJID"] for r in xpt_rows(export, "AE") if r["AEOUT"] == "FATAL"] == ["trial7-01-A-002"]
    # a single infusion: no action on the cells is possible once given; before it (during LD) the CRF's
    actions = {
        (r["AEDECOD"], r["AESTDY"]): r["AEACN"] for r in xpt_rows(export, "AE") if r["USUBJID"].endswith("A-001")
    }
    assert (actions[("Vomiting", -4)], actions[("Nausea", 4)], actions[("Headache", 96)]) == (
        "DOSE NOT CHANGED",
        "NOT APPLICABLE",
        "NOT APPLICABLE",
    )
    dm = {r["USUBJID"][-5:]: r for r in xpt_rows(export, "DM")}
    assert (dm["A-001"]["RACE"], dm["A-001"]["ETHNIC"]) == ("NOT REPORTED", "NOT REPORTED")
    ((dd_row),) = xpt_rows(export, "DD")
    assert (dd_row["USUBJID"], dd_row["DDTESTCD"], dd_row["DDSTRESC"], dd_row["DDDTC"], dd_row["DDDY"]) == (
        "trial7-01-A-002",
        "PRCDTH",
        "INFECTION",
        "2026-04-09",
        21,
    )

    suppae = xpt_rows(export, "SUPPAE")
    labels = {}
    for row in suppae:
        labels.setdefault(row["QNAM"], set()).add(row["QLABEL"])
    assert all(len(v) == 1 for v in labels.values()), labels
    assert labels["AEEPISOD"] == {"CRS or ICANS Episode Number"}
    assert {r["QORIG"] for r in suppae if r["QNAM"] == "AERELLD"} == {"CRF"}
    assert {r["QORIG"] for r in suppae if r["QNAM"] == "TOXGRSCL"} == {"Derived"}
    assert {r["QORIG"] for r in xpt_rows(export, "SUPPEX") if r["QNAM"] in {"PRODSTAT", "PRODSRC"}} == {"CRF"}

    # no Day-0 row per LB / VS record: SUPPLB and SUPPVS are empty, so not written (a note says so)
    assert export.row_counts["SUPPLB"] == export.row_counts["SUPPVS"] == 0
    names = set(ExportFile.objects.filter(export=export).values_list("name", flat=True))
    assert {"lb.xpt", "vs.xpt", "dd.xpt", "ta.xpt"} <= names
    assert not names & {"supplb.xpt", "suppvs.xpt"}
    empty = {f["dataset"] for f in export.conformance if f["check"] == "empty-dataset"}
    assert empty == {"SUPPLB", "SUPPVS"}
