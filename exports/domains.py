"""SDTM domains for data the EDC holds beyond the core ones (issue 28 items 7 and 9): CP and GF
(MRD by flow cytometry and by molecular methods, SDTMIG 3.4), DV (protocol deviations), HO
(hospital and ICU stays), IE (eligibility criteria not met), PR (apheresis, HSCT, DLI), the
CRS and ICANS assessments with their ICE scores as FA records (built with AE, exports.sdtm),
and RELREC relating them:

- a marrow assessment's OVRLRESP record in RS ↔ its MRD records in CP / GF (RELID = MA + the
  assessment's id, IDVAR RSSEQ and CPGRPID / GFGRPID);
- a CRS or ICANS AE (the system-owned AE of an episode) ↔ the FA records of the assessments in
  its episode (RELID = CRS1, ICANS2, ...; IDVAR AESEQ and FAGRPID);
- at dataset level, AE.AESPID ↔ FA.FASPID: the grade course of each AE (issue 30).

Each builder is a pure function of the export's data (exports.sdtm.load, one query per form);
a domain with no record is not submitted (no file, a note in the report).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from itertools import chain, repeat
from typing import Any

from django.utils import translation

from exports.datasets import BuildContext, Dataset, ascii_text, iso, make_dataset, register
from exports.metadata import SDTMIG
from exports.sdtm import (
    DAY_CONVENTION,
    ExportData,
    Subj,
    Supp,
    _base,
    _epochs,
    _plain,
    _sequence,
    sdtm_day,
    subjects,
)

FINDINGS_DAY = "--DY: SDTM study day (no day 0; day 1 = RFSTDTC, the first CAR-T infusion)."


def _label(choices: Any, value: str) -> str:
    """The English label of a stored choice, upper case and ASCII (as the datasets are)."""
    if not value:
        return ""
    label = _LABELS.get((choices, value))
    if label is None:
        with translation.override("en"):
            try:
                label = ascii_text(str(choices(value).label)).upper()
            except ValueError:
                label = ascii_text(value.replace("_", " ")).upper()
        _LABELS[(choices, value)] = label
    return label


#: `_label` of each (choices, value) met: every CRS/ICANS assessment repeats the same few
_LABELS: dict[tuple[Any, str], str] = {}


def _dtc(on: date, at: Any) -> str:
    """An assessment's date, with its site-local time to the minute when recorded."""
    return f"{on.isoformat()}T{at.strftime('%H:%M')}" if at is not None else on.isoformat()


# --- CP / GF: MRD ----------------------------------------------------------------------------------

MRD_METHOD = {
    "flow": "FLOW CYTOMETRY",
    "tcr_pcr": "REAL-TIME POLYMERASE CHAIN REACTION",
    "ngs": "NEXT GENERATION SEQUENCING",
    "fusion_pcr": "REAL-TIME POLYMERASE CHAIN REACTION",
}
MRD_TARGET = {
    "tcr_pcr": "TCR GENE REARRANGEMENT",
    "ngs": "TCR GENE REARRANGEMENT",
    "fusion_pcr": "FUSION TRANSCRIPT",
}
SPECIMEN = {"marrow": "BONE MARROW", "blood": "BLOOD"}
MRD_STATUS = {"negative": "NEGATIVE", "positive": "POSITIVE", "not_evaluable": "NOT EVALUABLE"}
MRD_CATEGORY = "MINIMAL RESIDUAL DISEASE"
MRD_NOTES = [
    "One group of records per MRD test (CLINICAL_SPEC 5.2), --GRPID = MA + the id of the marrow assessment the "
    "test belongs to: MRDDET detected (Y/N), MRDLVL the level in % of nucleated cells when detected, MRDLOD the "
    "assay's limit of detection in % (its sensitivity), and MRDSTS the MRD status the system derived from them "
    "(--DRVFL = Y: NEGATIVE needs an assay able to see the cut-off, else NOT EVALUABLE, never negative).",
    "RELREC relates each group to the marrow assessment's overall response in RS (RSTESTCD OVRLRESP).",
    "Test codes are sponsor-defined (the CT terms of the CP and GF test codelists are not shipped with the export).",
]


