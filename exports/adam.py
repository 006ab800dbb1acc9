"""RS (SDTMIG 3.4) and the ADaM datasets ADSL, ADAE, ADTTE and ADRS (ADaMIG 1.3) — CLINICAL_SPEC
§5.3, §6, §9.

Response and time-to-event facts come from the endpoint engine, never from a second derivation:
the export reads the engine's inputs (`endpoints.services.load_cut`, same snapshot and cut-off,
limited to the export's subjects) and `endpoints.courses.subject_endpoints` gives each infused
subject's day-28 response, best response within 1 year and OS/EFS/RFS/DOR records; populations
are `endpoints.tables.population`'s and DLT evaluability `endpoints.tables_toxicity`'s. So the
run's tables reproduce from ADTTE and ADRS alone (tests/exports/test_adam.py).

Day conventions (each dataset says which it uses, §9): ADTTE.AVAL = later date − earlier date in
days (§5.3, no +1), the tables' Day-0 clock; ADaM *DY variables (ASTDY, ADY) follow ADaM's
relative day (no day 0: day 1 = TRTSDT), the Day-0 clock is in ASTDY0 / ADY0.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from clinical import dlt as dlt_rules
from clinical import response as rules
from endpoints.courses import RANK_CODES, post_infusion_assessments, response_code
from exports.datasets import BuildContext, ColumnRows, Dataset, make_dataset, permuted, register, sequence_numbers
from exports.metadata import ADAMIG, ADSL, BDS, OCCDS, OCCDS_CM, SDTMIG
from exports.sdtm import (
    SCALE_NAMES,
    ExportData,
    Subj,
    _arm_null_reason,
    _epochs,
    _sequence,
    day0,
    sdtm_day,
    subjects,
)

ADAM_DAYS = (
    "ADaM relative days (ASTDY, AENDY, ADY): no day 0, day 1 = TRTSDT (the first CAR-T infusion). "
    "The clinical Day-0 clock (infusion day = day 0) is in ASTDY0 / ADY0."
)
TTE_DAYS = (
    "AVAL: days from STARTDT to ADT = later date - earlier date (CLINICAL_SPEC 5.3, no +1), the Day-0 clock "
    "of the endpoint tables; months = AVAL / 30.4375. CNSR 0 = event, 1 = censored."
)
RESPONSE_TEXT = {
    "cr_mrd_negative": "CR MRD NEGATIVE",
    "cr_mrd_positive_or_unknown": "CR MRD POSITIVE OR UNKNOWN",
    "cri_mrd_negative": "CRI MRD NEGATIVE",
    "cri_mrd_positive_or_unknown": "CRI MRD POSITIVE OR UNKNOWN",
    "pr": "PR",
    "nr": "NR",
    "pd": "PD",
    "not_assessed": "NOT ASSESSED",
}
#: the per-assessment overall response as RS/ADRS give it (RSSTRESC / AVALC)
CATEGORY_TEXT = {"CR": "CR", "CRi": "CRI", "PR": "PR", "NR": "NR", "PD": "PD", "relapse": "RELAPSE"}
MRD_TEXT = {"negative": "NEGATIVE", "positive": "POSITIVE", "not_evaluable": "NOT EVALUABLE"}


def _cut(data: ExportData) -> tuple[Any, Any, dict[int, Any]]:
    """The engine's cut, population and per-subject endpoints (computed once per export)."""
    from endpoints.courses import subject_endpoints
    from endpoints.tables import population

    if data.endpoints is None:
        cut = data.cut()
        pop = population(cut)
        data.endpoints = (cut, pop, subject_endpoints(cut, pop))
    return data.endpoints  # type: ignore[no-any-return]


def _ident(data: ExportData, subj: Subj) -> dict[str, Any]:
    return {"STUDYID": data.study_code, "USUBJID": subj.usubjid, "SUBJID": subj.subjid, "SITEID": subj.siteid}


def _windows(cut: Any) -> tuple[int, int]:
    from endpoints.courses import DAY28_WINDOW_DEFAULT, DAY365_WINDOW_DEFAULT, ONE_YEAR_DAY, visit_window_after

    return (
        28 + visit_window_after(cut, 28, DAY28_WINDOW_DEFAULT),
        ONE_YEAR_DAY + visit_window_after(cut, ONE_YEAR_DAY, DAY365_WINDOW_DEFAULT),
    )


# --- RS -------------------------------------------------------------------------------------------


#: RSCAT of every RS record: the response criteria the protocol defines (CLINICAL_SPEC §5.1, §5.3)
RS_CATEGORY = "PROTOCOL DEFINED RESPONSE CRITERIA"
#: the §5.3 category of a best response → its response alone (the MRD status is in CP / GF)
BEST_RESPONSE_TEXT = {
    "cr_mrd_negative": "CR",
    "cr_mrd_positive_or_unknown": "CR",
    "cri_mrd_negative": "CRI",
    "cri_mrd_positive_or_unknown": "CRI",
    "pr": "PR",
    "nr": "NR",
    "pd": "PD",
    "not_assessed": "NOT ASSESSED",
}


def marrow_link(assessment_id: int) -> str:
    """The identifier relating a marrow assessment's RS record to its MRD records in CP and GF
    (CPGRPID / GFGRPID and RELREC.RELID)."""
    return f"MA{assessment_id}"


