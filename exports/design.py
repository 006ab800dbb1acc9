"""SDTM trial design (SDTMIG 3.4 §7): TS, TA, TE, TV, TI from the study build, and the subject
elements and visits SE and SV from each subject's course; EPOCH for the subject-level events,
interventions and findings domains is read from SE (`epoch_on`), never guessed per domain.

The design of this phase I single-arm, dose-escalation CD7 CAR-T trial (CLINICAL_SPEC §7):

| ETCD | element | epoch | starts | ends (= the next element's start) |
|---|---|---|---|---|
| SCRN | Screening | SCREENING | informed consent | the first lymphodepletion dose |
| LD | Lymphodepletion | TREATMENT | the first lymphodepletion dose | the CAR-T infusion |
| CART | CAR-T infusion, DLT observation | TREATMENT | first CAR-T infusion (day 0) | day 29 (DLT window: days 0-28) |
| FU | Follow-up | FOLLOW-UP | day 29 | the end of the study (completion, withdrawal, loss, death) |

Each dose level of the study's protocol settings is an arm (ARMCD = the dose level code, as
DM.ARMCD), with the same four elements; the branch is the dose level assigned at enrolment. A
subject who leaves before an element starts has its elements up to the last one begun, which
ends on the end-of-study date (screen failure, not infused, death…).

EPOCH of a record dated D: the epoch of the subject's element that started on or before D and
had not ended before D (a date equal to an element's start belongs to that element). A record
dated before informed consent (a con-med started before the study) or after the end of study has
no EPOCH.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.utils import translation

from exports.datasets import BuildContext, Dataset, ascii_text, iso, make_dataset, register
from exports.metadata import SDTMIG
from exports.sdtm import (
    CAR_T,
    COUNTRY_BY_TIME_ZONE,
    DAY_CONVENTION,
    END_STATUSES,
    ExportData,
    _local,
    _sequence,
    sdtm_day,
    subjects,
)

#: (ETCD, ELEMENT, EPOCH, TESTRL, TEENRL, TEDUR)
ELEMENTS = (
    ("SCRN", "Screening", "SCREENING", "Informed consent", "First lymphodepletion dose", "P28D"),
    ("LD", "Lymphodepletion", "TREATMENT", "First lymphodepletion dose", "First CAR-T infusion", "P5D"),
    (
        "CART",
        "CAR-T infusion and DLT observation",
        "TREATMENT",
        "First CAR-T infusion (day 0)",
        "End of day 28 after the first infusion (end of the DLT window)",
        "P29D",
    ),
    ("FU", "Follow-up", "FOLLOW-UP", "Day 29 after the first infusion", "End of study", None),
)
#: the DLT window (days 0-28 after the first infusion, CLINICAL_SPEC §3): the follow-up element starts on day 29
FOLLOW_UP_DAY = 29
#: the study model has no indication field: the protocol's indication, as inclusion criterion IN1 states it
INDICATION = "CD7-POSITIVE RELAPSED OR REFRACTORY T-CELL LEUKEMIA OR LYMPHOMA"
PRIMARY_OBJECTIVE = (
    "Safety and tolerability of CD7 CAR-T cells: dose-limiting toxicities in days 0-28 after the infusion"
)
EPOCHS = tuple(dict.fromkeys(e[2] for e in ELEMENTS))


@dataclass(frozen=True)
class Element:
    etcd: str
    element: str
    epoch: str
    taetord: int
    start: date
    start_dtc: str
    end: date | None  # None: still in this element at the cut-off
    end_dtc: str | None


def _end_of_study(data: ExportData, row: dict[str, Any], death: date | None) -> date | None:
    status_date = row["status_date"] if row["status_date"] and row["status_date"] <= data.cutoff else None
    ends = [d for d in (death, status_date if row["status"] in END_STATUSES else None) if d is not None]
    return min(ends) if ends else None


def subject_elements(data: ExportData) -> dict[str, list[Element]]:
    """USUBJID → the subject's elements in order (derived once per export and cached)."""
    if data._elements is not None:
        return dict(data._elements)
    subjs = subjects(data)
    consents = data.by_subject("consents")
    lds = data.by_subject("lymphodepletions")
    infusions = data.by_subject("infusions")
    deaths = data.by_subject("deaths")
    out: dict[str, list[Element]] = {}
    for subj in subjs.values():
        consent = min((c["consent_date"] for c in consents.get(subj.id, [])), default=None)
        if consent is None:
            continue
        death = min((d["death_date"] for d in deaths.get(subj.id, [])), default=None)
        end = _end_of_study(data, subj.row, death)
        starts: list[tuple[int, date, str]] = [(0, consent, consent.isoformat())]
        ld = min((r["start_date"] for r in lds.get(subj.id, []) if r["start_date"]), default=None)
        if ld is not None:
            starts.append((1, ld, ld.isoformat()))
        infs = sorted(infusions.get(subj.id, []), key=lambda r: r["infusion_start"])
        if infs:
            first = infs[0]
            starts.append((2, first["infusion_date"], _local(first["infusion_start"], subj.tz) or ""))
            follow = first["infusion_date"] + timedelta(days=FOLLOW_UP_DAY)
            if follow <= data.cutoff and (end is None or follow <= end):
                starts.append((3, follow, follow.isoformat()))
        elements = []
        for index, (which, on, dtc) in enumerate(starts):
            etcd, name, epoch = ELEMENTS[which][:3]
            if index + 1 < len(starts):
                until: date | None = starts[index + 1][1]
                until_dtc: str | None = starts[index + 1][2]
            else:
                until, until_dtc = end, iso(end)
            elements.append(Element(etcd, name, epoch, which + 1, on, dtc, until, until_dtc))
        out[subj.usubjid] = elements
    data._elements = out
    return dict(out)