def _mrd_rows(data: ExportData, subjs: dict[int, Subj], prefix: str, methods: set[str]) -> list[dict[str, Any]]:
    forms = {row["id"]: row for row in data.forms.get("marrow_assessments", [])}
    rows: list[dict[str, Any]] = []
    for test in data.forms.get("mrd_tests", []):
        if test["method"] not in methods or test["subject_id"] not in subjs:
            continue
        subj = subjs[test["subject_id"]]
        marrow = forms.get(test["assessment_id"])
        visitnum, visit = data.visit_of(marrow, marrow["assessment_date"], same_day=True) if marrow else (None, None)
        base = _base(data, subj, prefix) | {
            f"{prefix}GRPID": f"MA{test['assessment_id']}",
            f"{prefix}SPID": str(test["id"]),
            f"{prefix}CAT": MRD_CATEGORY,
            f"{prefix}SPEC": SPECIMEN.get(test["specimen"], test["specimen"].upper()),
            f"{prefix}METHOD": MRD_METHOD[test["method"]],
            "VISITNUM": visitnum,
            "VISIT": visit,
            f"{prefix}DTC": iso(test["sample_date"]),
            f"{prefix}DY": sdtm_day(test["sample_date"], subj.ref),
            "_date": test["sample_date"],
        }
        if prefix == "CP":
            gating = test["cd7_independent_gating"]
            if gating is not None:
                base["CPGATDEF"] = "CD7-INDEPENDENT GATING" if gating else "CD7-DEPENDENT GATING"
        else:
            base["GFSCAT"] = MRD_TARGET.get(test["method"])
        lod = None if test["sensitivity"] is None else Decimal(test["sensitivity"]) * 100
        results: list[tuple[str, str, str | None, Decimal | None, str | None]] = [
            ("MRDDET", "MRD Detected", "Y" if test["detected"] else "N", None, None),
        ]
        if test["level_pct"] is not None:
            results.append(("MRDLVL", "MRD Level", None, Decimal(test["level_pct"]), "%"))
        if lod is not None:
            results.append(("MRDLOD", "MRD Assay Limit of Detection", None, lod, "%"))
        if test["status"]:
            results.append(("MRDSTS", "MRD Status", MRD_STATUS.get(test["status"], test["status"].upper()), None, None))
        for order, (testcd, name, text, number, unit) in enumerate(results):
            value = text if number is None else _plain(number)
            row = base | {
                f"{prefix}TESTCD": testcd,
                f"{prefix}TEST": name,
                f"{prefix}ORRES": value,
                f"{prefix}ORRESU": unit,
                f"{prefix}STRESC": value,
                f"{prefix}STRESN": None if number is None else float(number),
                f"{prefix}STRESU": unit,
                f"{prefix}DRVFL": "Y" if testcd == "MRDSTS" else None,
                "_sort": (test["sample_date"], test["id"], order),
            }
            if prefix == "CP" and testcd == "MRDLVL":
                row["CPSPTSTD"] = "Leukaemic cells in % of nucleated cells analysed"
            if prefix == "CP" and test["cells_analysed"] is not None and testcd == "MRDDET":
                row["_cells"] = test["cells_analysed"]
            rows.append(row)
    _sequence(rows, prefix, "_sort")
    _epochs(data, rows, lambda r: r["_date"])
    return rows


@register("CP", standard=SDTMIG, order=91)
def build_cp(ctx: BuildContext) -> list[Dataset]:
    """Flow-cytometry MRD (SDTMIG 3.4 Cell Phenotype Findings); the cells analysed in SUPPCP."""
    data: ExportData = ctx.data
    rows = _mrd_rows(data, subjects(data), "CP", {"flow"})
    supp = Supp("CP")
    for row in rows:
        if row.get("_cells") is not None:
            supp.add(row, "CPNCELLS", "Number of Cells Analyzed", str(row["_cells"]), "CRF")
    dataset = make_dataset(
        "CP",
        standard=SDTMIG,
        ig_dataset="CP",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "CPSEQ",
            "CPGRPID",
            "CPSPID",
            "CPTESTCD",
            "CPTEST",
            "CPGATDEF",
            "CPSPTSTD",
            "CPCAT",
            "CPORRES",
            "CPORRESU",
            "CPSTRESC",
            "CPSTRESN",
            "CPSTRESU",
            "CPSPEC",
            "CPMETHOD",
            "CPDRVFL",
            "VISITNUM",
            "VISIT",
            "EPOCH",
            "CPDTC",
            "CPDY",
        ],
        rows=rows,
        keys=("USUBJID", "CPSEQ"),
        omitted={
            "CPMRKSTR": "The MRD form records the result of the leukaemia-associated phenotype search, not the "
            "marker panel; whether the gating was CD7-independent is in CPGATDEF.",
        },
        notes=[*MRD_NOTES, "SUPPCP.CPNCELLS: the number of cells analysed (on the MRDDET record).", FINDINGS_DAY],
    )
    return [dataset, supp.dataset(data)]