@register("RS", standard=SDTMIG, order=90)
def build_rs(ctx: BuildContext) -> list[Dataset]:
    """Per marrow assessment after infusion: the overall response (RSTESTCD OVRLRESP; the
    adjudicated one when present, RSEVAL then ADJUDICATION COMMITTEE) at its visit (VISITNUM: the
    scheduled visit, else the one held that day, else unscheduled); then two derived records per
    infused subject (RSDRVFL = Y): the day-28 response and the best overall response within 1 year
    (RSTESTCD BESTRESP, the interval in RSEVINTX). MRD is not a response test (issue 28): each MRD
    test is in CP (flow cytometry) or GF (molecular), related to the assessment's OVRLRESP record by
    RELREC; the best response is the response alone (CR, CRI, ...), the assessment it comes from
    being RSDTC."""
    data: ExportData = ctx.data
    subjs = subjects(data)
    cut, _pop, found = _cut(data)
    d28_to, year_to = _windows(cut)
    forms = {row["id"]: row for row in data.forms.get("marrow_assessments", [])}
    rows: list[dict[str, Any]] = []
    for ma in cut.marrow_assessments:
        pk = ma["subject_id"]
        response = ma["adjudicated_response"] or ma["response"]
        if pk not in subjs or ma["assessment_date"] > data.cutoff or not response:
            continue
        subj = subjs[pk]
        form = forms.get(ma["id"], {"visit_id": None, "subject_id": pk})
        visitnum, visit = data.visit_of(form, ma["assessment_date"], same_day=True)
        text = CATEGORY_TEXT[response]
        rows.append(
            {
                "STUDYID": data.study_code,
                "DOMAIN": "RS",
                "USUBJID": subj.usubjid,
                "RSSPID": str(ma["id"]),
                "RSTESTCD": "OVRLRESP",
                "RSTEST": "Overall Response",
                "RSCAT": RS_CATEGORY,
                "RSORRES": text,
                "RSSTRESC": text,
                "RSBLFL": "Y" if ma["is_baseline"] else None,
                "RSEVAL": "ADJUDICATION COMMITTEE" if ma["adjudicated_response"] else "INVESTIGATOR",
                "RSACPTFL": "Y",
                "VISITNUM": visitnum,
                "VISIT": visit,
                "RSDTC": ma["assessment_date"].isoformat(),
                "RSDY": sdtm_day(ma["assessment_date"], subj.ref),
                "_sort": (ma["assessment_date"], ma["id"]),
                "_link": marrow_link(ma["id"]),
            }
        )
    for pk, ends in found.items():
        subj = subjs.get(pk)
        if subj is None:
            continue
        for best, interval, order in (
            (ends.day28, f"DAY 0 TO DAY {d28_to} (DAY-28 RESPONSE)", 2),
            (ends.best, f"DAY 0 TO DAY {year_to} (BEST WITHIN 1 YEAR)", 3),
        ):
            text = BEST_RESPONSE_TEXT[response_code(best)]
            on = best.best.assessed_on if best.best is not None else None
            rows.append(
                {
                    "STUDYID": data.study_code,
                    "DOMAIN": "RS",
                    "USUBJID": subj.usubjid,
                    "RSTESTCD": "BESTRESP",
                    "RSTEST": "Best Overall Response",
                    "RSCAT": RS_CATEGORY,
                    "RSORRES": text,
                    "RSSTRESC": text,
                    "RSDRVFL": "Y",
                    "RSEVAL": "SPONSOR",
                    "RSACPTFL": "Y",
                    "RSDTC": on.isoformat() if on else None,
                    "RSDY": sdtm_day(on, subj.ref),
                    "RSEVINTX": interval,
                    "_sort": (date.max, order),
                }
            )
    _sequence(rows, "RS", "_sort")
    # EPOCH from SE (FB2201): the assessment's date; derived records (RSDRVFL) at their chosen assessment
    _epochs(data, rows, lambda r: date.fromisoformat(r["RSDTC"]) if r.get("RSDTC") else None)
    dataset = make_dataset(
        "RS",
        standard=SDTMIG,
        ig_dataset="RS",
        variables=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "RSSEQ",
            "RSSPID",
            "RSTESTCD",
            "RSTEST",
            "RSCAT",
            "RSORRES",
            "RSSTRESC",
            "RSBLFL",
            "RSDRVFL",
            "RSEVAL",
            "RSACPTFL",
            "VISITNUM",
            "VISIT",
            "EPOCH",
            "RSDTC",
            "RSDY",
            "RSEVINTX",
        ],
        rows=rows,
        keys=("USUBJID", "RSSEQ"),
        notes=[
            "RSCAT: the protocol's response criteria for T-cell ALL/LBL after CAR-T (marrow and extramedullary "
            "compartments, the worse of the two). RSTESTCD OVRLRESP: the overall response per assessment, the "
            "adjudicated one when present (RSEVAL = ADJUDICATION COMMITTEE).",
            "MRD is not a response test: each MRD test of an assessment is in CP (flow cytometry) or GF "
            "(molecular), related to the assessment's OVRLRESP record in RELREC (RELID = MA + the assessment's "
            "RSSPID, CPGRPID / GFGRPID the same).",
            "RSTESTCD BESTRESP, RSDRVFL = Y, RSEVAL = SPONSOR, VISITNUM null: derived by the endpoint engine "
            "(endpoints.courses.subject_endpoints), one record for the day-28 response and one for the best "
            "response within 1 year (RSEVINTX gives the window). RSSTRESC is the response alone (CR, CRI, PR, NR, "
            "PD, or NOT ASSESSED when no assessment is in the window); RSDTC is the date of the assessment "
            "chosen, whose MRD status (used to rank a CR or CRi) is in CP / GF.",
            "VISITNUM: the assessment's scheduled visit, else the scheduled visit held the same day (a marrow "
            "assessment is entered without choosing its visit), else an unscheduled visit as in LB/VS (SV).",
            "RSDY: SDTM study day (no day 0; day 1 = RFSTDTC, the first CAR-T infusion).",
        ],
    )
    return [dataset]


# --- ADSL -----------------------------------------------------------------------------------------

ADSL_LABELS = {
    "DLTEVLFL": "DLT-Evaluable Population Flag",
    "LDSDT": "Lymphodepletion Start Date",
    "DIAGBL": "Baseline Diagnosis",
    "DISSTBL": "Relapsed or Refractory at Baseline",
    "CNSBL": "Baseline CNS Status",
    "PRLINES": "Number of Prior Lines of Therapy",
    "PHSCTFL": "Prior Allogeneic HSCT Flag",
    "BMBLBL": "Baseline Marrow Blasts (%)",
    "CD7BL": "Baseline Blast CD7 Expression (%)",
    "PRODSRC": "CAR-T Product Source (Donor Type)",
    "PRODSTAT": "CAR-T Product Fresh or Thawed",
}
DIAGNOSES = {"t_all": "T-ALL", "t_lbl": "T-LBL", "etp_all": "ETP-ALL", "other": "OTHER"}
ADSL_VARIABLES = [
    "STUDYID",
    "USUBJID",
    "SUBJID",
    "SITEID",
    "AGE",
    "AGEU",
    "SEX",
    "RACE",
    "ENRLFL",
    "SAFFL",
    "DLTEVLFL",
    "ARM",
    "ACTARM",
    "TRT01P",
    "TRT01A",
    "DOSE01P",
    "DOSE01A",
    "DOSE01U",
    "RFICDT",
    "ENRLDT",
    "LDSDT",
    "TRTSDT",
    "TRTEDT",
    "LSTALVDT",
    "DTHDT",
    "DTHCAUS",
    "EOSSTT",
    "DIAGBL",
    "DISSTBL",
    "CNSBL",
    "PRLINES",
    "PHSCTFL",
    "BMBLBL",
    "CD7BL",
    "PRODSRC",
    "PRODSTAT",
]
ADSL_DATES = dict.fromkeys(
    ("RFICDT", "ENRLDT", "LDSDT", "TRTSDT", "TRTEDT", "LSTALVDT", "DTHDT"), "Date"
) | dict.fromkeys(("PRLINES", "BMBLBL", "CD7BL"), "Num")
END_OF_STUDY = {
    "completed": "COMPLETED",
    "withdrawn": "DISCONTINUED",
    "died": "DISCONTINUED",
    "lost": "DISCONTINUED",
    "screen_failed": "DISCONTINUED",
    "not_infused": "DISCONTINUED",
}


def _flag(value: bool) -> str:
    return "Y" if value else "N"


def _to_date(text: str | None) -> date | None:
    if not text or len(text) < 10:
        return None
    return date.fromisoformat(text[:10])


