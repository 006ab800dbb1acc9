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


# --- issue 28 items 7 and 9: RELREC, MRD out of RS, RS visits, baseline flags, EPOCH in the new domains ---


def dataset(name, variables, rows, ig=None, keys=("USUBJID",)):
    domain = {} if name == "RELREC" else {"DOMAIN": name}
    return make_dataset(
        name,
        standard=SDTMIG,
        ig_dataset=ig or name,
        variables=["STUDYID", *([] if name == "RELREC" else ["DOMAIN"]), *variables],
        rows=[S | domain | r for r in rows],
        keys=keys,
    )


def relrec(*rows):
    return dataset(
        "RELREC",
        ["RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "RELTYPE", "RELID"],
        [dict(zip(("RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "RELTYPE", "RELID"), r, strict=True)) for r in rows],
        keys=(),
    )


def test_relrec_ref_every_related_record_exists():
    ae_set = ae({"USUBJID": "S-1", "AEOUT": "RECOVERED/RESOLVED", "AESDTH": "N", "EPOCH": "TREATMENT"})
    fa = dataset(
        "FA",
        ["USUBJID", "FASEQ", "FAGRPID", "FATESTCD", "FATEST", "FAOBJ", "EPOCH"],
        [{"USUBJID": "S-1", "FASEQ": 1, "FAGRPID": "CRS-1", "FATESTCD": "CRSGR", "FATEST": "G", "FAOBJ": "CRS"}],
    )
    broken = relrec(
        ("AE", "S-1", "AESEQ", "2", None, "CRS1"),  # AE 2 does not exist
        ("FA", "S-1", "FAGRPID", "CRS-1", None, "CRS1"),
        ("CP", "S-1", "CPGRPID", "MA1", None, "MA1"),  # no CP in the export
        ("RS", "S-1", "RSSEQ", "1", None, "MA1"),
    )
    assert found([ae_set, fa, broken], "RELREC-REF") == [
        ("error", "RELREC", "S-1: no AE record with AESEQ = 2"),
        ("error", "RELREC", "CP is not a dataset of the export"),
        ("error", "RELREC", "RS is not a dataset of the export"),
    ]
    fixed = relrec(("AE", "S-1", "AESEQ", "1", None, "CRS1"), ("FA", "S-1", "FAGRPID", "CRS-1", None, "CRS1"))
    assert found([ae_set, fa, fixed], "RELREC-REF") == []
    dataset_level = relrec(
        ("AE", None, "AESPID", None, "ONE", "AEGRADE"), ("FA", None, "FASPID", None, "MANY", "AEGRADE")
    )
    assert found([ae_set, fa, dataset_level], "RELREC-REF") == [
        ("error", "RELREC", "AESPID is not a variable of AE"),
        ("error", "RELREC", "FASPID is not a variable of FA"),
    ]


def test_relrec_relid_relates_at_least_two_records():
    ae_set = ae({"USUBJID": "S-1", "AEOUT": "RECOVERED/RESOLVED", "AESDTH": "N", "EPOCH": "TREATMENT"})
    lonely = relrec(("AE", "S-1", "AESEQ", "1", None, "CRS1"))
    assert found([ae_set, lonely], "RELREC-RELID") == [
        ("error", "RELREC", "S-1: RELID CRS1 relates 1 record(s) of 1 dataset(s)")
    ]


def rs(*rows, visitnum=True):
    variables = ["USUBJID", "RSSEQ", "RSTESTCD", "RSTEST", "RSORRES", "RSSTRESC", "RSDRVFL", "EPOCH"]
    return dataset("RS", variables + (["VISITNUM"] if visitnum else []), list(rows), keys=("USUBJID", "RSSEQ"))


def test_mrd_domain_mrd_is_not_a_response_test():
    # what RS held before issue 28: an MRD status test, and a best response naming the MRD status
    broken = rs(
        {"USUBJID": "S-1", "RSSEQ": 1, "RSTESTCD": "MRDSTS", "RSSTRESC": "NEGATIVE", "VISITNUM": 5},
        {"USUBJID": "S-1", "RSSEQ": 2, "RSTESTCD": "BESTRESP", "RSSTRESC": "CR MRD NEGATIVE", "RSDRVFL": "Y"},
    )
    messages = [m for _s, _d, m in found([broken], "MRD-DOMAIN")]
    assert messages == [
        "MRDSTS 'NEGATIVE': MRD belongs in CP (flow) or GF (molecular), not RS",
        "BESTRESP 'CR MRD NEGATIVE': MRD belongs in CP (flow) or GF (molecular), not RS",
    ]
    fixed = rs({"USUBJID": "S-1", "RSSEQ": 2, "RSTESTCD": "BESTRESP", "RSSTRESC": "CR", "RSDRVFL": "Y"})
    assert found([fixed], "MRD-DOMAIN") == []
    cp = dataset(
        "CP",
        ["USUBJID", "CPSEQ", "CPTESTCD", "CPTEST", "CPMETHOD", "EPOCH"],
        [
            {
                "USUBJID": "S-1",
                "CPSEQ": 1,
                "CPTESTCD": "MRDDET",
                "CPTEST": "MRD Detected",
                "CPMETHOD": "NEXT GENERATION SEQUENCING",
            }
        ],
    )
    assert found([cp], "MRD-DOMAIN") == [
        ("error", "CP", "CPMETHOD 'NEXT GENERATION SEQUENCING': CP holds flow cytometry only")
    ]


def test_rs_visitnum_on_every_collected_record():
    row = {"USUBJID": "S-1", "RSSEQ": 1, "RSTESTCD": "OVRLRESP", "RSSTRESC": "CR"}
    assert found([rs(row, visitnum=False)], "RS-VISITNUM") == [("error", "RS", "collected record without VISITNUM")]
    assert found([rs(row | {"VISITNUM": 24})], "RS-VISITNUM") == []


def test_lobxfl_the_last_result_before_the_first_dose_is_flagged():
    dm_set = dataset("DM", ["USUBJID", "RFXSTDTC"], [{"USUBJID": "S-1", "RFXSTDTC": "2026-03-15"}])

    def lb(flags):
        dates = ("2026-03-01", "2026-03-10", "2026-03-16")
        return dataset(
            "LB",
            ["USUBJID", "LBSEQ", "LBTESTCD", "LBTEST", "LBDTC", "LBLOBXFL", "EPOCH"],
            [
                {"USUBJID": "S-1", "LBSEQ": n, "LBTESTCD": "NEUT", "LBTEST": "Neutrophils", "LBDTC": d, "LBLOBXFL": f}
                for n, (d, f) in enumerate(zip(dates, flags, strict=True), start=1)
            ],
            keys=("USUBJID", "LBSEQ"),
        )

    # what the demo's export had before issue 28 (no screening value flagged), and a wrong flag
    assert found([dm_set, lb([None, None, None])], "LOBXFL") == [
        ("error", "LB", "S-1 NEUT 2026-03-10: the last result of its test on or before the first dose is not flagged")
    ]
    assert found([dm_set, lb(["Y", None, "Y"])], "LOBXFL") == [
        ("error", "LB", "S-1 NEUT 2026-03-01: flagged but not the last result before the first dose"),
        ("error", "LB", "S-1 NEUT 2026-03-10: the last result of its test on or before the first dose is not flagged"),
        ("error", "LB", "S-1 NEUT 2026-03-16: flagged but not the last result before the first dose"),
    ]
    assert found([dm_set, lb([None, "Y", None])], "LOBXFL") == []


def test_fb2201_epoch_in_the_new_domains():
    for name, variables in (
        ("DV", ["USUBJID", "DVSEQ", "DVTERM"]),
        ("HO", ["USUBJID", "HOSEQ", "HOTERM"]),
        ("IE", ["USUBJID", "IESEQ", "IETESTCD"]),
        ("PR", ["USUBJID", "PRSEQ", "PRTRT"]),
        ("CP", ["USUBJID", "CPSEQ", "CPTESTCD"]),
    ):
        row = {"USUBJID": "S-1", variables[1]: 1, variables[2]: "X"}
        assert found([dataset(name, variables, [row])], "FB2201") == [("error", name, "EPOCH is missing")], name
        assert found([dataset(name, [*variables, "EPOCH"], [row | {"EPOCH": "TREATMENT"}])], "FB2201") == []