@register("GF", standard=SDTMIG, order=92)
def build_gf(ctx: BuildContext) -> list[Dataset]:
    """Molecular MRD (RQ-PCR of TCR rearrangement, NGS, fusion-transcript PCR): SDTMIG 3.4
    Genomics Findings."""
    data: ExportData = ctx.data
    rows = _mrd_rows(data, subjects(data), "GF", {"tcr_pcr", "ngs", "fusion_pcr"})  # SDTMIG 3.4 GF has no EPOCH
    dataset = make_dataset(
        "GF",
        standard=SDTMIG,
        ig_dataset="GF",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "GFSEQ",
            "GFGRPID",
            "GFSPID",
            "GFTESTCD",
            "GFTEST",
            "GFCAT",
            "GFSCAT",
            "GFORRES",
            "GFORRESU",
            "GFSTRESC",
            "GFSTRESN",
            "GFSTRESU",
            "GFSPEC",
            "GFMETHOD",
            "GFDRVFL",
            "VISITNUM",
            "VISIT",
            "GFDTC",
            "GFDY",
        ],
        rows=rows,
        keys=("USUBJID", "GFSEQ"),
        omitted={"GFREFID": "The MRD form records no specimen or sample identifier."},
        notes=[*MRD_NOTES, "GFSCAT: the molecular target (TCR gene rearrangement or fusion transcript).", FINDINGS_DAY],
    )
    return [dataset]


# --- DV -------------------------------------------------------------------------------------------


@register("DV", standard=SDTMIG, order=56)
def build_dv(ctx: BuildContext) -> list[Dataset]:
    from subjects.models import DeviationCategory

    data: ExportData = ctx.data
    subjs = subjects(data)
    rows = []
    extra = []
    for dv in data.forms.get("deviations", []):
        subj = subjs[dv["subject_id"]]
        row = _base(data, subj, "DV") | {
            "DVSPID": str(dv["id"]),
            "DVTERM": data.text("DV", "DVTERM", dv["description"], _label(DeviationCategory, dv["category"])),
            "DVCAT": _label(DeviationCategory, dv["category"]),
            "DVSCAT": "IMPORTANT" if dv["important"] else "NOT IMPORTANT",
            "DVSTDTC": iso(dv["deviation_date"]),
            "DVSTDY": sdtm_day(dv["deviation_date"], subj.ref),
            "_sort": (dv["deviation_date"], dv["id"]),
        }
        rows.append(row)
        action = data.text("DV", "DVCAPA", dv["corrective_action"])
        extra.append((row, action))
    _sequence(rows, "DV", "_sort")
    _epochs(data, rows, lambda r: r["_sort"][0])
    supp = Supp("DV")
    for row, action in extra:
        supp.add(row, "DVCAPA", "Corrective and Preventive Action", action, "CRF")
    dataset = make_dataset(
        "DV",
        standard=SDTMIG,
        ig_dataset="DV",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "DVSEQ",
            "DVSPID",
            "DVTERM",
            "DVCAT",
            "DVSCAT",
            "EPOCH",
            "DVSTDTC",
            "DVSTDY",
        ],
        rows=rows,
        keys=("USUBJID", "DVSEQ"),
        notes=[
            "The protocol deviation log: DVTERM the description (ASCII), DVCAT its category, DVSCAT IMPORTANT when "
            "the deviation may significantly affect key data or the subject's rights, safety or well-being (ICH E3 "
            "10.2); the corrective and preventive action in SUPPDV.DVCAPA. Deviations are not coded (no DVDECOD).",
            DAY_CONVENTION,
        ],
    )
    return [dataset, supp.dataset(data)]


