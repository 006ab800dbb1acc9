"""The SDTM domains of issue 28 items 7 and 9, read back from the written XPT files of the small
study's export: RS without MRD (RSCAT the criteria, BESTRESP the response alone, VISITNUM on every
collected record), flow MRD in CP and molecular MRD in GF related to the assessment's RS record
through RELREC, DV, HO, IE (criteria not met), PR (apheresis, HSCT), the CRS and ICANS assessments
with the ICE score in FA related to their AE, and LB reference ranges from the site's table."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from adverse_events.models import HospitalStay, IcansAssessment
from crf.services import save
from exports import services
from exports.models import ExportStatus
from labs.models import ReferenceRange
from labs.services import record_reference_range
from response.models import MarrowAssessment, MrdTest
from subjects.eligibility import CRITERIA
from subjects.models import ProtocolDeviation
from subjects.services import subject as subject_services
from survival.models import SubsequentTherapy
from tests.endpoints.conftest import CONSENTED
from tests.exports.conftest import CUTOFF, day, populate_for_export
from tests.exports.test_design import xpt_rows

pytestmark = [pytest.mark.req("ISSUE-28"), pytest.mark.req("CLINICAL_SPEC-9")]

DATASETS = ["DM", "AE", "LB", "RS", "CP", "GF", "DV", "HO", "IE", "PR", "RELREC"]


def populate_domains(world) -> dict:
    subjects = populate_for_export(world)
    a = subjects["a"]
    user = world.coordinator
    record_reference_range(
        user=world.admin,
        reference_range=ReferenceRange(
            site=world.site, analyte="ANC", sex="M", unit="10^9/L", lln=Decimal("1.8"), uln=Decimal("6.3")
        ),
        reason="site table",
    )
    marrow = save(
        user=user,
        instance=MarrowAssessment(
            subject=a,
            assessment_date=day(28),
            marrow_blasts_pct=Decimal("1.5"),
            peripheral_blasts_pct=Decimal("0"),
            anc=Decimal("1.6"),
            platelets=Decimal("130"),
            transfused_previous_7_days=False,
            entry_status="complete",
        ),
        expected_version=None,
    )
    for method, extra in (
        ("flow", {"cells_analysed": 2_000_000, "cd7_independent_gating": True}),
        ("ngs", {}),
    ):
        save(
            user=user,
            instance=MrdTest(
                subject=a,
                assessment=marrow,
                sample_date=day(28),
                method=method,
                specimen="marrow",
                detected=False,
                sensitivity=Decimal("1E-5") if method == "flow" else Decimal("1E-6"),
                entry_status="complete",
                **extra,
            ),
            expected_version=None,
        )
    save(
        user=user,
        instance=ProtocolDeviation(
            subject=a,
            deviation_date=day(33),
            category="visit_window",
            description="Day-28 marrow on day 33 (holiday)",
            important=False,
            corrective_action="Site reminded of the window",
        ),
        expected_version=None,
    )
    save(
        user=user,
        instance=HospitalStay(
            subject=a, kind="icu", admission_date=day(5), discharge_date=day(8), admission_reason="Febrile neutropenia"
        ),
        expected_version=None,
    )
    save(
        user=user,
        instance=SubsequentTherapy(
            subject=a,
            therapy_type="hsct",
            start_date=day(60),
            consolidative=True,
            donor="matched_sibling",
            conditioning="Bu/Cy",
        ),
        expected_version=None,
    )
    save(
        user=user,
        instance=IcansAssessment(
            subject=a,
            assessment_date=day(2),
            assessment_time=time(9, 0),
            ice_orientation=3,
            ice_naming=3,
            ice_following_commands=1,
            ice_writing=1,
            ice_counting_backwards=1,
            entry_status="complete",
        ),
        expected_version=None,
    )
    # a screen failure: an active infection (EX1 met) — the only criterion not met in the study
    answers = {c.code: c.inclusion for c in CRITERIA} | {"EX1": True}
    failed = subject_services.record_consent(user=user, site=world.site, consent_version="1.0", consent_date=CONSENTED)
    subject_services.record_eligibility(
        user=user, subject=failed, protocol_version="2.1", assessment_date=CONSENTED, criteria=answers
    )
    return subjects


def test_the_new_domains_read_back_from_the_xpt_files(world):
    populate_domains(world)
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, dataset_names=DATASETS, formats=["xpt"]
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert export.conformance_errors == 0, [f for f in export.conformance if f["severity"] == "error"]

    rs = xpt_rows(export, "RS")
    assessed = [r for r in rs if r["RSTESTCD"] == "OVRLRESP"]
    assert [(r["RSSTRESC"], r["RSCAT"], r["VISIT"], r["RSDTC"]) for r in assessed] == [
        ("CR", "PROTOCOL DEFINED RESPONSE CRITERIA", "UNSCHEDULED 0.02", "2026-04-17")
    ]
    assert assessed[0]["VISITNUM"] == 0.02  # after the unscheduled labs and vitals of day -1 (0.01)
    assert {r["RSTESTCD"] for r in rs} == {"OVRLRESP", "BESTRESP"}  # no MRD test in RS any more
    best = [r["RSSTRESC"] for r in rs if r["USUBJID"].endswith("A-001") and r["RSTESTCD"] == "BESTRESP"]
    assert best == ["CR", "CR"]  # the response alone: its MRD status is in CP / GF

    cp = xpt_rows(export, "CP")
    assert [(r["CPTESTCD"], r["CPSTRESC"], r["CPORRESU"]) for r in cp] == [
        ("MRDDET", "N", None),
        ("MRDLOD", "0.001", "%"),
        ("MRDSTS", "NEGATIVE", None),
    ]
    assert {(r["CPMETHOD"], r["CPSPEC"], r["CPGATDEF"], r["CPGRPID"]) for r in cp} == {
        ("FLOW CYTOMETRY", "BONE MARROW", "CD7-INDEPENDENT GATING", f"MA{assessed[0]['RSSPID']}")
    }
    gf = xpt_rows(export, "GF")
    assert [(r["GFTESTCD"], r["GFSTRESC"], r["GFMETHOD"]) for r in gf] == [
        ("MRDDET", "N", "NEXT GENERATION SEQUENCING"),
        ("MRDLOD", "0.0001", "NEXT GENERATION SEQUENCING"),
        ("MRDSTS", "NEGATIVE", "NEXT GENERATION SEQUENCING"),
    ]

    relrec = xpt_rows(export, "RELREC")
    group = f"MA{assessed[0]['RSSPID']}"
    assert [(r["RDOMAIN"], r["IDVAR"], r["IDVARVAL"]) for r in relrec if r["RELID"] == group] == [
        ("RS", "RSSEQ", str(int(assessed[0]["RSSEQ"]))),
        ("CP", "CPGRPID", group),
        ("GF", "GFGRPID", group),
    ]
    assert [(r["RDOMAIN"], r["IDVAR"], r["RELTYPE"]) for r in relrec if r["RELID"] == "AEGRADE"] == [
        ("AE", "AESPID", "ONE"),
        ("FA", "FASPID", "MANY"),
    ]
    crs_ae = next(r for r in xpt_rows(export, "AE") if r["AECAT"] == "CRS")
    assert [(r["RDOMAIN"], r["IDVAR"], r["IDVARVAL"]) for r in relrec if r["RELID"] == "CRS1"] == [
        ("AE", "AESEQ", str(int(crs_ae["AESEQ"]))),
        ("FA", "FAGRPID", "CRS-1"),
    ]

    fa = xpt_rows(export, "FA")
    crs = [(r["FATESTCD"], r["FASTRESC"], r["FAGRPID"]) for r in fa if r["FACAT"] == "CRS ASSESSMENT"]
    assert crs == [
        ("TMAX", "38.6", "CRS-1"),
        ("HYPOTEN", "N", "CRS-1"),
        ("VASOPRES", "NONE", "CRS-1"),
        ("O2DEVICE", "ROOM AIR", "CRS-1"),
        ("CRSGR", "1", "CRS-1"),
    ]
    ice = {r["FATESTCD"]: r["FASTRESN"] for r in fa if r["FACAT"] == "ICANS ASSESSMENT"}
    assert (ice["ICETOT"], ice["ICEORIEN"], ice["ICANSGR"]) == (9.0, 3.0, 1.0)
    # the AE grade course first, then the assessments by date, each result in its place; FASEQ
    # numbered in that order within the subject, EPOCH from each record's date
    subject = next(r["USUBJID"] for r in fa if r["FACAT"] == "CRS ASSESSMENT")
    ordered = [r for r in fa if r["USUBJID"] == subject]
    assert [r["FASEQ"] for r in ordered] == [float(n) for n in range(1, 24)]
    course = ["2026-03-23", "2026-03-25", "2026-04-29", "2026-03-16", "2026-06-23", "2026-03-21", "2026-03-22"]
    assert [(r["FACAT"], r["FADTC"], r["EPOCH"]) for r in ordered[:7]] == [
        ("ADVERSE EVENT GRADE COURSE", on, "FOLLOW-UP" if on in ("2026-04-29", "2026-06-23") else "TREATMENT")
        for on in course
    ]
    assert [(r["FACAT"], r["FATESTCD"], r["FADTC"], r["EPOCH"]) for r in ordered[7:]] == [
        *(
            ("CRS ASSESSMENT", code, "2026-03-21", "TREATMENT")
            for code in ("TMAX", "HYPOTEN", "VASOPRES", "O2DEVICE", "CRSGR")
        ),
        *(
            ("ICANS ASSESSMENT", code, "2026-03-22T09:00", "TREATMENT")
            for code in (
                "ICEORIEN",
                "ICENAMIN",
                "ICECMD",
                "ICEWRITE",
                "ICEATTN",
                "ICETOT",
                "LOC",
                "SEIZURE",
                "MOTOR",
                "ICP",
                "ICANSGR",
            )
        ),
    ]

    dv = xpt_rows(export, "DV")
    assert [(r["DVCAT"], r["DVSCAT"], r["DVSTDTC"], r["DVSTDY"], r["EPOCH"]) for r in dv] == [
        ("VISIT OUT OF WINDOW", "NOT IMPORTANT", "2026-04-22", 34.0, "FOLLOW-UP")
    ]
    ho = xpt_rows(export, "HO")
    assert [(r["HOTERM"], r["HOSTDTC"], r["HOENDTC"], r["EPOCH"]) for r in ho] == [
        ("INTENSIVE CARE UNIT", "2026-03-25", "2026-03-28", "TREATMENT")
    ]
    ie = xpt_rows(export, "IE")
    assert [(r["IETESTCD"], r["IECAT"], r["IEORRES"], r["EPOCH"]) for r in ie] == [
        ("EX1", "EXCLUSION", "Y", "SCREENING")
    ]
    pr = xpt_rows(export, "PR")
    assert sorted((r["USUBJID"][-5:], r["PRTRT"], r["PRSTDTC"]) for r in pr) == [
        ("A-001", "ALLOGENEIC HEMATOPOIETIC STEM CELL TRANSPLANTATION", "2026-05-19"),
        ("A-001", "LEUKAPHERESIS", "2026-03-02"),
        ("A-002", "LEUKAPHERESIS", "2026-03-05"),
    ]

    # the site's reference range reaches LB: the ANC of A (male) without the report's own range
    anc = [r for r in xpt_rows(export, "LB") if r["LBTESTCD"] == "NEUT" and r["USUBJID"].endswith("A-001")]
    assert [(r["LBORNRLO"], r["LBORNRHI"], r["LBSTNRLO"], r["LBSTNRHI"], r["LBNRIND"]) for r in anc] == [
        ("1.8", "6.3", 1.8, 6.3, "LOW")
    ]
