"""ADEX and ADCM (issue 29 item 5): exposure per parameter (the lymphodepletion agents' daily
doses in mg/m2, the CAR-T dose in CAR+ cells/kg) with ASTDY, and con-meds with ASTDT/AENDT,
the prior (PREFL) and concomitant (ONTRTFL) flags and the ATC code — read back from the XPT, with
their define.xml metadata (predecessors and methods) and no conformance error."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from crf.services import save
from exports import services
from exports.models import ExportFile, ExportStatus
from subjects.models import ConcomitantMedication
from tests.exports.conftest import CUTOFF, day, populate_for_export
from tests.exports.test_define import NS, SCHEMA, structural_problems
from tests.exports.test_exports import read_xpt

pytestmark = pytest.mark.req("ISSUE-29")


def _nan(value):
    return None if value != value or value == "" else value


def test_adex_and_adcm_read_back_from_the_xpt(world):
    subjects = populate_for_export(world)
    a, not_infused = subjects["a"], subjects["not_infused"]
    save(
        user=world.coordinator,
        instance=ConcomitantMedication(
            subject=a,
            medication_name="dexamethasone",
            atc_code="H02AB02",
            category="other",
            dose=Decimal("10"),
            dose_unit="mg",
            route="iv",
            start_date=day(-3),
            ongoing=True,
        ),
        expected_version=None,
    )
    save(
        user=world.coordinator,
        instance=ConcomitantMedication(
            subject=not_infused,
            medication_name="omeprazole",
            category="other",
            start_date=date(2026, 3, 10),
            ongoing=True,
        ),
        expected_version=None,
    )
    export = services.request_export(
        actor=world.statistician,
        study=world.study,
        cutoff_date=CUTOFF,
        dataset_names=["DM", "EX", "CM", "ADSL", "ADEX", "ADCM"],
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert [f for f in export.conformance if f["severity"] == "error" and f["dataset"] in ("ADEX", "ADCM")] == []
    files = {f.name: bytes(f.content) for f in ExportFile.objects.filter(export=export)}

    adex, meta = read_xpt(files["adex.xpt"])
    assert meta.column_names_to_labels["ASTDY"] == "Analysis Start Relative Day"
    mine = adex[adex["SUBJID"] == "A-001"].sort_values("ASEQ")
    assert [
        (
            r["ASEQ"],
            r["PARAMCD"],
            r["PARAM"],
            r["AVAL"],
            str(r["ASTDT"]),
            str(r["AENDT"]),
            r["ASTDY"],
            r["AENDY"],
            r["ASTDY0"],
            r["SRCDOM"],
        )
        for r in mine.to_dict("records")
    ] == [
        (1.0, "FLUDOSE", "Fludarabine Daily Dose (mg/m2)", 30.0, "2026-03-15", "2026-03-17", -5.0, -3.0, -5.0, "EX"),
        (
            2.0,
            "CYCDOSE",
            "Cyclophosphamide Daily Dose (mg/m2)",
            300.0,
            "2026-03-15",
            "2026-03-17",
            -5.0,
            -3.0,
            -5.0,
            "EX",
        ),
        (3.0, "CARTDOSE", "CAR-T Dose (CAR+ cells/kg)", 857100.0, "2026-03-20", "2026-03-20", 1.0, 1.0, 0.0, "EX"),
    ]
    # A: 100 x 10^6 viable cells x 60 % CAR+ / 70 kg = 0.8571 x 10^6/kg as the form stores it (4 places);
    # B: 140 x 10^6 x 60 % / 70 kg = 1.2 x 10^6/kg; no exposure for the subject never infused
    b = adex[(adex["SUBJID"] != "A-001") & (adex["PARAMCD"] == "CARTDOSE")]
    assert list(b["AVAL"]) == [1200000.0]
    assert len(adex) == 6

    adcm, meta = read_xpt(files["adcm.xpt"])
    assert meta.column_names_to_labels["PREFL"] == "Prior Medication Flag"
    shown = [
        (
            r["SUBJID"],
            r["CMSEQ"],
            r["CMTRT"],
            _nan(r["CMCLASCD"]),
            str(r["ASTDT"]),
            None if r["AENDT"] != r["AENDT"] else str(r["AENDT"]),
            _nan(r["ASTDY"]),
            _nan(r["AENDY"]),
            _nan(r["PREFL"]),
            _nan(r["ONTRTFL"]),
        )
        for r in adcm.sort_values(["USUBJID", "CMSEQ"]).to_dict("records")
    ]
    assert shown == [
        ("A-001", 1.0, "dexamethasone", "H02AB02", "2026-03-17", None, -3.0, None, "Y", "Y"),
        ("A-001", 2.0, "paracetamol", None, "2026-03-22", "2026-03-24", 3.0, 5.0, None, "Y"),
        (shown[2][0], 1.0, "omeprazole", None, "2026-03-10", None, None, None, None, None),
    ]

    # define.xml: the copied variables are predecessors, the flags derived with their method
    document = etree.fromstring(files["define-adam.xml"])
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    assert schema.validate(document), str(schema.error_log)
    assert structural_problems(document) == []
    mdv = document.find("odm:Study/odm:MetaDataVersion", NS)
    origin = {
        i.get("OID"): (
            i.find("def:Origin", NS).get("Type"),
            i.findtext("def:Origin/odm:Description/odm:TranslatedText", namespaces=NS),
        )
        for i in mdv.iterfind("odm:ItemDef", NS)
    }
    assert origin["IT.ADEX.AVAL"] == ("Predecessor", "EX.EXDOSE")
    assert origin["IT.ADCM.CMCLASCD"] == ("Predecessor", "CM.CMCLASCD")
    assert origin["IT.ADCM.PREFL"] == ("Derived", None)
    assert origin["IT.ADEX.ASTDY"] == ("Derived", None)
    groups = {g.get("Name"): g for g in mdv.iterfind("odm:ItemGroupDef", NS)}
    assert groups["ADCM"].find("def:Class", NS).get("Name") == "OCCURRENCE DATA STRUCTURE"
    assert groups["ADEX"].find("def:Class", NS).get("Name") == "BASIC DATA STRUCTURE"