def _dose(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@register("ADSL", standard=ADAMIG, requires=("DM",), order=110)
def build_adsl(ctx: BuildContext) -> list[Dataset]:
    """One record per subject of DM. Populations (endpoints.tables' at the cut-off): ENRLFL
    enrolled, SAFFL infused (the safety population), DLTEVLFL DLT-evaluable (CLINICAL_SPEC §3.1,
    endpoints.tables_toxicity). TRT01P the assigned dose level, TRT01A the dose level of the
    infused subjects, DOSE01P/DOSE01A the level's target and the infused CAR+ cells/kg (×10⁶);
    TRTSDT the first infusion, TRTEDT the last; baseline disease from the disease history and the
    baseline marrow; donor type and fresh/thawed from the first infusion's product."""
    from endpoints.tables_toxicity import dlt_status

    data: ExportData = ctx.data
    subjs = subjects(data)
    cut, pop, found = _cut(data)
    dlt = dlt_status(cut, pop)
    dm = {row["USUBJID"]: row for row in ctx.built["DM"].rows}
    infusions = data.by_subject("infusions")
    lds = data.by_subject("lymphodepletions")
    history = data.by_subject("disease_history")
    deaths = data.by_subject("deaths")
    baseline: dict[int, dict[str, Any]] = {}
    for ma in cut.marrow_assessments:
        if ma["is_baseline"] and ma["assessment_date"] <= data.cutoff:
            key = (ma["assessment_date"], ma["id"])
            prior = baseline.get(ma["subject_id"])
            if prior is None or key > (prior["assessment_date"], prior["id"]):
                baseline[ma["subject_id"]] = ma
    targets = {level.code: level.target_cells_per_kg for level in cut.choices.dose_levels}
    rows = []
    for pk, subj in subjs.items():
        row = dm.get(subj.usubjid, {})
        level = subj.row["dose_level"] or ""
        infs = sorted(infusions.get(pk, []), key=lambda r: (r["infusion_start"], r["id"]))
        first = infs[0] if infs else None
        disease = min(history.get(pk, []), key=lambda r: r["id"], default=None)
        death = min(deaths.get(pk, []), key=lambda r: r["death_date"], default=None)
        status = pop.status.get(pk, {}).get("status", "screening")
        ends = found.get(pk)
        evaluable = dlt.get(pk)
        target = targets.get(level)
        unassigned = _arm_null_reason(subj.row["status"], level)
        rows.append(
            _ident(data, subj)
            | {
                "AGE": row.get("AGE"),
                "AGEU": row.get("AGEU"),
                "SEX": row.get("SEX"),
                "RACE": "NOT REPORTED",
                "ENRLFL": _flag(pk in pop.enrolled),
                "SAFFL": _flag(pk in pop.infused),
                "DLTEVLFL": _flag(evaluable is not None and evaluable.status is dlt_rules.Evaluability.EVALUABLE),
                "ARM": row.get("ARM") or None,  # DM.ARM exactly: null with DM.ARMNRS (rule ADSL-ARM)
                "ACTARM": row.get("ACTARM"),
                "TRT01P": level or unassigned,
                "TRT01A": level if pk in pop.infused and level else None,
                "DOSE01P": _dose(Decimal(str(target)) / 1_000_000) if target is not None and level else None,
                "DOSE01A": _dose(first["car_positive_per_kg_e6"]) if first and pk in pop.infused else None,
                "DOSE01U": "10^6 CAR+ CELLS/KG" if level else None,
                "RFICDT": _to_date(row.get("RFICDTC")),
                "ENRLDT": subj.row["enrolled_on"] if subj.row["enrolled_on"] and pk in pop.enrolled else None,
                "LDSDT": min((ld["start_date"] for ld in lds.get(pk, [])), default=None),
                "TRTSDT": pop.day0.get(pk),
                "TRTEDT": max((r["infusion_date"] for r in infs), default=None) if pk in pop.infused else None,
                "LSTALVDT": ends.course.last_known_alive if ends is not None and death is None else None,
                "DTHDT": death["death_date"] if death else None,
                "DTHCAUS": (death["primary_cause"] or "").replace("_", " ").upper() or None if death else None,
                "EOSSTT": END_OF_STUDY.get(status, "ONGOING"),
                "DIAGBL": DIAGNOSES.get(disease["diagnosis"]) if disease else None,
                "DISSTBL": (disease["disease_status"] or "").upper() or None if disease else None,
                "CNSBL": (disease["cns_status"] or "").upper() or None if disease else None,
                "PRLINES": disease["prior_lines"] if disease else None,
                "PHSCTFL": _flag(disease["prior_hsct"]) if disease else None,
                "BMBLBL": _dose(baseline[pk]["marrow_blasts_pct"]) if pk in baseline else None,
                "CD7BL": _dose(disease["blast_cd7_pct"]) if disease else None,
                "PRODSRC": (first["source"] or "").upper() or None if first else None,
                "PRODSTAT": (first["state"] or "").upper() or None if first else None,
            }
        )
    rows.sort(key=lambda r: r["USUBJID"])
    return [
        make_dataset(
            "ADSL",
            standard=ADAMIG,
            ig_dataset=ADSL,
            label="Subject-Level Analysis Dataset",
            variables=ADSL_VARIABLES,
            rows=rows,
            keys=("USUBJID",),
            types=ADSL_DATES,
            labels=ADSL_LABELS,
            notes=[
                "Populations at the cut-off as the endpoint tables count them: ENRLFL enrolled, SAFFL infused "
                "(safety population), DLTEVLFL DLT-evaluable (CLINICAL_SPEC 3.1).",
                "TRT01P: the assigned dose level; TRT01A: the same level for infused subjects; DOSE01P the level's "
                "target, DOSE01A the first infusion's CAR+ cells/kg, both in 10^6 CAR+ cells/kg.",
                "TRTSDT: first CAR-T infusion (day 0); LDSDT: first lymphodepletion dose; LSTALVDT as the "
                "engine derives it (CLINICAL_SPEC 6), empty after a death.",
                "ARM is DM.ARM exactly (ADaMIG 1.3: source DM.ARM), so it is null for a subject without a dose "
                "level, as in DM (SDTMIG 3.4: DM.ARMNRS says why); TRT01P of such a subject holds that reason "
                "(SCREEN FAILURE, NOT ASSIGNED), ADaMIG 1.3 requiring a planned treatment.",
                "RACE: not collected by the case report form; NOT REPORTED (ADaMIG 1.3 requires the variable).",
                "Baseline disease from the disease history form and the last marrow assessment before "
                "lymphodepletion (BMBLBL); PRODSRC (AUTOLOGOUS / DONOR: donor type) and PRODSTAT (FRESH / "
                "THAWED) from the first infused product, as SUPPEX gives them.",
                "*DT variables are SAS dates (DATE9.).",
            ],
        )
    ]


# --- ADAE -----------------------------------------------------------------------------------------

ADAE_LABELS = {
    "ASTDY0": "Analysis Start Day (Day-0 Clock)",
    "TOXGRSCL": "Toxicity Grading Scale",
    "TRTEMFL": "Treatment Emergent Analysis Flag",
    "AE90FL": "TEAE Onset Day 0-90 Flag",
    "LDFL": "Lymphodepletion Period Flag",
    "AOCCIFL": "1st Max Grade Occurrence Flag",
    "AOCCSIFL": "1st Max Grade Occur Within SOC Flag",
    "AOCCPIFL": "1st Max Grade Occur Within PT Flag",
}
AE_COPIED = [
    "AESEQ",
    "AETERM",
    "AELLT",
    "AELLTCD",
    "AEDECOD",
    "AECAT",
    "AEBODSYS",
    "AESOC",
    "AESER",
    "AESCONG",
    "AESDISAB",
    "AESDTH",
    "AESHOSP",
    "AESLIFE",
    "AEREL",
    "AEACN",
    "AEOUT",
    "AETOXGR",
]


@register("ADAE", standard=ADAMIG, requires=("AE", "ADSL"), order=120)
def build_adae(ctx: BuildContext) -> list[Dataset]:
    """One record per AE of SDTM AE (its variables copied), with the analysis dates and grade and
    the flags: TRTEMFL (onset after the first infusion: the system's collection period
    "after infusion"), AE90FL (treatment-emergent with onset day 0–90, endpoint 1), LDFL (onset
    from the first lymphodepletion dose to the day before the first infusion, §3), and the
    first-maximum-grade flags among treatment-emergent AEs per subject, per subject and SOC, per
    subject and term (AOCCIFL / AOCCSIFL / AOCCPIFL: highest ATOXGRN, then earliest ASTDT, then
    AESEQ). ATOXGR is the grade on the scale in TOXGRSCL (ASTCT 2019 for CRS and ICANS)."""
    data: ExportData = ctx.data
    adsl = {row["USUBJID"]: row for row in ctx.built["ADSL"].rows}
    raw = {str(ae["id"]): ae for ae in data.forms["adverse_events"]}
    rows = []
    for ae_row in ctx.built["AE"].rows:
        ae = raw[ae_row["AESPID"]]
        sl = adsl[ae_row["USUBJID"]]
        start = _to_date(ae_row["AESTDTC"])
        end = _to_date(ae_row["AEENDTC"])
        ref = sl["TRTSDT"]
        emergent = ae["collection_period"] == "after_infusion"
        onset0 = day0(start, ref)
        row = {
            "STUDYID": ae_row["STUDYID"],
            "USUBJID": ae_row["USUBJID"],
            "SUBJID": sl["SUBJID"],
            "SITEID": sl["SITEID"],
            "AGE": sl["AGE"],
            "SEX": sl["SEX"],
            "RACE": sl["RACE"],
            "TRTA": sl["TRT01A"],
            "SAFFL": sl["SAFFL"],
            "TRTSDT": ref,
            "TRTEDT": sl["TRTEDT"],
            "ASTDT": start,
            "AENDT": end,
            "ASTDY": sdtm_day(start, ref),
            "AENDY": sdtm_day(end, ref),
            "ASTDY0": onset0,
            **{v: ae_row[v] for v in AE_COPIED},
            "ATOXGR": ae_row["AETOXGR"],
            "ATOXGRN": float(ae_row["AETOXGR"]),  # the grade by the cut-off (issue 30)
            "TOXGRSCL": SCALE_NAMES.get(ae["grade_scale"], ae["grade_scale"]),
            "TRTEMFL": "Y" if emergent else None,
            "AE90FL": "Y" if emergent and onset0 is not None and 0 <= onset0 <= 90 else None,
            "LDFL": "Y" if ae["collection_period"] == "during_ld" else None,
        }
        rows.append(row)
    rows.sort(key=lambda r: (r["USUBJID"], r["AESEQ"]))
    for flag, key in (
        ("AOCCIFL", lambda r: (r["USUBJID"],)),
        ("AOCCSIFL", lambda r: (r["USUBJID"], r["AEBODSYS"])),
        ("AOCCPIFL", lambda r: (r["USUBJID"], r["AEBODSYS"], r["AEDECOD"])),
    ):
        first: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            if row["TRTEMFL"] != "Y":
                continue
            rank = (-row["ATOXGRN"], row["ASTDT"] or date.max, row["AESEQ"])
            chosen = first.get(key(row))
            if chosen is None or rank < (-chosen["ATOXGRN"], chosen["ASTDT"] or date.max, chosen["AESEQ"]):
                first[key(row)] = row
        for row in first.values():
            row[flag] = "Y"
    variables = [
        "STUDYID",
        "USUBJID",
        "SUBJID",
        "SITEID",
        "AGE",
        "SEX",
        "RACE",
        "TRTA",
        "SAFFL",
        "TRTSDT",
        "TRTEDT",
        "ASTDT",
        "AENDT",
        "ASTDY",
        "AENDY",
        "ASTDY0",
        *AE_COPIED,
        "ATOXGR",
        "ATOXGRN",
        "TOXGRSCL",
        "TRTEMFL",
        "AE90FL",
        "LDFL",
        "AOCCIFL",
        "AOCCSIFL",
        "AOCCPIFL",
    ]
    return [
        make_dataset(
            "ADAE",
            standard=ADAMIG,
            ig_dataset=OCCDS,
            label="Adverse Events Analysis Dataset",
            variables=variables,
            rows=rows,
            keys=("USUBJID", "AESEQ"),
            types={"TRTSDT": "Date", "TRTEDT": "Date", "ASTDT": "Date", "AENDT": "Date", "ASTDY0": "Num"},
            labels=ADAE_LABELS,
            notes=[
                "Structure: OCCDS, checked against the identifiers, BDS timing/treatment/toxicity variables and "
                "SDTMIG AE variables (ADaMIG 1.3's variable table ships no OCCDS table).",
                "ATOXGR/ATOXGRN: the grade number; TOXGRSCL names the scale: CTCAE v5.0, or ASTCT 2019 for CRS "
                "and ICANS (AECAT = CRS / ICANS).",
                "TRTEMFL: onset on or after the first infusion; AE90FL: treatment-emergent, onset Day-0 clock day "
                "0-90 (endpoint 1); LDFL: onset from the first lymphodepletion dose to the day before the "
                "first infusion (CLINICAL_SPEC 3).",
                "AOCCIFL/AOCCSIFL/AOCCPIFL: among treatment-emergent AEs, the first record of the subject's "
                "maximum grade overall / within SOC (AEBODSYS) / within term (AEDECOD).",
                ADAM_DAYS,
            ],
        )
    ]


# --- ADTTE ----------------------------------------------------------------------------------------

TTE_PARAMS = {
    "OS": ("Overall Survival (days)", 1),
    "EFS": ("Event-Free Survival (days)", 2),
    "RFS": ("Relapse-Free Survival (days)", 3),
    "DOR": ("Duration of Response (days)", 4),
}


def _describe(
    endpoint: str, record: Any, course: rules.SubjectCourse, cutoff: date, hsct_censored: bool
) -> dict[str, Any]:
    """EVNTDESC / CNSDTDSC of one record, read off the course's dates."""
    if record.event:
        if endpoint == "EFS" and record.end == course.infusion_date and record.end not in course.relapse_dates:
            text = "DEATH" if record.end == course.death_date else "NO CR OR CRI AT DAY 28"
        elif endpoint in ("EFS", "RFS", "DOR") and record.end in course.relapse_dates:
            text = "RELAPSE OR PROGRESSION"
        else:
            text = "DEATH"
        return {"CNSR": 0, "EVNTDESC": text, "CNSDTDSC": None}
    if hsct_censored and record.end == course.hsct_date:
        why = "CONSOLIDATIVE HSCT"
    elif course.death_date is not None and record.end == course.death_date:
        why = "DEATH WITHOUT RELAPSE"
    elif record.end == cutoff and course.last_known_alive >= cutoff:
        why = "DATA CUT-OFF"
    else:
        why = "LAST DATE KNOWN ALIVE"
    return {"CNSR": 1, "EVNTDESC": "CENSORED", "CNSDTDSC": why}


#: time to relapse with non-relapse death competing (CLINICAL_SPEC §5.3, §8): primary and HSCT sensitivity
CIR_PARAMS = {
    "TTREL": ("Time to Relapse, Non-Relapse Death Competing (days)", 9),
    "TTRELHS": ("Time to Relapse, Non-Relapse Death Competing {sensitivity}", 10),
}
#: EVNTTYPN of a TTREL record: the cause of clinical.survival.RelapseOutcome
CIR_EVENT_TEXT = {1: "RELAPSE OR PROGRESSION", 2: "DEATH WITHOUT RELAPSE (COMPETING EVENT)"}
CIR_NOTE = (
    "TTREL/TTRELHS: time from infusion to the first of relapse or death without relapse (5.3). A competing "
    "death is an event, not a censoring: CNSR = 0 for both kinds of first event and 1 for censoring, and "
    "EVNTTYPN says which (0 censored, 1 relapse, 2 death without relapse, as R's multi-state Surv status). "
    "The Aalen-Johansen estimate on AVAL and EVNTTYPN reproduces the run's cumulative incidence of relapse; "
    "Kaplan-Meier on CNSR alone estimates relapse-free survival from infusion, not the incidence of relapse."
)


def _competing_record(obs: Any, origin: date, cutoff: date, censor_why: str) -> dict[str, Any]:
    """One TTREL record from the engine's competing-risk observation (days from infusion)."""
    days = int(obs.time)
    cause = int(obs.cause)
    return {
        "STARTDT": origin,
        "ADT": origin + timedelta(days=days),
        "AVAL": float(days),
        "CNSR": 0 if cause else 1,
        "EVNTTYPN": float(cause),
        "EVNTDESC": CIR_EVENT_TEXT.get(cause, "CENSORED"),
        "CNSDTDSC": None if cause else censor_why,
    }


@register("ADTTE", standard=ADAMIG, requires=("ADSL",), order=130)
def build_adtte(ctx: BuildContext) -> list[Dataset]:
    """OS, EFS, RFS and DOR of every infused subject exactly as the endpoint engine derives them
    (`endpoints.courses.subject_endpoints`, the primary analysis: HSCT not censored unless the
    study's settings say so): STARTDT the origin (infusion, or first CR/CRi for RFS and DOR), ADT
    the event or censoring date, AVAL = ADT − STARTDT in days (§5.3), CNSR 0 = event."""
    data: ExportData = ctx.data
    subjs = subjects(data)
    adsl = {row["USUBJID"]: row for row in ctx.built["ADSL"].rows}
    cut, _pop, found = _cut(data)
    hsct_censored = cut.choices.hsct_censored_in_primary
    # the §5.3 sensitivity analysis: HSCT handled the other way round from the primary analysis
    sensitivity = "(days, not censored at HSCT)" if hsct_censored else "(days, censored at HSCT)"
    rows = []
    for pk, ends in found.items():
        subj = subjs.get(pk)
        if subj is None:
            continue
        sl = adsl[subj.usubjid]
        for code, (param, number), records, censor_hsct in [
            *((c, p, ends.records, hsct_censored) for c, p in TTE_PARAMS.items()),
            *(
                (f"{c}HS", (f"{p[0][:-7]} {sensitivity}", p[1] + 4), ends.sensitivity, not hsct_censored)
                for c, p in TTE_PARAMS.items()
            ),
        ]:
            record = getattr(records, code.removesuffix("HS").lower())
            if record is None:
                continue
            rows.append(
                _ident(data, subj)
                | {
                    "AGE": sl["AGE"],
                    "SEX": sl["SEX"],
                    "RACE": sl["RACE"],
                    "TRTSDT": sl["TRTSDT"],
                    "TRTEDT": sl["TRTEDT"],
                    "TRTP": sl["TRT01P"],
                    "TRTA": sl["TRT01A"],
                    "SAFFL": sl["SAFFL"],
                    "PARAMCD": code,
                    "PARAM": param,
                    "PARAMN": float(number),
                    "STARTDT": record.origin,
                    "ADT": record.end,
                    "AVAL": float(record.days),
                    **_describe(code.removesuffix("HS"), record, ends.course, cut.cutoff, censor_hsct),
                }
            )
        for code, (param, number) in CIR_PARAMS.items():
            sensitive = code.endswith("HS")
            obs = (ends.sensitivity if sensitive else ends.records).competing
            os_record = (ends.sensitivity if sensitive else ends.records).os
            why = _describe("OS", os_record, ends.course, cut.cutoff, not hsct_censored if sensitive else hsct_censored)
            rows.append(
                _ident(data, subj)
                | {
                    "AGE": sl["AGE"],
                    "SEX": sl["SEX"],
                    "RACE": sl["RACE"],
                    "TRTSDT": sl["TRTSDT"],
                    "TRTEDT": sl["TRTEDT"],
                    "TRTP": sl["TRT01P"],
                    "TRTA": sl["TRT01A"],
                    "SAFFL": sl["SAFFL"],
                    "PARAMCD": code,
                    "PARAM": param.format(sensitivity=sensitivity),
                    "PARAMN": float(number),
                    **_competing_record(obs, os_record.origin, cut.cutoff, why["CNSDTDSC"] or "LAST DATE KNOWN ALIVE"),
                }
            )
    rows.sort(key=lambda r: (r["USUBJID"], r["PARAMN"]))
    for row in rows:
        row["CNSR"] = float(row["CNSR"])
    _number(rows)
    return [
        make_dataset(
            "ADTTE",
            standard=ADAMIG,
            ig_dataset=BDS,
            label="Time-to-Event Analysis Dataset",
            variables=[
                "STUDYID",
                "USUBJID",
                "SUBJID",
                "SITEID",
                "ASEQ",
                "AGE",
                "SEX",
                "RACE",
                "TRTSDT",
                "TRTEDT",
                "TRTP",
                "TRTA",
                "SAFFL",
                "PARAMCD",
                "PARAM",
                "PARAMN",
                "AVAL",
                "STARTDT",
                "ADT",
                "CNSR",
                "EVNTTYPN",
                "EVNTDESC",
                "CNSDTDSC",
            ],
            rows=rows,
            keys=("USUBJID", "PARAMCD"),
            types={"STARTDT": "Date", "ADT": "Date", "TRTSDT": "Date", "TRTEDT": "Date", "EVNTTYPN": "Num"},
            labels={"EVNTTYPN": "Event Type (N)"},
            notes=[
                "Structure: BDS, subclass TIME-TO-EVENT. Derived by endpoints.courses.subject_endpoints, the "
                "function the endpoint tables use: Kaplan-Meier (clinical.survival) on AVAL and CNSR reproduces "
                "the run's tables exactly.",
                TTE_DAYS,
                "OS: infusion to death (CLINICAL_SPEC 6); EFS: infusion to no CR/CRi at day 28 (event at day 0), "
                "relapse or progression, or death; RFS: first CR/CRi to relapse or death; DOR: first CR/CRi to "
                "relapse (5.3). Censored at min(last date known alive, cut-off).",
                "Consolidative HSCT is not a censoring in the primary analysis (5.3) unless the study's settings "
                "say otherwise (then CNSDTDSC = CONSOLIDATIVE HSCT). OSHS, EFSHS, RFSHS, DORHS: the 5.3 "
                "sensitivity analysis, HSCT handled the other way round (by default censored at the first HSCT).",
                CIR_NOTE,
            ],
        )
    ]


def _number(rows: list[dict[str, Any]]) -> None:
    counters: dict[str, int] = defaultdict(int)
    for row in rows:
        counters[row["USUBJID"]] += 1
        row["ASEQ"] = float(counters[row["USUBJID"]])


# --- ADRS -----------------------------------------------------------------------------------------

ADRS_PARAMS = {
    "OVRLRESP": ("Overall Response by Assessment", 1),
    "MRDFLOW": ("Flow MRD Status by Assessment", 2),
    "D28RESP": ("Day-28 Response", 3),
    "BESTRESP": ("Best Overall Response Within 1 Year", 4),
}
ADRS_LABELS = {"ADY0": "Analysis Day (Day-0 Clock)"}


@register("ADRS", standard=ADAMIG, requires=("ADSL",), order=140)
def build_adrs(ctx: BuildContext) -> list[Dataset]:
    """Per infused subject: each post-infusion assessment's overall response (OVRLRESP) and flow
    MRD status re-read with the run's settings (MRDFLOW, §5.2: NEGATIVE, POSITIVE or NOT
    EVALUABLE — never negative from an assay unable to see the cut-off); the day-28 response
    (D28RESP) and the best overall response within 1 year (BESTRESP) from
    `endpoints.courses.subject_endpoints`, AVALC the §5.3 category (NOT ASSESSED included), AVAL
    its rank (7 best … 0 not assessed). ANL01FL = Y marks the assessments the 1-year best response
    may use (day 0 to day 365 + window, none after new therapy): the MRD-negative rate of the
    endpoint tables counts subjects with a NEGATIVE MRDFLOW record flagged ANL01FL."""
    from endpoints.tables_efficacy import in_year_window, mrd_test

    data: ExportData = ctx.data
    subjs = subjects(data)
    adsl = {row["USUBJID"]: row for row in ctx.built["ADSL"].rows}
    cut, pop, found = _cut(data)
    settings = cut.choices.response_settings()
    in_window = {ma["id"] for rows in in_year_window(cut, pop, found).values() for ma in rows}
    tests_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for test in cut.mrd_tests:
        tests_of[test["assessment_id"]].append(test)
    ranks = {code: int(rank) for rank, code in RANK_CODES.items()}
    rows: list[dict[str, Any]] = []
    for pk, assessments in post_infusion_assessments(cut, pop).items():
        subj = subjs.get(pk)
        if subj is None:
            continue
        sl = adsl[subj.usubjid]
        for ma in assessments:
            base = _ident(data, subj) | {
                "TRTA": sl["TRT01A"],
                "SAFFL": sl["SAFFL"],
                "ADT": ma["assessment_date"],
                "ADY": sdtm_day(ma["assessment_date"], pop.day0[pk]),
                "ADY0": day0(ma["assessment_date"], pop.day0[pk]),
                "ANL01FL": "Y" if ma["id"] in in_window else None,
                "SRCDOM": "RS",
                "SRCVAR": "RSSTRESC",
            }
            response = ma["adjudicated_response"] or ma["response"]
            rows.append(base | {"PARAMCD": "OVRLRESP", "AVALC": CATEGORY_TEXT[response]})
            flow = [t for t in tests_of[ma["id"]] if t["method"] == "flow"]
            if flow:
                statuses = {rules.mrd_test_status(mrd_test(t), settings) for t in flow}
                status = (
                    rules.MrdStatus.NEGATIVE
                    if rules.MrdStatus.NEGATIVE in statuses
                    else rules.MrdStatus.POSITIVE
                    if rules.MrdStatus.POSITIVE in statuses
                    else rules.MrdStatus.NOT_EVALUABLE
                )
                rows.append(base | {"PARAMCD": "MRDFLOW", "AVALC": MRD_TEXT[status.value], "SRCVAR": ""})
    for pk, ends in found.items():
        subj = subjs.get(pk)
        if subj is None:
            continue
        sl = adsl[subj.usubjid]
        for code, best in (("D28RESP", ends.day28), ("BESTRESP", ends.best)):
            category = response_code(best)
            on = best.best.assessed_on if best.best is not None else None
            rows.append(
                _ident(data, subj)
                | {
                    "TRTA": sl["TRT01A"],
                    "SAFFL": sl["SAFFL"],
                    "PARAMCD": code,
                    "AVALC": RESPONSE_TEXT[category],
                    "AVAL": float(ranks[category]),
                    "ADT": on,
                    "ADY": sdtm_day(on, pop.day0[pk]),
                    "ADY0": day0(on, pop.day0[pk]),
                    "ANL01FL": "Y",
                    # AVALC combines RS.RSSTRESC with the MRD status in CP / GF: not a copy of one variable
                    "SRCDOM": None,
                    "SRCVAR": "",
                }
            )
    for row in rows:
        param, number = ADRS_PARAMS[row["PARAMCD"]]
        row["PARAM"], row["PARAMN"] = param, float(number)
        row["SRCVAR"] = row["SRCVAR"] or None
        if row["PARAMCD"] == "MRDFLOW":
            row["SRCDOM"] = None
    rows.sort(key=lambda r: (r["USUBJID"], r["PARAMN"] > 2, r["ADT"] or date.max, r["PARAMN"]))
    _number(rows)
    return [
        make_dataset(
            "ADRS",
            standard=ADAMIG,
            ig_dataset=BDS,
            label="Response Analysis Dataset",
            variables=[
                "STUDYID",
                "USUBJID",
                "SUBJID",
                "SITEID",
                "ASEQ",
                "TRTA",
                "SAFFL",
                "PARAMCD",
                "PARAM",
                "PARAMN",
                "AVAL",
                "AVALC",
                "ADT",
                "ADY",
                "ADY0",
                "ANL01FL",
                "SRCDOM",
                "SRCVAR",
            ],
            rows=rows,
            keys=("USUBJID", "ASEQ"),
            types={"ADT": "Date", "ADY0": "Num"},
            labels=ADRS_LABELS,
            notes=[
                "OVRLRESP: overall response per post-infusion assessment (adjudicated where present); MRDFLOW: "
                "flow MRD status of the assessment's tests under the run's settings (CLINICAL_SPEC 5.2).",
                "D28RESP / BESTRESP: from endpoints.courses.subject_endpoints (5.3), AVALC one of CR MRD "
                "NEGATIVE, CR MRD POSITIVE OR UNKNOWN, CRI MRD NEGATIVE, CRI MRD POSITIVE OR UNKNOWN, PR, NR, "
                "PD, NOT ASSESSED; AVAL its rank (7 = best, 0 = not assessed); ADT the assessment chosen. AVALC "
                "combines SDTM RS.RSSTRESC (the response) with the MRD status of that assessment (CP / GF), so "
                "SRCDOM/SRCVAR are null for them.",
                "ANL01FL: assessments inside the 1-year best-response window (and the derived records).",
                ADAM_DAYS,
            ],
        )
    ]


# --- ADLB -----------------------------------------------------------------------------------------

ADLB_LABELS = {"ADY0": "Analysis Day (Day-0 Clock)"}


def _grade_number(text: str | None) -> float | None:
    return None if text in (None, "") else float(str(text))


#: the first variables of ADLB and ADEX (BDS): identifiers, treatment, population, parameter, value
BDS_KEYS = (
    "STUDYID",
    "USUBJID",
    "SUBJID",
    "SITEID",
    "ASEQ",
    "TRTP",
    "TRTA",
    "SAFFL",
    "TRTSDT",
    "PARAMCD",
    "PARAM",
    "PARAMN",
    "AVAL",
)


def lab_params(ctx: BuildContext) -> list[tuple[str, str, str]]:
    """ADLB's parameters, (LBTESTCD, LBTEST, LBSTRESU) in order: PARAMN is the position in this
    list (1, 2, …). An export built in chunks of subjects renumbers each chunk's PARAMN to the
    position in the union of the chunks' lists (exports.chunked)."""
    lb = ctx.built["LB"]
    kept = _lab_records(ctx)
    codes, tests = permuted(lb.values("LBTESTCD"), kept), permuted(lb.values("LBTEST"), kept)
    units = [unit or "" for unit in permuted(lb.values("LBSTRESU"), kept)]
    return sorted(set(zip(codes, tests, units, strict=True)))


def _lab_records(ctx: BuildContext) -> list[int]:
    """The positions of the LB rows ADLB holds: a numeric result (LBSTRESN) of an ADSL subject."""
    adsl = {row["USUBJID"] for row in ctx.built["ADSL"].rows}
    lb = ctx.built["LB"]
    return [
        position
        for position, (subject, value) in enumerate(zip(lb.values("USUBJID"), lb.values("LBSTRESN"), strict=True))
        if subject in adsl and value is not None
    ]


@register("ADLB", standard=ADAMIG, requires=("LB", "ADSL"), order=125)
def build_adlb(ctx: BuildContext) -> list[Dataset]:
    """One record per numeric LB result of an ADSL subject (BDS): AVAL the standard-unit result,
    ABLFL the SDTM baseline (LBLOBXFL: the last result on or before the first dose), BASE/CHG/PCHG
    from it, the lab-derived CTCAE grade of CLINICAL_SPEC §3 as a low-direction grade
    (ATOXGRL/ATOXGRLN: every graded term is a decrease) with its baseline grade, and ANL01FL on the
    first record of each subject's worst post-infusion grade per parameter (the cytopenia tables)."""
    adsl = {row["USUBJID"]: row for row in ctx.built["ADSL"].rows}
    kept = _lab_records(ctx)
    source = ctx.built["LB"]

    def lb(name: str) -> list[Any]:
        return permuted(source.values(name), kept)

    params = lab_params(ctx)
    numbers = {code: float(n) for n, (code, _test, _unit) in enumerate(params, start=1)}
    names = {code: f"{test} ({unit})" if unit else test for code, test, unit in params}
    count = len(kept)
    usubjid, testcd, flags = lb("USUBJID"), lb("LBTESTCD"), lb("LBLOBXFL")
    dtc, nrind, tox = lb("LBDTC"), lb("LBNRIND"), lb("LBTOXGR")
    dates = {text: _to_date(text) for text in set(dtc)}
    on = list(map(dates.__getitem__, dtc))
    aval = [float(value) for value in lb("LBSTRESN")]
    grade = [value or None for value in tox]
    grade_numbers = {text: _grade_number(text) for text in set(tox) | set(grade)}
    ref = [adsl[subject]["TRTSDT"] for subject in usubjid]
    # the baseline record of each subject and test: LB.LBLOBXFL (the last one listed wins)
    baseline = {
        (subject, code): position
        for position, (subject, code, flag) in enumerate(zip(usubjid, testcd, flags, strict=True))
        if flag == "Y"
    }
    base_of = [baseline.get(key) for key in zip(usubjid, testcd, strict=True)]
    base_value: list[float | None] = []
    change: list[float | None] = []
    percent: list[float | None] = []
    for position, base in enumerate(base_of):
        if base is None:
            base_value.append(None)
            change.append(None)
            percent.append(None)
            continue
        value = aval[base]
        base_value.append(value)
        when = on[position]
        if flags[position] != "Y" and when is not None and when > on[base]:  # after the baseline
            change.append(round(aval[position] - value, 6))
            percent.append(round((aval[position] - value) / value * 100, 4) if value != 0.0 else None)
        else:
            change.append(None)
            percent.append(None)
    columns: dict[str, list[Any]] = {
        "STUDYID": lb("STUDYID"),
        "USUBJID": usubjid,
        "SUBJID": [adsl[subject]["SUBJID"] for subject in usubjid],
        "SITEID": [adsl[subject]["SITEID"] for subject in usubjid],
        "TRTP": [adsl[subject]["TRT01P"] for subject in usubjid],
        "TRTA": [adsl[subject]["TRT01A"] for subject in usubjid],
        "SAFFL": [adsl[subject]["SAFFL"] for subject in usubjid],
        "TRTSDT": ref,
        "PARAMCD": testcd,
        "PARAM": list(map(names.__getitem__, testcd)),
        "PARAMN": list(map(numbers.__getitem__, testcd)),
        "AVAL": aval,
        "BASE": base_value,
        "CHG": change,
        "PCHG": percent,
        "ANRIND": nrind,
        "BNRIND": [None if base is None else nrind[base] for base in base_of],
        "ATOXGRL": grade,
        "ATOXGRLN": list(map(grade_numbers.__getitem__, grade)),
        "BTOXGRL": [None if base is None else grade[base] for base in base_of],
        "BTOXGRLN": [None if base is None else grade_numbers[tox[base]] for base in base_of],
        "ADT": on,
        "ADY": list(map(sdtm_day, on, ref)),
        "ADY0": list(map(day0, on, ref)),
        "AVISIT": lb("VISIT"),
        "AVISITN": [None if number is None else float(number) for number in lb("VISITNUM")],
        "ABLFL": ["Y" if flag == "Y" else None for flag in flags],
        "ONTRTFL": [
            "Y" if start is not None and when is not None and when >= start else None
            for when, start in zip(on, ref, strict=True)
        ],
        "SRCDOM": ["LB"] * count,
        "SRCSEQ": [float(number) for number in lb("LBSEQ")],
    }
    keys = list(
        zip(
            usubjid,
            columns["PARAMN"],
            [date.min if when is None else when for when in on],
            columns["SRCSEQ"],
            strict=True,
        )
    )
    order = sorted(range(count), key=keys.__getitem__)
    del keys
    columns = {name: permuted(values, order) for name, values in columns.items()}
    # ANL01FL: the first record of each subject's worst on-treatment grade per parameter
    worst: dict[tuple[str, str], int] = {}
    level = columns["ATOXGRLN"]
    for position, (subject, code, treated, number) in enumerate(
        zip(columns["USUBJID"], columns["PARAMCD"], columns["ONTRTFL"], level, strict=True)
    ):
        if treated != "Y" or number is None:
            continue
        key = (subject, code)
        if key not in worst or number > level[worst[key]]:
            worst[key] = position  # rows are in date order: the first record of the maximum wins
    analysed: list[str | None] = [None] * count
    for position in worst.values():
        analysed[position] = "Y"
    columns["ANL01FL"] = analysed
    columns["ASEQ"] = [float(number) for number in sequence_numbers(columns["USUBJID"])]
    rows = ColumnRows(columns, count)
    return [
        make_dataset(
            "ADLB",
            standard=ADAMIG,
            ig_dataset=BDS,
            label="Laboratory Analysis Dataset",
            variables=[
                *BDS_KEYS,
                "BASE",
                "CHG",
                "PCHG",
                "ANRIND",
                "BNRIND",
                "ATOXGRL",
                "ATOXGRLN",
                "BTOXGRL",
                "BTOXGRLN",
                "ADT",
                "ADY",
                "ADY0",
                "AVISIT",
                "AVISITN",
                "ABLFL",
                "ONTRTFL",
                "ANL01FL",
                "SRCDOM",
                "SRCSEQ",
            ],
            rows=rows,
            keys=("USUBJID", "ASEQ"),
            types={"TRTSDT": "Date", "ADT": "Date", "ADY0": "Num"},
            labels=ADLB_LABELS,
            notes=[
                "Structure: BDS. One record per numeric LB result (LBSTRESN) of a subject in ADSL; PARAM the test "
                "with its standard unit (clinical.units); AVAL = LB.LBSTRESN; SRCDOM/SRCSEQ point at the LB record.",
                "ABLFL: the SDTM baseline (LB.LBLOBXFL: the last result per test on or before the first "
                "lymphodepletion dose); BASE, BNRIND and BTOXGRL(N) are that record's; CHG = AVAL - BASE and "
                "PCHG = CHG / BASE x 100 on records after the baseline date only.",
                "ATOXGRL/ATOXGRLN: the lab-derived CTCAE v5.0 grade of CLINICAL_SPEC 3 (LB.LBTOXGR; every graded "
                "term - neutrophil, platelet, lymphocyte count decreased, anaemia - is a decrease, hence the "
                "low-direction variables); 0 = within the normal range for the term.",
                "ONTRTFL: on or after the first CAR-T infusion (TRTSDT). ANL01FL: among on-treatment graded "
                "records, the first record of the subject's worst grade per parameter.",
                ADAM_DAYS,
            ],
        )
    ]


# --- ADEX -----------------------------------------------------------------------------------------

#: EXTRT → (PARAMCD, PARAM, PARAMN): the dose of each exposure record, per agent
EX_PARAMS = {
    "CD7 CAR-T CELLS": ("CARTDOSE", "CAR-T Dose (CAR+ cells/kg)", 1),
    "FLUDARABINE": ("FLUDOSE", "Fludarabine Daily Dose (mg/m2)", 2),
    "CYCLOPHOSPHAMIDE": ("CYCDOSE", "Cyclophosphamide Daily Dose (mg/m2)", 3),
}
OTHER_LD_PARAM = ("OLDDOSE", "Other Lymphodepleting Agent Daily Dose (mg/m2)", 4)
ADEX_LABELS = {
    "ASTDY0": "Analysis Start Day (Day-0 Clock)",
    "AENDY0": "Analysis End Day (Day-0 Clock)",
    "EXTRT": "Name of Treatment",
    "EXCAT": "Category of Treatment",
    "EXDOSU": "Dose Units",
}


@register("ADEX", standard=ADAMIG, requires=("EX", "ADSL"), order=122)
def build_adex(ctx: BuildContext) -> list[Dataset]:
    """Exposure analysis (BDS, issue 29): one record per SDTM EX record of an ADSL subject, one
    parameter per agent — the CAR-T infusion's dose in CAR+ cells/kg (EX.EXDOSE, the dose derived
    on the infusion form) and each lymphodepletion agent's daily dose in mg/m2 — with the analysis
    dates and ADaM relative days (ASTDY: no day 0, day 1 = TRTSDT) and the Day-0 clock."""
    adsl = {row["USUBJID"]: row for row in ctx.built["ADSL"].rows}
    rows: list[dict[str, Any]] = []
    for ex in ctx.built["EX"].rows:
        sl = adsl.get(ex["USUBJID"])
        if sl is None:
            continue
        code, param, number = EX_PARAMS.get(ex["EXTRT"], OTHER_LD_PARAM)
        start, end = _to_date(ex["EXSTDTC"]), _to_date(ex["EXENDTC"])
        ref = sl["TRTSDT"]
        rows.append(
            {
                "STUDYID": ex["STUDYID"],
                "USUBJID": ex["USUBJID"],
                "SUBJID": sl["SUBJID"],
                "SITEID": sl["SITEID"],
                "TRTP": sl["TRT01P"],
                "TRTA": sl["TRT01A"],
                "SAFFL": sl["SAFFL"],
                "TRTSDT": ref,
                "PARAMCD": code,
                "PARAM": param,
                "PARAMN": float(number),
                "AVAL": ex["EXDOSE"],
                "EXTRT": ex["EXTRT"],
                "EXCAT": ex["EXCAT"],
                "EXDOSU": ex["EXDOSU"],
                "ASTDT": start,
                "AENDT": end,
                "ASTDY": sdtm_day(start, ref),
                "AENDY": sdtm_day(end, ref),
                "ASTDY0": day0(start, ref),
                "AENDY0": day0(end, ref),
                "SRCDOM": "EX",
                "SRCSEQ": float(ex["EXSEQ"]),
            }
        )
    rows.sort(key=lambda r: (r["USUBJID"], r["ASTDT"] or date.max, r["PARAMN"], r["SRCSEQ"]))
    _number(rows)
    return [
        make_dataset(
            "ADEX",
            standard=ADAMIG,
            ig_dataset=BDS,
            label="Exposure Analysis Dataset",
            variables=[
                *BDS_KEYS,
                "EXTRT",
                "EXCAT",
                "EXDOSU",
                "ASTDT",
                "AENDT",
                "ASTDY",
                "AENDY",
                "ASTDY0",
                "AENDY0",
                "SRCDOM",
                "SRCSEQ",
            ],
            rows=rows,
            keys=("USUBJID", "ASEQ"),
            types={"TRTSDT": "Date", "ASTDT": "Date", "AENDT": "Date", "ASTDY0": "Num", "AENDY0": "Num"},
            labels=ADEX_LABELS,
            notes=[
                "Structure: BDS. One record per EX record of a subject in ADSL; SRCDOM/SRCSEQ point at it.",
                "CARTDOSE: the CAR-T infusion's dose in CAR+ cells/kg (EX.EXDOSE: viable cells x CAR+ % / weight, "
                "derived on the infusion form); FLUDOSE, CYCDOSE, OLDDOSE: the lymphodepletion agent's daily "
                "dose in mg/m2 over the course ASTDT-AENDT.",
                ADAM_DAYS,
            ],
        )
    ]


# --- ADCM -----------------------------------------------------------------------------------------

CM_COPIED = ["CMSEQ", "CMTRT", "CMCAT", "CMCLASCD", "CMINDC", "CMDOSE", "CMDOSU", "CMROUTE", "CMSTDTC", "CMENDTC"]
ADCM_LABELS = {"ASTDY0": "Analysis Start Day (Day-0 Clock)", "PREFL": "Prior Medication Flag"}


@register("ADCM", standard=ADAMIG, requires=("CM", "ADSL"), order=123)
def build_adcm(ctx: BuildContext) -> list[Dataset]:
    """Concomitant medications analysis (OCCDS, issue 29): one record per SDTM CM record of an
    ADSL subject, its variables copied (CMCLASCD = the WHO ATC code when entered), with ASTDT and
    AENDT (AENDT empty while ongoing at the cut-off), the ADaM relative days, and the flags: PREFL
    (prior: started before the first CAR-T infusion, TRTSDT) and ONTRTFL (concomitant: taken on or
    after TRTSDT, i.e. ending on or after it or ongoing). Both empty for a subject never infused."""
    adsl = {row["USUBJID"]: row for row in ctx.built["ADSL"].rows}
    rows: list[dict[str, Any]] = []
    for cm in ctx.built["CM"].rows:
        sl = adsl.get(cm["USUBJID"])
        if sl is None:
            continue
        start, end = _to_date(cm["CMSTDTC"]), _to_date(cm["CMENDTC"])
        ref = sl["TRTSDT"]
        rows.append(
            {
                "STUDYID": cm["STUDYID"],
                "USUBJID": cm["USUBJID"],
                "SUBJID": sl["SUBJID"],
                "SITEID": sl["SITEID"],
                "AGE": sl["AGE"],
                "SEX": sl["SEX"],
                "TRTA": sl["TRT01A"],
                "SAFFL": sl["SAFFL"],
                "TRTSDT": ref,
                "TRTEDT": sl["TRTEDT"],
                **{v: cm.get(v) for v in CM_COPIED},
                "ASTDT": start,
                "AENDT": end,
                "ASTDY": sdtm_day(start, ref),
                "AENDY": sdtm_day(end, ref),
                "ASTDY0": day0(start, ref),
                "PREFL": "Y" if ref is not None and start is not None and start < ref else None,
                "ONTRTFL": "Y" if ref is not None and (end is None or end >= ref) else None,
            }
        )
    rows.sort(key=lambda r: (r["USUBJID"], r["CMSEQ"]))
    return [
        make_dataset(
            "ADCM",
            standard=ADAMIG,
            ig_dataset=OCCDS_CM,
            label="Concomitant Medications Analysis Dataset",
            variables=[
                "STUDYID",
                "USUBJID",
                "SUBJID",
                "SITEID",
                "AGE",
                "SEX",
                "TRTA",
                "SAFFL",
                "TRTSDT",
                "TRTEDT",
                *CM_COPIED,
                "ASTDT",
                "AENDT",
                "ASTDY",
                "AENDY",
                "ASTDY0",
                "PREFL",
                "ONTRTFL",
            ],
            rows=rows,
            keys=("USUBJID", "CMSEQ"),
            types={"TRTSDT": "Date", "TRTEDT": "Date", "ASTDT": "Date", "AENDT": "Date", "ASTDY0": "Num"},
            labels=ADCM_LABELS,
            notes=[
                "Structure: OCCDS, checked against the identifiers, BDS timing/treatment/flag variables and "
                "SDTMIG CM variables (as ADAE against AE's). CMCLASCD: the WHO ATC code when entered (no WHODrug "
                "coding).",
                "PREFL: started before the first CAR-T infusion (TRTSDT); ONTRTFL: taken on or after TRTSDT "
                "(ended on or after it, or ongoing at the cut-off: AENDT empty). A medication started before "
                "and taken after the infusion has both flags. Empty for a subject never infused.",
                ADAM_DAYS,
            ],
        )
    ]


# --- define.xml origins (issue 28) ----------------------------------------------------------------

_SUBJECT_KEYS = ("STUDYID", "USUBJID", "SUBJID", "SITEID")
_FROM_ADSL = {
    "SUBJID": "ADSL.SUBJID",
    "SITEID": "ADSL.SITEID",
    "AGE": "ADSL.AGE",
    "SEX": "ADSL.SEX",
    "RACE": "ADSL.RACE",
    "SAFFL": "ADSL.SAFFL",
    "TRTSDT": "ADSL.TRTSDT",
    "TRTEDT": "ADSL.TRTEDT",
    "TRTA": "ADSL.TRT01A",
    "TRTP": "ADSL.TRT01P",
}
#: ADaM variable → the SDTM (or ADSL) variable it is copied from unchanged (define.xml
#: def:Origin Type="Predecessor", the source in its Description; ADaMIG 1.3 §3 and Define-XML 2.1
#: §4.3.2). Every other ADaM variable is Derived with its method (ADAM_METHODS or the generic one).
PREDECESSORS: dict[str, dict[str, str]] = {
    "ADSL": {v: f"DM.{v}" for v in (*_SUBJECT_KEYS, "AGE", "AGEU", "SEX", "ARM", "ACTARM")},
    "ADAE": {"STUDYID": "AE.STUDYID", "USUBJID": "AE.USUBJID"} | _FROM_ADSL | {v: f"AE.{v}" for v in AE_COPIED},
    "ADLB": {"STUDYID": "LB.STUDYID", "USUBJID": "LB.USUBJID"}
    | _FROM_ADSL
    | {"PARAMCD": "LB.LBTESTCD", "AVAL": "LB.LBSTRESN", "ANRIND": "LB.LBNRIND", "ATOXGRL": "LB.LBTOXGR"}
    | {"AVISIT": "LB.VISIT"},
    "ADTTE": {"STUDYID": "ADSL.STUDYID", "USUBJID": "ADSL.USUBJID"} | _FROM_ADSL,
    "ADRS": {"STUDYID": "ADSL.STUDYID", "USUBJID": "ADSL.USUBJID"} | _FROM_ADSL,
    "ADEX": {"STUDYID": "EX.STUDYID", "USUBJID": "EX.USUBJID", "AVAL": "EX.EXDOSE"}
    | _FROM_ADSL
    | {v: f"EX.{v}" for v in ("EXTRT", "EXCAT", "EXDOSU")},
    "ADCM": {"STUDYID": "CM.STUDYID", "USUBJID": "CM.USUBJID"} | _FROM_ADSL | {v: f"CM.{v}" for v in CM_COPIED},
}
#: methods of ADaM derived variables (define.xml MethodDef), by name
ADAM_METHODS: dict[str, str] = {
    "ASEQ": "Sequence number of the record within USUBJID, in the dataset's sort order (1, 2, ...).",
    "ASTDT": "The start date of the SDTM record (--STDTC), as a SAS date.",
    "AENDT": "The end date of the SDTM record (--ENDTC), as a SAS date.",
    "ADT": "The date of the SDTM record (--DTC), as a SAS date.",
    "ASTDY": "ASTDT - TRTSDT + 1 on or after TRTSDT, ASTDT - TRTSDT before it (no day 0).",
    "AENDY": "AENDT - TRTSDT + 1 on or after TRTSDT, AENDT - TRTSDT before it (no day 0).",
    "ADY": "ADT - TRTSDT + 1 on or after TRTSDT, ADT - TRTSDT before it (no day 0).",
    "ASTDY0": "ASTDT - TRTSDT (the Day-0 clock: the first infusion is day 0).",
    "ADY0": "ADT - TRTSDT (the Day-0 clock: the first infusion is day 0).",
    "TRTEMFL": "Y when the AE's onset is on or after the first CAR-T infusion (collection period after infusion).",
    "ONTRTFL": "Y when the record's date is on or after TRTSDT (the first CAR-T infusion).",
    "BASE": "AVAL of the record with ABLFL = Y for the subject and parameter.",
    "CHG": "AVAL - BASE on records after the baseline date.",
    "PCHG": "(AVAL - BASE) / BASE x 100 on records after the baseline date.",
    "PREFL": "Y when ASTDT is before TRTSDT (started before the first CAR-T infusion).",
    "AENDY0": "AENDT - TRTSDT (the Day-0 clock: the first infusion is day 0).",
    "SRCSEQ": "--SEQ of the SDTM record the analysis record comes from (SRCDOM).",
}
