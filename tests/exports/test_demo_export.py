"""The demo study's export (issue 14 "Done when"): the 24 demo subjects loaded through the
services, exported by the demo statistician with the management command; the conformance report
has zero errors and zero warnings (docs/exports.md shows it), and no identity value of any demo
subject (names, birth dates, hospital numbers, phones) nor an infusion checker's name appears
in any file."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from exports.models import Export, ExportFile
from subjects.models import IdentityRecord
from tests.conftest import DEMO_TODAY

pytestmark = pytest.mark.req("ISSUE-14")

TODAY = DEMO_TODAY


@pytest.mark.timeout(900)  # ~700 form saves through the services before the export
def test_the_demo_studys_export_has_no_conformance_errors(demo_study, db, settings, tmp_path):
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
        print(out.getvalue())  # the report docs/exports.md shows (also when the command fails on an error)
    export = Export.objects.get()
    assert export.conformance_errors == 0, [f for f in export.conformance if f["severity"] == "error"]
    # the only warnings: the deaths without a fatal AE, explained by their cause in DD (FB0609, issue 28)
    warnings = [f for f in export.conformance if f["severity"] == "warning"]
    assert [(f["check"], "explained in DD" in f["message"]) for f in warnings] == [("FB0609", True)] * 4, warnings
    assert "conformance: 0 errors, 4 warnings" in out.getvalue()
    for name in ("TS", "TE", "TA", "TV", "TI", "SE", "SV", "DD"):  # trial design and death details (issue 28)
        assert export.row_counts[name] > 0, name
    assert export.row_counts["DD"] == 4
    assert export.row_counts["DM"] == 24
    assert export.row_counts["EX"] >= 21 * 3  # 21 infused: two lymphodepletion agents and the CAR-T cells

    identity = IdentityRecord.objects.values_list("full_name", "date_of_birth", "hospital_number", "phone")
    forbidden = {"李娜".encode(), "王军".encode()}
    for name, born, hospital_number, phone in identity:
        forbidden |= {name.encode(), born.isoformat().encode(), born.strftime("%d%b%Y").upper().encode()}
        forbidden |= {v.encode() for v in (hospital_number, phone) if v}
    files = list(ExportFile.objects.filter(export=export))
    # each non-empty dataset (an empty one is not submitted); define.json; define.xml and
    # define-adam.xml with their HTML renderings and the stylesheet
    assert len(files) == 2 * len([n for n, rows in export.row_counts.items() if rows]) + 6
    for file in files:
        content = bytes(file.content)
        assert content == (tmp_path / file.name).read_bytes()
        for value in forbidden:
            assert value not in content, (file.name, value)