# --- HO -------------------------------------------------------------------------------------------

STAY = {"hospital": "HOSPITAL", "icu": "INTENSIVE CARE UNIT"}


@register("HO", standard=SDTMIG, order=57)
def build_ho(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    subjs = subjects(data)
    rows = []
    extra = []
    for stay in data.forms.get("hospital_stays", []):
        subj = subjs[stay["subject_id"]]
        end = stay["discharge_date"] if stay["discharge_date"] and stay["discharge_date"] <= data.cutoff else None
        term = STAY.get(stay["kind"], stay["kind"].upper())
        row = _base(data, subj, "HO") | {
            "HOSPID": str(stay["id"]),
            "HOTERM": term,
            "HODECOD": term,
            "HOSTDTC": iso(stay["admission_date"]),
            "HOENDTC": iso(end),
            "HOSTDY": sdtm_day(stay["admission_date"], subj.ref),
            "HOENDY": sdtm_day(end, subj.ref),
            "HOENRTPT": "ONGOING" if end is None else None,
            "HOENTPT": iso(data.cutoff) if end is None else None,
            "_sort": (stay["admission_date"], stay["id"]),
        }
        rows.append(row)
        extra.append((row, data.text("HO", "HOREAS", stay["admission_reason"])))
    _sequence(rows, "HO", "_sort")
    _epochs(data, rows, lambda r: r["_sort"][0])
    supp = Supp("HO")
    for row, reason in extra:
        supp.add(row, "HOREAS", "Reason for Healthcare Encounter", reason, "CRF")
    dataset = make_dataset(
        "HO",
        standard=SDTMIG,
        ig_dataset="HO",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "HOSEQ",
            "HOSPID",
            "HOTERM",
            "HODECOD",
            "EPOCH",
            "HOSTDTC",
            "HOENDTC",
            "HOSTDY",
            "HOENDY",
            "HOENRTPT",
            "HOENTPT",
        ],
        rows=rows,
        keys=("USUBJID", "HOSEQ"),
        notes=[
            "Hospital admissions and ICU stays from the hospital-stay form: HOTERM/HODECOD HOSPITAL or INTENSIVE CARE "
            "UNIT, admission and discharge dates; a stay not ended by the clinical cut-off has HOENRTPT = ONGOING "
            "with HOENTPT = the cut-off date. The reason for the stay is in SUPPHO.HOREAS.",
            DAY_CONVENTION,
        ],
    )
    return [dataset, supp.dataset(data)]


# --- IE -------------------------------------------------------------------------------------------


@register("IE", standard=SDTMIG, order=58)
def build_ie(ctx: BuildContext) -> list[Dataset]:
    """The eligibility criteria NOT met (SDTMIG 3.4: IE holds only those): an inclusion criterion
    answered no, an exclusion criterion answered yes, on each eligibility checklist."""
    from subjects.eligibility import CRITERIA

    data: ExportData = ctx.data
    subjs = subjects(data)
    with translation.override("en"):
        texts = {c.code: ascii_text(str(c.text)) for c in CRITERIA}
    rows = []
    for checklist in data.forms.get("eligibility", []):
        subj = subjs[checklist["subject_id"]]
        answers = checklist["criteria"] or {}
        for criterion in CRITERIA:
            answer = answers.get(criterion.code)
            if not isinstance(answer, bool) or answer is criterion.inclusion:
                continue
            result = "Y" if answer else "N"
            rows.append(
                _base(data, subj, "IE")
                | {
                    "IESPID": str(checklist["id"]),
                    "IETESTCD": criterion.code,
                    "IETEST": texts[criterion.code],
                    "IECAT": "INCLUSION" if criterion.inclusion else "EXCLUSION",
                    "IEORRES": result,
                    "IESTRESC": result,
                    "IEDTC": iso(checklist["assessment_date"]),
                    "IEDY": sdtm_day(checklist["assessment_date"], subj.ref),
                    "_sort": (checklist["assessment_date"], checklist["id"], criterion.code),
                }
            )
    _sequence(rows, "IE", "_sort")
    _epochs(data, rows, lambda r: r["_sort"][0])
    dataset = make_dataset(
        "IE",
        standard=SDTMIG,
        ig_dataset="IE",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "IESEQ",
            "IESPID",
            "IETESTCD",
            "IETEST",
            "IECAT",
            "IEORRES",
            "IESTRESC",
            "EPOCH",
            "IEDTC",
            "IEDY",
        ],
        rows=rows,
        keys=("USUBJID", "IETESTCD", "IEDTC"),
        notes=[
            "Only the criteria not met on an eligibility checklist: an inclusion criterion answered N, an exclusion "
            "criterion answered Y (IETESTCD and IETEST as in TI).",
            DAY_CONVENTION,
        ],
    )
    return [dataset]