def epoch_on(elements: dict[str, list[Element]], usubjid: str, on: date | None) -> str | None:
    """The EPOCH of a record of `usubjid` dated `on` (module docstring); None outside the study."""
    if on is None:
        return None
    found = None
    for element in elements.get(usubjid, []):
        if element.start <= on and (element.end is None or on <= element.end):
            found = element.epoch  # the later element wins on the boundary date
    return found


def add_epochs(data: ExportData, rows: list[dict[str, Any]], date_key: str) -> None:
    """Set EPOCH on each row from the subject's SE elements and the row's `date_key` date."""
    elements = subject_elements(data)
    for row in rows:
        row["EPOCH"] = epoch_on(elements, row["USUBJID"], row.get(date_key))


def _study(data: ExportData, name: str, default: Any = "") -> Any:
    return getattr(data.study, name, default) if data.study is not None else default


# --- TS -------------------------------------------------------------------------------------------

CDISC_CT = "CDISC CT"


@register("TS", standard=SDTMIG, order=1)
def build_ts(ctx: BuildContext) -> list[Dataset]:
    """Trial Summary: the FDA-required parameters of a phase I single-arm trial (FDA Study Data
    Technical Conformance Guide, TS; technical rejection criterion 1734 needs SSTDTC)."""
    data: ExportData = ctx.data
    consents = [c["consent_date"] for c in data.forms["consents"]]
    countries = sorted({COUNTRY_BY_TIME_ZONE.get(s["time_zone"]) or "" for s in data.sites.values()} - {""})
    screened_out = sum(1 for s in data.subjects if s["status"] == "screen_failed")
    days = [d["day"] for d in data.schedule if d["anchor"] == "infusion" and d["day"] is not None]
    screening = max((d["window_before"] for d in data.schedule if d["anchor"] == "enrolment"), default=0)
    length = (max(days) - min(days) + screening) if days else None
    phase = (_study(data, "phase") or "").strip().upper()
    # (TSPARMCD, TSPARM, TSVAL, TSVALNF, TSVALCD, TSVCDREF)
    params: list[tuple[str, str, str | None, str | None, str | None, str | None]] = [
        ("ACTSUB", "Actual Number of Subjects", str(len(data.subjects) - screened_out), None, None, None),
        ("ADAPT", "Adaptive Design", "N", None, "C49487", CDISC_CT),
        ("ADDON", "Added on to Existing Treatments", "N", None, "C49487", CDISC_CT),
        # the protocol's eligibility criteria (subjects.eligibility) state no age limits
        ("AGEMAX", "Planned Maximum Age of Subjects", None, "NI", None, None),
        ("AGEMIN", "Planned Minimum Age of Subjects", None, "NI", None, None),
        ("DCUTDESC", "Data Cutoff Description", "CLINICAL CUT-OFF DATE OF THE EXPORT", None, None, None),
        ("DCUTDTC", "Data Cutoff Date", data.cutoff.isoformat(), None, None, None),
        ("HLTSUBJI", "Healthy Subject Indicator", "N", None, "C49487", CDISC_CT),
        ("INDIC", "Trial Disease/Condition Indication", INDICATION, None, None, None),
        ("INTMODEL", "Intervention Model", "SINGLE GROUP", None, "C82639", CDISC_CT),
        ("INTTYPE", "Intervention Type", "BIOLOGIC", None, None, None),
        ("LENGTH", "Trial Length", f"P{length}D" if length else None, None if length else "NI", None, None),
        ("NARMS", "Planned Number of Arms", str(len(data.arms)), None, None, None),
        ("OBJPRIM", "Trial Primary Objective", PRIMARY_OBJECTIVE, None, None, None),
        (
            "PLANSUB",
            "Planned Number of Subjects",
            str(_study(data, "planned_subjects", 0) or "") or None,
            None,
            None,
            None,
        ),
        ("RANDOM", "Trial is Randomized", "N", None, "C49487", CDISC_CT),
        ("REGID", "Registry Identifier", _study(data, "registry_id") or None, None, None, "ClinicalTrials.gov"),
        ("SDTIGVER", "SDTM IG Version", "3.4", None, None, None),
        ("SDTMVER", "SDTM Version", "2.0", None, None, None),
        ("SEXPOP", "Sex of Participants", "BOTH", None, "C49636", CDISC_CT),
        ("SPONSOR", "Clinical Study Sponsor", None, "NI", None, None),
        ("SSTDTC", "Study Start Date", iso(min(consents)) if consents else None, None, None, None),
        ("STYPE", "Study Type", "INTERVENTIONAL", None, "C98388", CDISC_CT),
        ("TBLIND", "Trial Blinding Schema", "OPEN LABEL", None, "C49659", CDISC_CT),
        ("TCNTRL", "Control Type", "NONE", None, "C41132", CDISC_CT),
        ("TINDTP", "Trial Intent Type", "TREATMENT", None, "C49656", CDISC_CT),
        ("TITLE", "Trial Title", ascii_text(_study(data, "title")) or None, None, None, None),
        ("TPHASE", "Trial Phase Classification", f"PHASE {phase} TRIAL" if phase else None, None, None, None),
        ("TRT", "Investigational Therapy or Treatment", CAR_T, None, None, None),
        ("TTYPE", "Trial Type", "SAFETY", None, "C49667", CDISC_CT),
    ]
    if phase == "I":
        params = [p if p[0] != "TPHASE" else (*p[:4], "C15600", CDISC_CT) for p in params]
    params += [
        ("FCNTRY", "Planned Country of Investigational Sites", c, None, c, "ISO 3166-1 alpha-3") for c in countries
    ]
    rows = []
    seen: dict[str, int] = defaultdict(int)
    for parmcd, parm, value, null_flavor, code, ref in params:
        seen[parmcd] += 1
        rows.append(
            {
                "STUDYID": data.study_code,
                "DOMAIN": "TS",
                "TSSEQ": seen[parmcd],
                "TSPARMCD": parmcd,
                "TSPARM": parm,
                "TSVAL": value,
                "TSVALNF": None if value else (null_flavor or "NI"),
                "TSVALCD": code,
                "TSVCDREF": ref,
                "TSVCDVER": None,
            }
        )
    dataset = make_dataset(
        "TS",
        standard=SDTMIG,
        ig_dataset="TS",
        variables=["STUDYID", "DOMAIN", "TSSEQ", "TSPARMCD", "TSPARM", "TSVAL", "TSVALNF", "TSVALCD", "TSVCDREF"],
        rows=rows,
        keys=("TSPARMCD", "TSSEQ"),
        omitted={"TSVCDVER": "The CDISC CT and ISO 3166 codes are given without a package date."},
        notes=[
            "From the study record (title, phase, registry identifier, planned subjects), the schedule (trial "
            "length: screening window + first to last planned day) and the protocol settings (arms = dose levels).",
            "AGEMIN/AGEMAX/SPONSOR: TSVALNF = NI; the study build records no age limits and no sponsor name.",
            "The protocol version in force on the cut-off date is named in define.xml (ProtocolName and the "
            "MetaDataVersion description): the TS parameter codelist has no protocol version parameter.",
        ],
    )
    return [dataset]


