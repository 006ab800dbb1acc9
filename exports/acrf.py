"""The annotated CRF's annotations (issue 26 item 2): which SDTM domain.variable each CRF field
becomes, read from the export metadata — the collected variables and their CRF form of
`exports.define.COLLECTED` (the named destinations define.xml's def:PDFPageRef point at) and
the vital-signs tests of `exports.sdtm.VS_TESTS`.

One `AnnotatedPage` per SDTM dataset of `COLLECTED`, named by its destination; each page shows
the forms its variables come from (model label → field → annotation) and the variables the
export sets to one value for every record (`assigned`), so every collected variable of
`COLLECTED` is annotated somewhere on its page (tests/datamanagement/test_pdfs.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exports.define import COLLECTED
from exports.sdtm import CAR_T, VS_TESTS


@dataclass(frozen=True)
class AnnotatedPage:
    dataset: str
    #: (model label, {field name: annotation}) in the order the page shows them
    forms: tuple[tuple[str, dict[str, str]], ...]
    #: variable → the value the export sets (not a CRF field)
    assigned: dict[str, str] = field(default_factory=dict)

    @property
    def destination(self) -> str:
        """The named destination of this page in acrf.pdf: the CRF form name define.xml uses."""
        return COLLECTED[self.dataset][0]

    def variables(self) -> set[str]:
        """Every variable annotated on the page (without its domain or its test code)."""
        found = set(self.assigned)
        for _label, fields in self.forms:
            for text in fields.values():
                for part in text.split(", "):
                    found.add(part.split(" ")[0].split(".", 1)[1])
        return found


def _vs_fields() -> dict[str, str]:
    fields = {"assessment_date": "VS.VSDTC"}
    for name, testcd, _test, _unit in VS_TESTS:
        fields[name] = f"VS.VSORRES (VSTESTCD={testcd})"
    return fields


PAGES: tuple[AnnotatedPage, ...] = (
    AnnotatedPage(
        "DM",
        (("subjects.Demographics", {"assessment_date": "DM.DMDTC", "age_years": "DM.AGE", "sex": "DM.SEX"}),),
    ),
    AnnotatedPage(
        "EX",
        (
            (
                "subjects.Infusion",
                {
                    "lot_number": "EX.EXLOT",
                    "infusion_start": "EX.EXSTDTC",
                    "infusion_end": "EX.EXENDTC",
                    "car_positive_per_kg_e6": "EX.EXDOSE (x 10^6)",
                },
            ),
            (
                "subjects.Lymphodepletion",
                {
                    "fludarabine_mg_m2": "EX.EXDOSE (EXTRT=FLUDARABINE)",
                    "cyclophosphamide_mg_m2": "EX.EXDOSE (EXTRT=CYCLOPHOSPHAMIDE)",
                    "start_date": "EX.EXSTDTC",
                    "end_date": "EX.EXENDTC",
                },
            ),
        ),
        assigned={
            "EXTRT": f"{CAR_T} / the lymphodepletion agent",
            "EXDOSU": "cells/kg / mg/m2",
            "EXDOSFRM": "SUSPENSION / INJECTION",
            "EXDOSFRQ": "ONCE / QD",
            "EXROUTE": "INTRAVENOUS",
        },
    ),
    AnnotatedPage(
        "AE",
        (
            (
                "adverse_events.AdverseEvent",
                {
                    "verbatim": "AE.AETERM",
                    "grade": "AE.AETOXGR",
                    "onset_date": "AE.AESTDTC",
                    "resolution_date": "AE.AEENDTC",
                    "serious_death": "AE.AESDTH",
                    "serious_life_threatening": "AE.AESLIFE",
                    "serious_hospitalisation": "AE.AESHOSP",
                    "serious_disability": "AE.AESDISAB",
                    "serious_congenital_anomaly": "AE.AESCONG",
                    "serious_important_medical_event": "AE.AESMIE",
                    "relationship_car_t": "AE.AEREL",
                    "action": "AE.AEACN",
                    "outcome": "AE.AEOUT",
                },
            ),
        ),
        assigned={"AESER": "Y when any seriousness criterion is ticked"},
    ),
    AnnotatedPage(
        "CM",
        (
            (
                "subjects.ConcomitantMedication",
                {
                    "medication_name": "CM.CMTRT",
                    "atc_code": "CM.CMCLASCD",
                    "category": "CM.CMCAT",
                    "dose": "CM.CMDOSE",
                    "dose_unit": "CM.CMDOSU",
                    "route": "CM.CMROUTE",
                    "start_date": "CM.CMSTDTC",
                    "stop_date": "CM.CMENDTC",
                    "indication": "CM.CMINDC",
                },
            ),
        ),
    ),
    AnnotatedPage(
        "DS",
        (
            ("subjects.Subject", {"status_reason": "DS.DSTERM", "status_date": "DS.DSSTDTC"}),
            ("survival.Death", {"death_date": "DS.DSSTDTC (DSDECOD=DEATH)", "cause_detail": "DS.DSTERM"}),
        ),
    ),
    AnnotatedPage(
        "LB",
        (
            (
                "labs.LabResult",
                {
                    "collected_on": "LB.LBDTC",
                    "panel": "LB.LBCAT",
                    "value": "LB.LBORRES",
                    "unit": "LB.LBORRESU",
                    "lln": "LB.LBORNRLO",
                    "uln": "LB.LBORNRHI",
                },
            ),
        ),
    ),
    AnnotatedPage(
        "VS",
        (("labs.VitalSigns", _vs_fields()),),
        assigned={"VSORRESU": ", ".join(f"{testcd}: {unit}" for _f, testcd, _t, unit in VS_TESTS)},
    ),
    AnnotatedPage(
        "MH",
        (
            (
                "subjects.MedicalHistory",
                {"condition": "MH.MHTERM", "onset_date": "MH.MHSTDTC", "end_date": "MH.MHENDTC"},
            ),
        ),
    ),
    AnnotatedPage(
        "RS",
        (
            (
                "response.MarrowAssessment",
                {"assessment_date": "RS.RSDTC", "response": "RS.RSORRES (RSTESTCD=OVRLRESP)"},
            ),
        ),
    ),
)


PAGES += (
    AnnotatedPage(
        "FA",
        (
            (
                "adverse_events.CrsAssessment",
                {
                    "assessment_date": "FA.FADTC",
                    "tmax_c": "FA.FAORRES (FATESTCD=TMAX)",
                    "hypotension": "FA.FAORRES (FATESTCD=HYPOTEN)",
                    "vasopressors": "FA.FAORRES (FATESTCD=VASOPRES)",
                    "oxygen_device": "FA.FAORRES (FATESTCD=O2DEVICE)",
                    "oxygen_flow_l_min": "FA.FAORRES (FATESTCD=O2FLOW)",
                },
            ),
            (
                "adverse_events.IcansAssessment",
                {
                    "assessment_date": "FA.FADTC",
                    "ice_orientation": "FA.FAORRES (FATESTCD=ICEORIEN)",
                    "ice_naming": "FA.FAORRES (FATESTCD=ICENAMIN)",
                    "ice_following_commands": "FA.FAORRES (FATESTCD=ICECMD)",
                    "ice_writing": "FA.FAORRES (FATESTCD=ICEWRITE)",
                    "ice_counting_backwards": "FA.FAORRES (FATESTCD=ICEATTN)",
                    "encephalopathy_state": "FA.FAREASND (FATESTCD=ICETOT)",
                    "consciousness": "FA.FAORRES (FATESTCD=LOC)",
                    "seizure": "FA.FAORRES (FATESTCD=SEIZURE)",
                    "motor": "FA.FAORRES (FATESTCD=MOTOR)",
                    "raised_icp": "FA.FAORRES (FATESTCD=ICP)",
                },
            ),
        ),
        assigned={"FAOBJ": "CYTOKINE RELEASE SYNDROME / IMMUNE EFFECTOR CELL-ASSOCIATED NEUROTOXICITY SYNDROME"},
    ),
    AnnotatedPage(
        "CP",
        (
            (
                "response.MrdTest",
                {
                    "sample_date": "CP.CPDTC",
                    "specimen": "CP.CPSPEC",
                    "detected": "CP.CPORRES (CPTESTCD=MRDDET)",
                    "level_pct": "CP.CPORRES (CPTESTCD=MRDLVL)",
                    "sensitivity": "CP.CPORRES (CPTESTCD=MRDLOD)",
                    "cd7_independent_gating": "CP.CPGATDEF",
                },
            ),
        ),
        assigned={"CPMETHOD": "FLOW CYTOMETRY (method = flow)"},
    ),
    AnnotatedPage(
        "GF",
        (
            (
                "response.MrdTest",
                {
                    "sample_date": "GF.GFDTC",
                    "specimen": "GF.GFSPEC",
                    "detected": "GF.GFORRES (GFTESTCD=MRDDET)",
                    "level_pct": "GF.GFORRES (GFTESTCD=MRDLVL)",
                    "sensitivity": "GF.GFORRES (GFTESTCD=MRDLOD)",
                },
            ),
        ),
        assigned={"GFMETHOD": "method = RQ-PCR of TCR rearrangement, NGS or fusion-transcript PCR"},
    ),
    AnnotatedPage(
        "DV",
        (
            (
                "subjects.ProtocolDeviation",
                {
                    "deviation_date": "DV.DVSTDTC",
                    "category": "DV.DVCAT",
                    "description": "DV.DVTERM",
                    "important": "DV.DVSCAT",
                },
            ),
        ),
    ),
    AnnotatedPage(
        "HO",
        (
            (
                "adverse_events.HospitalStay",
                {"kind": "HO.HOTERM", "admission_date": "HO.HOSTDTC", "discharge_date": "HO.HOENDTC"},
            ),
        ),
    ),
    AnnotatedPage(
        "IE",
        (("subjects.EligibilityAssessment", {"assessment_date": "IE.IEDTC", "criteria": "IE.IEORRES"}),),
        assigned={"IETESTCD": "the criterion's code (criteria not met only)"},
    ),
    AnnotatedPage(
        "PR",
        (
            ("subjects.CellCollection", {"collection_date": "PR.PRSTDTC"}),
            ("survival.SubsequentTherapy", {"start_date": "PR.PRSTDTC", "consolidative": "PR.PRINDC"}),
        ),
        assigned={"PRTRT": "LEUKAPHERESIS / ALLOGENEIC HEMATOPOIETIC STEM CELL TRANSPLANTATION / DLI"},
    ),
)


def destinations() -> list[str]:
    """The named destinations define.xml references (one per collected dataset)."""
    return sorted({form for form, _variables in COLLECTED.values()})
