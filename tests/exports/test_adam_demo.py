"""The demo study's ADaM datasets reproduce the endpoint engine's tables (issue 15 "Done when").

The 24 demo subjects are loaded through the services and exported by the demo statistician with
the management command (every dataset: SDTM, RS, ADaM); an endpoint run is computed on the same
cut (same snapshot time and cut-off). Then, from the exported ADTTE and ADRS files ALONE (read
back from SAS transport), the test recomputes 1-year OS with its log(-log) 95% CI, the median OS,
the day-28 and best-response rates (CR MRD-, CR MRD+/unknown, ... with exact Clopper-Pearson
intervals), the ORR and the flow MRD-negative rate, and compares them as strings with the run's
formatted tables (os_summary, day28_response, best_response, marrow_response). The conformance
report has zero errors and zero warnings (docs/exports.md shows it) and no identity value of any
demo subject appears in any file."""

from __future__ import annotations

import io
import json
import tempfile
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyreadstat
import pytest
from django.core.management import call_command

from clinical.stats import clopper_pearson, percent
from clinical.survival import Observation, kaplan_meier
from endpoints import services as endpoint_services
from exports.models import Export, ExportFile
from subjects.models import IdentityRecord
from tests.conftest import DEMO_TODAY

pytestmark = pytest.mark.req("ISSUE-15")

TODAY = DEMO_TODAY
CATEGORIES = {
    "CR MRD NEGATIVE": "cr_mrd_negative",
    "CR MRD POSITIVE OR UNKNOWN": "cr_mrd_positive_or_unknown",
    "CRI MRD NEGATIVE": "cri_mrd_negative",
    "CRI MRD POSITIVE OR UNKNOWN": "cri_mrd_positive_or_unknown",
    "PR": "pr",
    "NR": "nr",
    "PD": "pd",
    "NOT ASSESSED": "not_assessed",
}

#: the demo's response counts at 2026-11-25 (21 infused)
DEMO_COUNTS = {
    "D28RESP": {
        "CR MRD NEGATIVE": 8,
        "CR MRD POSITIVE OR UNKNOWN": 3,
        "CRI MRD NEGATIVE": 3,
        "NR": 2,
        "PD": 1,
        "NOT ASSESSED": 4,
    },
    "BESTRESP": {
        "CR MRD NEGATIVE": 10,
        "CR MRD POSITIVE OR UNKNOWN": 3,
        "CRI MRD NEGATIVE": 3,
        "NR": 2,
        "PD": 1,
        "NOT ASSESSED": 2,
    },
}


def dec(value: float | Decimal, places: int) -> str:
    return str(
        Decimal(repr(value) if isinstance(value, float) else value).quantize(
            Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP
        )
    )


def share(n: int, total: int) -> dict[str, object]:
    ci = clopper_pearson(n, total)
    return {
        "n": n,
        "N": total,
        "percent": dec(Decimal(n) * 100 / Decimal(total), 1),
        "ci_lower": dec(Decimal(repr(ci.lower)) * 100, 1),  # percent, one decimal (issue 30)
        "ci_upper": dec(Decimal(repr(ci.upper)) * 100, 1),
    }


def read_xpt(content: bytes) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.xpt"
        path.write_bytes(content)
        frame, _meta = pyreadstat.read_xport(str(path))
    return frame.to_dict("records")