# --- PR -------------------------------------------------------------------------------------------

HSCT = "ALLOGENEIC HEMATOPOIETIC STEM CELL TRANSPLANTATION"
DONOR = {
    "matched_sibling": "MATCHED SIBLING",
    "matched_unrelated": "MATCHED UNRELATED",
    "mismatched_unrelated": "MISMATCHED UNRELATED",
    "haploidentical": "HAPLOIDENTICAL",
    "cord_blood": "CORD BLOOD",
    "unrelated": "UNRELATED",
}


@register("PR", standard=SDTMIG, order=45)
def build_pr(ctx: BuildContext) -> list[Dataset]:
    """Procedures on the subject: the apheresis for manufacturing (an autologous collection; a
    donor's collection is a procedure on the donor, not the subject), an allogeneic HSCT or a DLI
    after the infusion (subsequent therapy), and a prior allogeneic HSCT (disease history)."""
    data: ExportData = ctx.data
    subjs = subjects(data)
    rows = []
    extra: list[tuple[dict[str, Any], list[tuple[str, str, Any]]]] = []

    def add(subj: Subj, row: dict[str, Any], items: list[tuple[str, str, Any]]) -> None:
        record = _base(data, subj, "PR") | row
        rows.append(record)
        extra.append((record, items))

    for collection in data.forms.get("cell_collections", []):
        if collection["source"] != "autologous":
            continue
        subj = subjs[collection["subject_id"]]
        on = collection["collection_date"]
        add(
            subj,
            {
                "PRSPID": f"CC-{collection['id']}",
                "PRTRT": "LEUKAPHERESIS",
                "PRCAT": "CAR-T CELL COLLECTION",
                "PRINDC": "CAR-T MANUFACTURING",
                "PRSTDTC": iso(on),
                "PRSTDY": sdtm_day(on, subj.ref),
                "_date": on,
            },
            [],
        )
    for therapy in data.forms.get("subsequent_therapies", []):
        if therapy["therapy_type"] not in {"hsct", "dli"}:
            continue  # anti-leukaemic drugs are medications, not procedures
        subj = subjs[therapy["subject_id"]]
        on = therapy["start_date"]
        hsct = therapy["therapy_type"] == "hsct"
        add(
            subj,
            {
                "PRSPID": f"ST-{therapy['id']}",
                "PRTRT": HSCT if hsct else "DONOR LYMPHOCYTE INFUSION",
                "PRCAT": "SUBSEQUENT ANTI-LEUKEMIC THERAPY",
                "PRINDC": "CONSOLIDATION" if therapy["consolidative"] else None,
                "PRSTDTC": iso(on),
                "PRSTDY": sdtm_day(on, subj.ref),
                "_date": on,
            },
            [
                ("PRDONOR", "Donor Type", DONOR.get(therapy["donor"], therapy["donor"].upper()) or None),
                ("PRCOND", "Conditioning Regimen", data.text("PR", "PRCOND", therapy["conditioning"]) or None),
            ],
        )
    for history in data.forms.get("disease_history", []):
        if not history.get("prior_hsct"):
            continue
        subj = subjs[history["subject_id"]]
        add(
            subj,
            {
                "PRSPID": f"DH-{history['id']}",
                "PRTRT": HSCT,
                "PRCAT": "PRIOR ANTI-LEUKEMIC THERAPY",
                "PRSTDTC": history.get("hsct_date") or None,
                "_date": None,
            },
            [("PRDONOR", "Donor Type", DONOR.get(history.get("hsct_donor") or ""))],
        )
    _sequence(rows, "PR", lambda r: (r["PRSTDTC"] or "", r["PRSPID"]))
    _epochs(data, rows, lambda r: r["_date"])
    supp = Supp("PR")
    for row, items in extra:
        for qnam, qlabel, qval in items:
            supp.add(row, qnam, qlabel, qval, "CRF")
    dataset = make_dataset(
        "PR",
        standard=SDTMIG,
        ig_dataset="PR",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "PRSEQ",
            "PRSPID",
            "PRTRT",
            "PRCAT",
            "PRINDC",
            "EPOCH",
            "PRSTDTC",
            "PRSTDY",
        ],
        rows=rows,
        keys=("USUBJID", "PRSEQ"),
        notes=[
            "LEUKAPHERESIS: the subject's own collection for manufacturing (cell collection form; a collection "
            "from a donor is the donor's procedure and is not in PR). Allogeneic HSCT and donor lymphocyte "
            "infusion after the CAR-T cells from the subsequent-therapy form (PRINDC CONSOLIDATION for a "
            "consolidative HSCT; donor type and conditioning in SUPPPR); a prior allogeneic HSCT from the disease "
            "history (date as recorded, possibly partial; no study day or EPOCH: before the study).",
            DAY_CONVENTION,
        ],
    )
    return [dataset, supp.dataset(data)]


