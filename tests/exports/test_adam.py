"""RS and ADaM of the small study (issue 15): the populations of ADSL (enrolled, infused =
safety, DLT-evaluable), the ADAE flags (treatment-emergent, day 0-90, lymphodepletion period,
first maximum grade per subject / SOC / term, ASTCT 2019 for the CRS AE), ADTTE records with
CNSR and their descriptions (AVAL = later - earlier date, CLINICAL_SPEC §5.3), ADRS derived
responses, the files read back from SAS transport (numeric dates as SAS dates), planted identity
sentinels absent from every byte, and the conformance report: a required ADaM variable left
empty (AGE of subjects without demographics) is an error, nothing else is."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import pyreadstat
import pytest

from exports import services
from exports.models import ExportFile, ExportStatus
from tests.exports.conftest import CUTOFF, SENTINEL_BYTES, populate_for_export
from tests.exports.test_exports import rows_by

pytestmark = pytest.mark.req("ISSUE-15")

NEW = ["RS", "ADSL", "ADAE", "ADEX", "ADCM", "ADLB", "ADTTE", "ADRS"]
ADAE_SHOWN = ("SUBJID", "AEDECOD", "ASTDY0", "ATOXGRN", "TOXGRSCL", "TRTEMFL", "AE90FL", "LDFL")
ADAE_SHOWN += ("AOCCIFL", "AOCCSIFL", "AOCCPIFL")


def test_rs_and_adam_of_the_small_study(world, django_assert_max_num_queries):
    populate_for_export(world)
    export = services.request_export(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    # every dataset by default, SDTM first (RS, then the MRD domains and RELREC of issue 28), then ADaM
    assert export.datasets[-11:] == ["RS", "CP", "GF", "RELREC", *NEW[1:]]
    # each form once (nine more for issue 28's domains, more for ADEX/ADCM), then the engine's cut once
    with django_assert_max_num_queries(105):
        export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert {name: export.row_counts[name] for name in NEW} == {
        "RS": 4,
        "ADSL": 4,
        "ADAE": 8,
        "ADEX": 6,  # two infused subjects: two lymphodepletion agents and the CAR-T cells each
        "ADCM": 1,
        "ADLB": 2,
        "ADTTE": 12,
        "ADRS": 4,
    }

    errors = sorted((f["dataset"], f["variable"], f["row"]) for f in export.conformance if f["severity"] == "error")
    # A-003 (enrolled, never infused) and the screen failure have no demographics form
    assert errors == [("ADSL", "AGE", 3), ("ADSL", "AGE", 4), ("ADSL", "AGEU", 3), ("ADSL", "AGEU", 4)]
    assert [f for f in export.conformance if f["severity"] == "warning"] == []
    sponsor = {f["variable"] for f in export.conformance if f["check"] == "sponsor-variable"}
    assert {"DLTEVLFL", "AE90FL", "LDFL", "AOCCIFL", "TOXGRSCL", "ASTDY0", "ADY0"} <= sponsor

    adsl = {r["SUBJID"]: r for r in rows_by(export, "ADSL")}
    flags = {s: (r["ENRLFL"], r["SAFFL"], r["DLTEVLFL"], r["TRT01P"], r["TRT01A"]) for s, r in adsl.items()}
    assert flags == {
        "A-001": ("Y", "Y", "Y", "DL2", "DL2"),
        "A-002": ("Y", "Y", "Y", "DL2", "DL2"),
        "A-003": ("Y", "N", "N", "DL1", None),
        "A-S003": ("N", "N", "N", "SCREEN FAILURE", None),
    }
    a = adsl["A-001"]
    assert (a["TRTSDT"], a["LDSDT"], a["RFICDT"], a["DOSE01P"], a["DOSE01A"]) == (
        "2026-03-20",
        "2026-03-15",
        "2026-03-01",
        1.0,
        0.8571,
    )
    assert (a["PRODSRC"], a["PRODSTAT"], adsl["A-002"]["PRODSTAT"], a["RACE"]) == (
        "AUTOLOGOUS",
        "FRESH",
        "THAWED",
        "NOT REPORTED",
    )
    assert (adsl["A-002"]["DTHDT"], adsl["A-002"]["EOSSTT"], a["EOSSTT"]) == ("2026-04-09", "DISCONTINUED", "ONGOING")

    adae = [tuple(r[v] for v in ADAE_SHOWN) for r in rows_by(export, "ADAE")]
    assert adae == [
        ("A-001", "Vomiting", -4, 1, "CTCAE v5.0", None, None, "Y", None, None, None),
        ("A-001", "Cytokine release syndrome", 1, 1, "ASTCT 2019", "Y", "Y", None, None, "Y", "Y"),
        ("A-001", "Nausea", 3, 2, "CTCAE v5.0", "Y", "Y", None, None, "Y", "Y"),
        ("A-001", "Febrile neutropenia", 5, 3, "CTCAE v5.0", "Y", "Y", None, "Y", "Y", "Y"),
        ("A-001", "Nausea", 40, 1, "CTCAE v5.0", "Y", "Y", None, None, None, None),
        ("A-001", "Headache", 95, 2, "CTCAE v5.0", "Y", None, None, None, "Y", "Y"),
        ("A-002", "Nausea", 10, 1, "CTCAE v5.0", "Y", "Y", None, None, "Y", "Y"),
        ("A-002", "Sepsis", 15, 4, "CTCAE v5.0", "Y", "Y", None, "Y", "Y", "Y"),
    ]

    adtte = [
        (r["SUBJID"], r["PARAMCD"], r["STARTDT"], r["ADT"], r["AVAL"], r["CNSR"], r["EVNTDESC"], r["CNSDTDSC"])
        for r in rows_by(export, "ADTTE")
        if not r["PARAMCD"].endswith("HS")
    ]
    assert adtte == [
        ("A-001", "OS", "2026-03-20", "2026-03-21", 1, 1, "CENSORED", "LAST DATE KNOWN ALIVE"),
        ("A-001", "EFS", "2026-03-20", "2026-03-20", 0, 0, "NO CR OR CRI AT DAY 28", None),
        ("A-001", "TTREL", "2026-03-20", "2026-03-21", 1, 1, "CENSORED", "LAST DATE KNOWN ALIVE"),
        ("A-002", "OS", "2026-03-20", "2026-04-09", 20, 0, "DEATH", None),  # 9 April - 20 March, no +1
        ("A-002", "EFS", "2026-03-20", "2026-03-20", 0, 0, "NO CR OR CRI AT DAY 28", None),
        ("A-002", "TTREL", "2026-03-20", "2026-04-09", 20, 0, "DEATH WITHOUT RELAPSE (COMPETING EVENT)", None),
    ]
    # the sensitivity analysis (censored at HSCT): no HSCT in this study, so the same records
    sensitivity = [(r["SUBJID"], r["PARAMCD"], r["AVAL"], r["CNSR"], r["PARAM"]) for r in rows_by(export, "ADTTE")]
    assert sensitivity[2:4] == [
        ("A-001", "OSHS", 1, 1, "Overall Survival (days, censored at HSCT)"),
        ("A-001", "EFSHS", 0, 0, "Event-Free Survival (days, censored at HSCT)"),
    ]
    adrs = [(r["SUBJID"], r["PARAMCD"], r["AVALC"], r["AVAL"]) for r in rows_by(export, "ADRS")]
    assert adrs == [
        ("A-001", "D28RESP", "NOT ASSESSED", 0),
        ("A-001", "BESTRESP", "NOT ASSESSED", 0),
        ("A-002", "D28RESP", "NOT ASSESSED", 0),
        ("A-002", "BESTRESP", "NOT ASSESSED", 0),
    ]
    rs = [
        (r["USUBJID"], r["RSSEQ"], r["RSTESTCD"], r["RSSTRESC"], r["RSDRVFL"], r["RSEVINTX"])
        for r in rows_by(export, "RS")
    ]
    assert rs[:2] == [
        ("trial7-01-A-001", 1, "BESTRESP", "NOT ASSESSED", "Y", "DAY 0 TO DAY 31 (DAY-28 RESPONSE)"),
        ("trial7-01-A-001", 2, "BESTRESP", "NOT ASSESSED", "Y", "DAY 0 TO DAY 372 (BEST WITHIN 1 YEAR)"),
    ]

    files = {f.name: bytes(f.content) for f in ExportFile.objects.filter(export=export)}
    assert {f"{n.lower()}.{fmt}" for n in NEW for fmt in ("csv", "xpt")} <= set(files)
    for name, content in files.items():
        for sentinel in SENTINEL_BYTES:
            assert sentinel not in content, (name, sentinel)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "adtte.xpt"
        path.write_bytes(files["adtte.xpt"])
        frame, meta = pyreadstat.read_xport(str(path))
    assert meta.original_variable_types["ADT"] == "DATE9"
    died = frame[(frame["SUBJID"] == "A-002") & (frame["PARAMCD"] == "OS")]
    assert died["ADT"].tolist() == [date(2026, 4, 9)] and died["AVAL"].tolist() == [20.0]
    assert meta.column_names_to_labels["CNSR"] == "Censor"
    assert b"ADT,AVAL" not in files["adtte.csv"] and files["adtte.csv"].startswith(b"STUDYID,USUBJID,SUBJID")