@pytest.mark.timeout(1200)  # ~700 form saves through the services before the export
def test_the_demo_adam_datasets_reproduce_the_endpoint_tables(demo_study, db, settings, tmp_path):
    settings.DEBUG = True
    site = demo_study[0]  # loaded once per run (tests/conftest.py)
    out = io.StringIO()
    try:
        call_command(
            "export_datasets",
            "--study",
            site.study.code,
            "--cutoff",
            TODAY.isoformat(),
            "--user",
            "statistician",
            "--out",
            str(tmp_path),
            "--verbosity",
            "2",
            stdout=out,
        )
    finally:
        print(out.getvalue())  # the report docs/exports.md shows
    export = Export.objects.get()
    assert export.conformance_errors == 0, [f for f in export.conformance if f["severity"] == "error"]
    # the demo's four deaths without a fatal AE, explained in DD (FB0609, issue 28)
    assert [f["check"] for f in export.conformance if f["severity"] == "warning"] == ["FB0609"] * 4
    assert {"RS", "ADSL", "ADAE", "ADTTE", "ADRS"} <= set(export.row_counts)
    assert export.row_counts["ADSL"] == 24

    run = endpoint_services.request_run(actor=None, study=site.study, cutoff_date=TODAY, snapshot_at=export.snapshot_at)
    run = endpoint_services.compute_run(run_id=run.pk)
    assert run.status == "succeeded", run.error
    tables = {t["key"]: t for t in json.loads(run.results_json)["tables"]}

    adtte = read_xpt((tmp_path / "adtte.xpt").read_bytes())
    adrs = read_xpt((tmp_path / "adrs.xpt").read_bytes())

    # OS from ADTTE alone: Kaplan-Meier on AVAL (days) and CNSR (0 = event)
    os_rows = [r for r in adtte if r["PARAMCD"] == "OS"]
    assert len(os_rows) == 21  # every infused subject
    curve = kaplan_meier(Observation(time=r["AVAL"], event=r["CNSR"] == 0) for r in os_rows)
    summary = {r["statistic"]: r for r in tables["os_summary"]["rows"]}
    at = curve.at(365.0)
    ours = (percent(at.survival), percent(at.lower), percent(at.upper))  # the tables' percent (issue 30)
    year = summary["survival_365"]
    assert ours == (year["estimate"], year["ci_lower"], year["ci_upper"])
    assert (dec(at.survival, 4), dec(at.lower, 4), dec(at.upper, 4)) == ("0.6842", "0.3489", "0.8721")
    assert ours == ("68.4", "34.9", "87.2")  # the demo's 16/17 x 12/13 x 9/10 x 7/8
    median = curve.median()
    median_row = summary["median_days"]
    if median.estimate is None:
        assert median_row["estimate"] == "" and median_row["detail"] == "not reached"
    else:
        assert dec(median.estimate, 1) == median_row["estimate"]
    assert ("" if median.lower is None else dec(median.lower, 1)) == median_row["ci_lower"]
    assert ("" if median.upper is None else dec(median.upper, 1)) == median_row["ci_upper"]
    assert (median.estimate, median.lower, median.upper) == (None, 160.0, None)  # not reached
    for code in ("EFS", "RFS", "DOR"):
        rows = [r for r in adtte if r["PARAMCD"] == code]
        found = {r["statistic"]: r for r in tables[f"{code.lower()}_summary"]["rows"]}
        assert str(len(rows)) == found["subjects"]["estimate"]
        assert str(sum(1 for r in rows if r["CNSR"] == 0)) == found["events"]["estimate"]

    # the HSCT sensitivity analysis (censored at the first HSCT) from the *HS parameters
    sensitivity = {(r["endpoint"], r["statistic"]): r for r in tables["hsct_sensitivity"]["rows"]}
    for code in ("OS", "EFS", "RFS", "DOR"):
        rows = [r for r in adtte if r["PARAMCD"] == f"{code}HS"]
        assert str(sum(1 for r in rows if r["CNSR"] == 0)) == sensitivity[(code.lower(), "events")]["estimate"]
        assert rows, code
        at = kaplan_meier(Observation(time=r["AVAL"], event=r["CNSR"] == 0) for r in rows).at(365.0)
        year = sensitivity[(code.lower(), "survival_365")]
        expected = (year["estimate"], year["ci_lower"], year["ci_upper"])
        ours = ("", "", "") if at is None else (percent(at.survival), percent(at.lower), percent(at.upper))
        assert ours == expected, code

    # response rates from ADRS alone: one D28RESP and one BESTRESP record per infused subject
    for param, key in (("D28RESP", "day28_response"), ("BESTRESP", "best_response")):
        records = [r for r in adrs if r["PARAMCD"] == param]
        counts = Counter(r["AVALC"] for r in records)
        assert set(counts) <= set(CATEGORIES)
        table = {r["category"]: r for r in tables[key]["rows"]}
        for text, category in CATEGORIES.items():
            expected = {k: table[category][k] for k in ("n", "N", "percent", "ci_lower", "ci_upper")}
            assert share(counts[text], len(records)) == expected, (param, text)
        assert dict(counts) == DEMO_COUNTS[param]
    marrow = {(r["category"], r["detail"]): r for r in tables["marrow_response"]["rows"]}
    best = [r for r in adrs if r["PARAMCD"] == "BESTRESP"]
    cr_or_cri = sum(1 for r in best if r["AVALC"].startswith(("CR ", "CRI ")))
    assert share(cr_or_cri, len(best)) == {
        k: marrow[("orr", "best_1_year")][k] for k in ("n", "N", "percent", "ci_lower", "ci_upper")
    }
    negative = {
        r["USUBJID"] for r in adrs if r["PARAMCD"] == "MRDFLOW" and r["AVALC"] == "NEGATIVE" and r["ANL01FL"] == "Y"
    }
    assert share(len(negative), len(best)) == {
        k: marrow[("flow_mrd_negative", "")][k] for k in ("n", "N", "percent", "ci_lower", "ci_upper")
    }
    assert (cr_or_cri, len(negative), len(best)) == (16, 13, 21)

    # no identity value of any demo subject in any file
    identity = IdentityRecord.objects.values_list("full_name", "date_of_birth", "hospital_number", "phone")
    forbidden = {"李娜".encode(), "王军".encode()}
    for name, born, hospital_number, phone in identity:
        forbidden |= {name.encode(), born.isoformat().encode(), born.strftime("%d%b%Y").upper().encode()}
        forbidden |= {v.encode() for v in (hospital_number, phone) if v}
    for file in ExportFile.objects.filter(export=export):
        content = bytes(file.content)
        for value in forbidden:
            assert value not in content, (file.name, value)