# --- FA: CRS and ICANS assessments (built with AE) -------------------------------------------------

CRS_OBJECT = "CYTOKINE RELEASE SYNDROME"
ICANS_OBJECT = "IMMUNE EFFECTOR CELL-ASSOCIATED NEUROTOXICITY SYNDROME"
ICE_ITEMS = (
    ("ice_orientation", "ICEORIEN", "ICE Orientation"),
    ("ice_naming", "ICENAMIN", "ICE Naming"),
    ("ice_following_commands", "ICECMD", "ICE Following Commands"),
    ("ice_writing", "ICEWRITE", "ICE Writing"),
    ("ice_counting_backwards", "ICEATTN", "ICE Attention"),
)
NOT_EVALUABLE = {
    "intubated": "INTUBATED",
    "sedated_for_other_reason": "SEDATED FOR ANOTHER REASON",
    "unable": "UNABLE TO PERFORM (UNAROUSABLE)",
}


def _episode_group(episodes: list[dict[str, Any]], kind: str, on: date) -> str | None:
    for episode in episodes:
        if not episode.get("superseded") and episode["onset_date"] <= on <= episode["last_date"]:
            return f"{kind}-{episode['number']}"
    return None


#: FA's columns an assessment's records share, and those of each of its results
FA_SHARED = ("STUDYID", "DOMAIN", "USUBJID", "FAGRPID", "FASPID", "FAOBJ", "FACAT", "FASCAT", "FADTC", "FADY")
FA_RESULT = ("FATESTCD", "FATEST", "FAORRES", "FAORRESU", "FASTRESC", "FASTRESN", "FASTRESU", "FASTAT", "FAREASND")