# --- TE / TA ----------------------------------------------------------------------------------------


@register("TE", standard=SDTMIG, order=2)
def build_te(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    rows = [
        {
            "STUDYID": data.study_code,
            "DOMAIN": "TE",
            "ETCD": etcd,
            "ELEMENT": name,
            "TESTRL": start,
            "TEENRL": end,
            "TEDUR": duration,
        }
        for etcd, name, _epoch, start, end, duration in ELEMENTS
    ]
    return [
        make_dataset(
            "TE",
            standard=SDTMIG,
            ig_dataset="TE",
            variables=["STUDYID", "DOMAIN", "ETCD", "ELEMENT", "TESTRL", "TEENRL", "TEDUR"],
            rows=rows,
            keys=("ETCD",),
            notes=[
                "TEDUR: planned durations (screening window 28 days, lymphodepletion days -5 to -1, "
                "DLT window days 0-28); follow-up lasts to the end of study."
            ],
        )
    ]


@register("TA", standard=SDTMIG, order=3)
def build_ta(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    rows = []
    for armcd in sorted(data.arms):
        for order, (etcd, name, epoch, *_rest) in enumerate(ELEMENTS, start=1):
            rows.append(
                {
                    "STUDYID": data.study_code,
                    "DOMAIN": "TA",
                    "ARMCD": armcd,
                    "ARM": data.arms[armcd],
                    "TAETORD": order,
                    "ETCD": etcd,
                    "ELEMENT": name,
                    "TABRANCH": f"Assigned to dose level {armcd} at enrolment" if order == 1 else None,
                    "TATRANS": "Leaves the study if not eligible or not infused" if order < 3 else None,
                    "EPOCH": epoch,
                }
            )
    return [
        make_dataset(
            "TA",
            standard=SDTMIG,
            ig_dataset="TA",
            variables=[
                "STUDYID",
                "DOMAIN",
                "ARMCD",
                "ARM",
                "TAETORD",
                "ETCD",
                "ELEMENT",
                "TABRANCH",
                "TATRANS",
                "EPOCH",
            ],
            rows=rows,
            keys=("ARMCD", "TAETORD"),
            notes=["One arm per dose level of the protocol settings (ARMCD = DM.ARMCD); single-arm dose escalation."],
        )
    ]


# --- TV / TI ---------------------------------------------------------------------------------------


def _visit_day(definition: dict[str, Any]) -> int | None:
    """The planned SDTM study day of a visit anchored on the infusion (day 0 → study day 1)."""
    if definition["anchor"] != "infusion" or definition["day"] is None:
        return None
    day = int(definition["day"])
    return day + 1 if day >= 0 else day


def _visit_rule(definition: dict[str, Any]) -> str:
    window = f"window -{definition['window_before']}/+{definition['window_after']} days"
    if definition["anchor"] == "event":
        return "When it happens (event-driven, no planned day)"
    if definition["anchor"] == "enrolment":
        return f"Enrolment, up to {definition['window_before']} days before lymphodepletion"
    return f"Day {definition['day']} after the first CAR-T infusion (day 0 clock), {window}"


@register("TV", standard=SDTMIG, order=4)
def build_tv(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    rows = [
        {
            "STUDYID": data.study_code,
            "DOMAIN": "TV",
            "VISITNUM": d["order"],
            "VISIT": ascii_text(d["name"]).upper(),
            "VISITDY": _visit_day(d),
            "TVSTRL": _visit_rule(d),
        }
        for d in data.schedule
    ]
    return [
        make_dataset(
            "TV",
            standard=SDTMIG,
            ig_dataset="TV",
            variables=["STUDYID", "DOMAIN", "VISITNUM", "VISIT", "VISITDY", "TVSTRL"],
            rows=rows,
            keys=("VISITNUM",),
            omitted={"ARMCD": "Every arm (dose level) has the same schedule."},
            notes=["VISITNUM = the visit's order in the study schedule, as in SV, LB and VS. " + DAY_CONVENTION],
        )
    ]


@register("TI", standard=SDTMIG, order=5)
def build_ti(ctx: BuildContext) -> list[Dataset]:
    from subjects.eligibility import CRITERIA

    data: ExportData = ctx.data
    with translation.override("en"):
        rows = [
            {
                "STUDYID": data.study_code,
                "DOMAIN": "TI",
                "IETESTCD": c.code,
                "IETEST": ascii_text(str(c.text)),
                "IECAT": "INCLUSION" if c.inclusion else "EXCLUSION",
                "TIVERS": "1",
            }
            for c in CRITERIA
        ]
    return [
        make_dataset(
            "TI",
            standard=SDTMIG,
            ig_dataset="TI",
            variables=["STUDYID", "DOMAIN", "IETESTCD", "IETEST", "IECAT", "TIVERS"],
            rows=rows,
            keys=("IETESTCD",),
            notes=["The eligibility checklist's criteria (subjects.eligibility), protocol version 1."],
        )
    ]


# --- SE / SV ---------------------------------------------------------------------------------------


@register("SE", standard=SDTMIG, order=12)
def build_se(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    refs = {s.usubjid: s.ref for s in subjects(data).values()}
    rows = []
    for usubjid, elements in subject_elements(data).items():
        for e in elements:
            rows.append(
                {
                    "STUDYID": data.study_code,
                    "DOMAIN": "SE",
                    "USUBJID": usubjid,
                    "ETCD": e.etcd,
                    "ELEMENT": e.element,
                    "TAETORD": e.taetord,
                    "EPOCH": e.epoch,
                    "SESTDTC": e.start_dtc,
                    "SEENDTC": e.end_dtc,
                    "SESTDY": sdtm_day(e.start, refs.get(usubjid)),
                    "SEENDY": sdtm_day(e.end, refs.get(usubjid)),
                    "_sort": e.taetord,
                }
            )
    _sequence(rows, "SE", "_sort")
    return [
        make_dataset(
            "SE",
            standard=SDTMIG,
            ig_dataset="SE",
            variables=[
                "STUDYID",
                "DOMAIN",
                "USUBJID",
                "SESEQ",
                "ETCD",
                "ELEMENT",
                "TAETORD",
                "EPOCH",
                "SESTDTC",
                "SEENDTC",
                "SESTDY",
                "SEENDY",
            ],
            rows=rows,
            keys=("USUBJID", "SESEQ"),
            notes=[
                "Elements from the subject's course: consent, first lymphodepletion dose, first CAR-T infusion, "
                "day 29; an element ends when the next starts or at the end of study; SEENDTC empty = still in it "
                "at the cut-off. EPOCH of every subject-level record is read from these elements.",
                DAY_CONVENTION,
            ],
        )
    ]


@register("SV", standard=SDTMIG, order=13)
def build_sv(ctx: BuildContext) -> list[Dataset]:
    data: ExportData = ctx.data
    subjs = subjects(data)
    planned = {d["id"]: _visit_day(d) for d in data.schedule}
    rows = []
    for visit in data.visits.values():
        if visit["date"] is None or visit["subject_id"] not in subjs:
            continue
        subj = subjs[visit["subject_id"]]
        rows.append(
            {
                "STUDYID": data.study_code,
                "DOMAIN": "SV",
                "USUBJID": subj.usubjid,
                "VISITNUM": visit["num"],
                "VISIT": visit["name"],
                "SVPRESP": "Y",
                "SVOCCUR": "Y",
                "VISITDY": planned.get(visit["definition_id"]),
                "SVSTDTC": iso(visit["date"]),
                "SVENDTC": iso(visit["date"]),
                "SVSTDY": sdtm_day(visit["date"], subj.ref),
                "SVENDY": sdtm_day(visit["date"], subj.ref),
            }
        )
    for (subject_id, on), (number, name) in data.unscheduled().items():
        if subject_id not in subjs:
            continue
        subj = subjs[subject_id]
        rows.append(
            {
                "STUDYID": data.study_code,
                "DOMAIN": "SV",
                "USUBJID": subj.usubjid,
                "VISITNUM": number,
                "VISIT": name,
                "SVPRESP": None,
                "SVOCCUR": "Y",
                "VISITDY": None,
                "SVSTDTC": iso(on),
                "SVENDTC": iso(on),
                "SVSTDY": sdtm_day(on, subj.ref),
                "SVENDY": sdtm_day(on, subj.ref),
                "SVUPDES": "Unscheduled assessment (laboratory, vital signs or bone marrow)",
            }
        )
    rows.sort(key=lambda r: (r["USUBJID"], r["VISITNUM"]))
    return [
        make_dataset(
            "SV",
            standard=SDTMIG,
            ig_dataset="SV",
            variables=[
                "STUDYID",
                "DOMAIN",
                "USUBJID",
                "VISITNUM",
                "VISIT",
                "SVPRESP",
                "SVOCCUR",
                "VISITDY",
                "SVSTDTC",
                "SVENDTC",
                "SVSTDY",
                "SVENDY",
                "SVUPDES",
            ],
            rows=rows,
            keys=("USUBJID", "VISITNUM"),
            notes=[
                "The scheduled visits that took place on or before the cut-off (visit date entered); a one-day "
                "visit: SVENDTC = SVSTDTC.",
                "Unscheduled visits: each date with LB, VS or marrow (RS) records at no scheduled visit, VISITNUM "
                "after the last scheduled visit that took place on or before it (3.01, 3.02, ...), SVPRESP null, "
                "SVUPDES says why.",
                DAY_CONVENTION,
            ],
        )
    ]


TRIAL_DESIGN = ["TS", "TE", "TA", "TV", "TI", "SE", "SV"]