def assessment_fa_columns(
    data: ExportData, subjs: dict[int, Subj]
) -> tuple[dict[str, list[Any]], list[date], list[tuple[Any, ...]]]:
    """FA records of every CRS and ICANS assessment dated on or before the cut-off, built a
    column at a time (issue 29 item 7: no dict per result): the columns (FA_SHARED and
    FA_RESULT), each record's date (for EPOCH) and its sort key within the subject (`_order` of
    the AE grade course's rows: 1, date, CRS/ICANS, the form's id, the result's place)."""
    from adverse_events.models import Consciousness, MotorFinding, RaisedIcp, Seizure
    from labs.models import OxygenDevice

    episodes: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for kind, form in (("CRS", "crs_episodes"), ("ICANS", "icans_episodes")):
        for episode in data.forms.get(form, []):
            episodes[(kind, episode["subject_id"])].append(episode)
    shared: list[tuple[Any, ...]] = []  # one per assessment
    counts: list[int] = []  # its number of results
    dates: list[date] = []
    records: list[tuple[Any, ...]] = []  # one per result
    orders: list[tuple[Any, ...]] = []

    def add(
        subj: Subj,
        form: dict[str, Any],
        kind: str,
        results: list[tuple[str, str, Any, str | None, str | None]],
    ) -> None:
        on = form["assessment_date"]
        form_id = form["id"]
        shared.append(
            (
                data.study_code,
                "FA",
                subj.usubjid,
                _episode_group(episodes[(kind, subj.id)], kind, on),
                f"{kind}-{form_id}",
                CRS_OBJECT if kind == "CRS" else ICANS_OBJECT,
                f"{kind} ASSESSMENT",
                "ASTCT 2019",
                _dtc(on, form.get("assessment_time")),
                sdtm_day(on, subj.ref),
            )
        )
        counts.append(len(results))
        dates.append(on)
        for order, (testcd, name, value, unit, reason) in enumerate(results):
            number = value if isinstance(value, int | Decimal) and not isinstance(value, bool) else None
            text = _plain(number) if number is not None else value
            records.append(
                (
                    testcd,
                    name,
                    text,
                    unit if text is not None else None,
                    text,
                    None if number is None else float(number),
                    unit if number is not None else None,
                    "NOT DONE" if reason else None,
                    reason,
                )
            )
            orders.append((1, on, kind, form_id, order))

    for crs in data.forms.get("crs_assessments", []):
        subj = subjs.get(crs["subject_id"])
        if subj is None:
            continue
        pressors = ", ".join(sorted(p.upper() for p in crs["vasopressors"] or [])) or "NONE"
        results: list[tuple[str, str, Any, str | None, str | None]] = []
        if crs["tmax_c"] is not None:
            results.append(("TMAX", "Maximum Temperature", Decimal(crs["tmax_c"]), "C", None))
        results += [
            ("HYPOTEN", "Hypotension", "Y" if crs["hypotension"] else "N", None, None),
            ("VASOPRES", "Vasopressors in Use", pressors, None, None),
            ("O2DEVICE", "Oxygen Delivery Device", _label(OxygenDevice, crs["oxygen_device"]), None, None),
        ]
        if crs["oxygen_flow_l_min"] is not None:
            results.append(("O2FLOW", "Oxygen Flow Rate", Decimal(crs["oxygen_flow_l_min"]), "L/min", None))
        if crs["grade"] is not None:
            results.append(("CRSGR", "ASTCT CRS Grade", int(crs["grade"]), None, None))
        add(subj, crs, "CRS", results)
    for icans in data.forms.get("icans_assessments", []):
        subj = subjs.get(icans["subject_id"])
        if subj is None:
            continue
        results = []
        scored = icans["encephalopathy_state"] == "scored"
        instrument = icans["instrument_used"] or icans["instrument"] or "ice"
        if instrument == "ice":
            if scored:
                for field_name, testcd, name in ICE_ITEMS:
                    if icans[field_name] is not None:
                        results.append((testcd, name, int(icans[field_name]), None, None))
            total = icans["instrument_total"] if scored else None
            reason = None if scored else NOT_EVALUABLE.get(icans["encephalopathy_state"], "NOT EVALUABLE")
            results.append(("ICETOT", "ICE Score", None if total is None else int(total), None, reason))
        else:
            total = icans["instrument_total"] if scored else None
            reason = None if scored else NOT_EVALUABLE.get(icans["encephalopathy_state"], "NOT EVALUABLE")
            results.append(("CAPDTOT", "CAPD Score", None if total is None else int(total), None, reason))
        results += [
            ("LOC", "Level of Consciousness", _label(Consciousness, icans["consciousness"]), None, None),
            ("SEIZURE", "Seizure", _label(Seizure, icans["seizure"]), None, None),
            ("MOTOR", "Motor Findings", _label(MotorFinding, icans["motor"]), None, None),
            ("ICP", "Raised ICP or Cerebral Edema", _label(RaisedIcp, icans["raised_icp"]), None, None),
        ]
        if icans["grade"] is not None:
            results.append(("ICANSGR", "ASTCT ICANS Grade", int(icans["grade"]), None, None))
        add(subj, icans, "ICANS", results)
    columns = {
        name: list(chain.from_iterable(map(repeat, values, counts)))
        for name, values in zip(FA_SHARED, list(zip(*shared, strict=True)) or [()] * len(FA_SHARED), strict=True)
    }
    columns.update(
        (name, list(values))
        for name, values in zip(FA_RESULT, list(zip(*records, strict=True)) or [()] * len(FA_RESULT), strict=True)
    )
    return columns, list(chain.from_iterable(map(repeat, dates, counts))), orders


# --- RELREC ---------------------------------------------------------------------------------------


@register("RELREC", standard=SDTMIG, requires=("AE", "RS", "CP", "GF"), order=99)
def build_relrec(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    built = ctx.built
    rows: list[dict[str, Any]] = []

    def relate(relid: str, usubjid: str | None, *records: tuple[str, str, str | None, str | None]) -> None:
        for rdomain, idvar, idvarval, reltype in records:
            rows.append(
                {
                    "STUDYID": data.study_code,
                    "RDOMAIN": rdomain,
                    "USUBJID": usubjid,
                    "IDVAR": idvar,
                    "IDVARVAL": idvarval,
                    "RELTYPE": reltype,
                    "RELID": relid,
                }
            )

    fa = built.get("FA")
    ae = built.get("AE")
    if ae is not None and fa is not None and "ADVERSE EVENT GRADE COURSE" in fa.values("FACAT"):
        relate("AEGRADE", None, ("AE", "AESPID", None, "ONE"), ("FA", "FASPID", None, "MANY"))
    groups = set()
    if fa is not None:  # FA read a column at a time (its rows are held by column: exports.datasets)
        groups = {key for key in zip(fa.values("USUBJID"), fa.values("FAGRPID"), strict=True) if key[1]}
    episodes: dict[str, dict[int, int]] = {"CRS": {}, "ICANS": {}}
    for kind, form in (("CRS", "crs_episodes"), ("ICANS", "icans_episodes")):
        episodes[kind] = {e["id"]: e["number"] for e in data.forms.get(form, [])}
    sources = {str(a["id"]): a for a in data.forms.get("adverse_events", [])}
    for row in ae.rows if ae is not None else []:
        source = sources.get(row.get("AESPID") or "")
        if source is None:
            continue
        for kind, key in (("CRS", "crs_episode_id"), ("ICANS", "icans_episode_id")):
            number = episodes[kind].get(source[key]) if source.get(key) else None
            group = f"{kind}-{number}"
            if number is None or (row["USUBJID"], group) not in groups:
                continue
            relate(
                f"{kind}{number}",
                row["USUBJID"],
                ("AE", "AESEQ", str(row["AESEQ"]), None),
                ("FA", "FAGRPID", group, None),
            )
    rs = built.get("RS")
    marrow_groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name in ("CP", "GF"):
        found = built.get(name)
        for row in found.rows if found is not None else []:
            key = (row["USUBJID"], row[f"{name}GRPID"])
            if name not in marrow_groups[key]:
                marrow_groups[key].append(name)
    for row in rs.rows if rs is not None else []:
        if row.get("RSTESTCD") != "OVRLRESP" or not row.get("RSSPID"):
            continue
        group = f"MA{row['RSSPID']}"
        domains = marrow_groups.get((row["USUBJID"], group))
        if not domains:
            continue
        relate(
            group,
            row["USUBJID"],
            ("RS", "RSSEQ", str(row["RSSEQ"]), None),
            *((name, f"{name}GRPID", group, None) for name in domains),
        )
    order = {"AE": 0, "FA": 1, "RS": 2, "CP": 3, "GF": 4}
    rows.sort(key=lambda r: (r["USUBJID"] or "", r["RELID"], order.get(r["RDOMAIN"], 9)))
    dataset = make_dataset(
        "RELREC",
        standard=SDTMIG,
        ig_dataset="RELREC",
        variables=["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "RELTYPE", "RELID"],
        rows=rows,
        keys=("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "RELID"),
        notes=[
            "RELID AEGRADE (dataset level, RELTYPE ONE/MANY): AE.AESPID = FA.FASPID relates each AE to its grade "
            "course in FA.",
            "RELID CRSn / ICANSn: the CRS or ICANS AE of the subject's episode n (AESEQ) and the FA records of the "
            "assessments in that episode (FAGRPID CRS-n / ICANS-n).",
            "RELID MA + an assessment id: the marrow assessment's overall response in RS (RSSEQ) and its MRD "
            "records in CP (flow cytometry) and GF (molecular), by CPGRPID / GFGRPID.",
        ],
    )
    return [dataset]
