"""The endpoint tables of issue 11 from the snapshot rows of one data cut (DESIGN §5).

Pure functions of plain rows (dicts as `endpoints.snapshot` gives them) and the cut-off date:
no queries, no clock. Every proportion is n/N with its population named and an exact
Clopper–Pearson 95% interval (CLINICAL_SPEC §6). Numbers leave this module as integers or as
strings with a fixed number of decimals, never floats, so `canonical_json` is byte-identical for
the same inputs whatever order the rows were entered in (rows are ordered by content, never by
database key). Days are on the clinical Day-0 clock: first infusion day = day 0 (§9).

Data dated after the cut-off are left out (DESIGN §5): consents, enrolments, infusions, AEs by
onset, deaths, collections and status changes. A subject's status at the cut-off is the last
status of its history dated on or before it.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from clinical.ae_course import from_stored, max_grade_until
from clinical.protocol import ProtocolChoices
from clinical.stats import clopper_pearson, percent

#: CLINICAL_SPEC endpoint 1: treatment-emergent AEs with onset day 0–90.
TEAE_LAST_DAY = 90
DEATH_WINDOWS = (30, 90)
GRADES = (1, 2, 3, 4, 5)

PROPORTION_COLUMNS = ["category", "detail", "n", "N", "population", "percent", "ci_lower", "ci_upper"]


@dataclass(frozen=True)
class CutData:
    """Everything a run reads, as it stood at the snapshot (see endpoints.snapshot)."""

    cutoff: date
    subjects: list[dict[str, Any]]
    subject_history: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    collections: list[dict[str, Any]]
    infusions: list[dict[str, Any]]
    adverse_events: list[dict[str, Any]]
    deaths: list[dict[str, Any]]
    choices: ProtocolChoices = field(default_factory=ProtocolChoices)
    # Issue 12: toxicity, DLT, response and time-to-event inputs (empty when not loaded).
    visit_definitions: list[dict[str, Any]] = field(default_factory=list)
    crs_assessments: list[dict[str, Any]] = field(default_factory=list)
    crs_episodes: list[dict[str, Any]] = field(default_factory=list)
    icans_assessments: list[dict[str, Any]] = field(default_factory=list)
    icans_episodes: list[dict[str, Any]] = field(default_factory=list)
    conmeds: list[dict[str, Any]] = field(default_factory=list)
    icaht: list[dict[str, Any]] = field(default_factory=list)
    iec_hs: list[dict[str, Any]] = field(default_factory=list)
    gvhd: list[dict[str, Any]] = field(default_factory=list)
    dlt_candidates: list[dict[str, Any]] = field(default_factory=list)
    marrow_assessments: list[dict[str, Any]] = field(default_factory=list)
    mrd_tests: list[dict[str, Any]] = field(default_factory=list)
    relapses: list[dict[str, Any]] = field(default_factory=list)
    subsequent_therapies: list[dict[str, Any]] = field(default_factory=list)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)

    #: The lists that are run inputs (hashed into the run's input digest, in this order).
    INPUTS = (
        "subjects",
        "subject_history",
        "consents",
        "collections",
        "infusions",
        "adverse_events",
        "deaths",
        "visit_definitions",
        "crs_assessments",
        "crs_episodes",
        "icans_assessments",
        "icans_episodes",
        "conmeds",
        "icaht",
        "iec_hs",
        "gvhd",
        "dlt_candidates",
        "marrow_assessments",
        "mrd_tests",
        "relapses",
        "subsequent_therapies",
        "follow_ups",
    )


def fixed(value: Decimal | int | float, places: int) -> str:
    """`value` with exactly `places` decimals, halves rounded up (fixed decimal formatting)."""
    quantum = Decimal(1).scaleb(-places)
    return str(Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def proportion(category: str, n: int, total: int, population: str, detail: str = "") -> dict[str, Any]:
    """One n/N row with the percentage and its exact 95% CI, both in percent with one decimal
    (the one number format of the tables, issue 30)."""
    row: dict[str, Any] = {"category": category, "detail": detail, "n": n, "N": total, "population": population}
    if total == 0:
        row.update(percent="", ci_lower="", ci_upper="")
        return row
    ci = clopper_pearson(n, total)
    row.update(
        percent=fixed(Decimal(n) * 100 / Decimal(total), 1), ci_lower=percent(ci.lower), ci_upper=percent(ci.upper)
    )
    return row


def summary(values: Iterable[Decimal | int], places: int) -> dict[str, Any]:
    """n, median, minimum and maximum with `places` decimals ('' when there are no values)."""
    found = sorted(Decimal(v) for v in values)
    if not found:
        return {"n": 0, "median": "", "min": "", "max": ""}
    return {
        "n": len(found),
        "median": fixed(statistics.median(found), places),
        "min": fixed(found[0], places),
        "max": fixed(found[-1], places),
    }


# --- who is where at the cut-off ----------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    screened: set[int]
    enrolled: set[int]
    infused: set[int]
    day0: dict[int, date]
    status: dict[int, dict[str, Any]]  # subject → its history version in force at the cut-off
    label: dict[int, str]
    #: Per-run memo of derived values shared by several builders (endpoints.courses.endpoints_of).
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def population(data: CutData) -> Population:
    cutoff = data.cutoff
    first_consent: dict[int, date] = {}
    for consent in data.consents:
        when = consent["consent_date"]
        if when <= cutoff and (
            consent["subject_id"] not in first_consent or when < first_consent[consent["subject_id"]]
        ):
            first_consent[consent["subject_id"]] = when
    subjects = {row["id"]: row for row in data.subjects}
    screened = {pk for pk in first_consent if pk in subjects}
    enrolled = {pk for pk in screened if subjects[pk]["enrolled_on"] and subjects[pk]["enrolled_on"] <= cutoff}
    day0: dict[int, date] = {}
    for infusion in data.infusions:
        when = infusion["infusion_date"]
        pk = infusion["subject_id"]
        if pk in enrolled and when is not None and when <= cutoff and (pk not in day0 or when < day0[pk]):
            day0[pk] = when
    status: dict[int, dict[str, Any]] = {}
    for version in data.subject_history:  # in the order written
        pk = version["id"]
        if pk not in screened or version["pgh_label"] == "delete":
            continue
        dated = version["status_date"]
        if dated is None or dated <= cutoff:
            status[pk] = version
    label = {pk: row["subject_id"] or row["screening_number"] for pk, row in subjects.items()}
    return Population(screened, enrolled, set(day0), day0, status, label)


# --- disposition ---------------------------------------------------------------------------------

NOT_INFUSED_REASONS = (
    "manufacturing_failure",
    "out_of_specification",
    "progression",
    "death",
    "infection",
    "withdrawal",
)


def disposition(data: CutData, pop: Population) -> dict[str, Any]:
    """Screened, screen failures, enrolled, not infused with reasons, infused, and the infused
    subjects' status at the cut-off: completed, withdrawn, died, lost, still in follow-up. A death
    dated on or before the cut-off counts as died whatever the status (e.g. after withdrawal)."""
    cutoff = data.cutoff
    status = {pk: pop.status[pk]["status"] if pk in pop.status else "screening" for pk in pop.screened}
    died = {d["subject_id"] for d in data.deaths if d["death_date"] <= cutoff and d["subject_id"] in pop.infused}
    screened, enrolled, infused = len(pop.screened), len(pop.enrolled), len(pop.infused)
    not_infused = {pk for pk in pop.enrolled - pop.infused if status[pk] == "not_infused"}
    rows = [
        proportion("screened", screened, screened, "screened"),
        proportion("screen_failure", sum(1 for s in status.values() if s == "screen_failed"), screened, "screened"),
        proportion("enrolled", enrolled, screened, "screened"),
        proportion("not_infused", len(not_infused), enrolled, "enrolled"),
    ]
    reasons = defaultdict(int)
    for pk in not_infused:
        reasons[pop.status[pk]["not_infused_reason"] or "not_given"] += 1
    for reason in (*NOT_INFUSED_REASONS, "not_given"):
        if reason in reasons:
            rows.append(proportion("not_infused", reasons[reason], enrolled, "enrolled", detail=reason))
    rows.append(proportion("infused", infused, enrolled, "enrolled"))
    after = {"completed": 0, "withdrawn": 0, "died": len(died), "lost_to_follow_up": 0, "ongoing": 0}
    for pk in pop.infused - died:
        key = {"completed": "completed", "withdrawn": "withdrawn", "lost": "lost_to_follow_up"}.get(
            status[pk], "ongoing"
        )
        after[key] += 1
    for key, n in after.items():
        rows.append(proportion(key, n, infused, "infused"))
    return {
        "key": "disposition",
        "title": "Subject disposition",
        "population": "screened",
        "columns": PROPORTION_COLUMNS,
        "rows": rows,
    }


# --- exposure ------------------------------------------------------------------------------------

EXPOSURE_COLUMNS = [*PROPORTION_COLUMNS, "median", "min", "max", "unit"]


def _infusions_in_cut(data: CutData, pop: Population) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for infusion in data.infusions:
        pk = infusion["subject_id"]
        if pk in pop.infused and infusion["infusion_date"] is not None and infusion["infusion_date"] <= data.cutoff:
            found[pk].append(infusion)
    return found


def exposure(data: CutData, pop: Population) -> dict[str, Any]:
    """Infused subjects by dose level and product state; CAR+ cells/kg (×10⁶, all bags added)
    median and range overall and per level, and how many lie in the level's acceptable range
    under the run's settings version (CLINICAL_SPEC §3.1); vein-to-vein time in days from the
    first apheresis / collection to day 0."""
    subjects = {row["id"]: row for row in data.subjects}
    infusions = _infusions_in_cut(data, pop)
    total = len(pop.infused)
    levels = {level.code: level for level in data.choices.dose_levels}
    level_of = {pk: subjects[pk]["dose_level"] for pk in pop.infused}
    codes = [code for code in levels if code in level_of.values()]
    codes += sorted(set(level_of.values()) - set(levels))
    empty = {"median": "", "min": "", "max": "", "unit": ""}
    rows = [
        {**proportion("dose_level", sum(1 for c in level_of.values() if c == code), total, "infused", code), **empty}
        for code in codes
    ]

    def state(pk: int) -> str:
        states = {i["state"] for i in infusions[pk]}
        return "fresh_and_thawed" if len(states) > 1 else states.pop()

    states = [state(pk) for pk in sorted(pop.infused)]
    for name in ("fresh", "thawed", "fresh_and_thawed"):
        if name in states:
            rows.append({**proportion("product_state", states.count(name), total, "infused", name), **empty})

    dose = {
        pk: sum((Decimal(i["car_positive_per_kg_e6"] or 0) for i in infusions[pk]), Decimal(0)) for pk in pop.infused
    }
    per_kg = "CAR+ cells/kg ×10^6"

    def dose_row(detail: str, members: list[int]) -> dict[str, Any]:
        stats = summary((dose[pk] for pk in members), 3)
        return {
            **proportion("dose_per_kg", stats["n"], total, "infused", detail),
            "median": stats["median"],
            "min": stats["min"],
            "max": stats["max"],
            "unit": per_kg,
        }

    rows.append(dose_row("all", sorted(pop.infused)))
    for code in codes:
        members = sorted(pk for pk in pop.infused if level_of[pk] == code)
        rows.append(dose_row(code, members))
        level = levels.get(code)
        if level is not None:
            target = level.target_cells_per_kg / Decimal("1E6")
            lower = target * (1 - level.range_pct / 100)
            upper = target * (1 + level.range_pct / 100)
            inside = sum(1 for pk in members if lower <= dose[pk] <= upper)
            rows.append(
                {
                    **proportion("dose_within_range", inside, len(members), f"infused at {code}", code),
                    "median": "",
                    "min": fixed(lower, 3),
                    "max": fixed(upper, 3),
                    "unit": per_kg,
                }
            )
    first_collection: dict[int, date] = {}
    for collection in data.collections:
        pk, when = collection["subject_id"], collection["collection_date"]
        if pk in pop.infused and when <= pop.day0[pk] and (pk not in first_collection or when < first_collection[pk]):
            first_collection[pk] = when
    v2v = summary(((pop.day0[pk] - when).days for pk, when in first_collection.items()), 1)
    rows.append(
        {
            **proportion("vein_to_vein", v2v["n"], total, "infused", "apheresis_to_infusion"),
            "median": v2v["median"],
            "min": v2v["min"],
            "max": v2v["max"],
            "unit": "days",
        }
    )
    return {"key": "exposure", "title": "Exposure", "population": "infused", "columns": EXPOSURE_COLUMNS, "rows": rows}


# --- adverse events ------------------------------------------------------------------------------


def _teae(data: CutData, pop: Population) -> list[dict[str, Any]]:
    """Treatment-emergent AEs (CLINICAL_SPEC §3): after infusion, onset on or before the cut-off,
    onset day 0–90 on the Day-0 clock; each at its maximum grade within days 0–90 (and up to the
    cut-off) of its dated course (issue 30). Computed once per run (two tables read it)."""
    if "teae" in pop.cache:
        cached: list[dict[str, Any]] = pop.cache["teae"]
        return cached
    found: list[dict[str, Any]] = []
    for ae in data.adverse_events:
        pk = ae["subject_id"]
        if pk not in pop.infused or ae["onset_date"] > data.cutoff or ae["collection_period"] != "after_infusion":
            continue
        if 0 <= (ae["onset_date"] - pop.day0[pk]).days <= TEAE_LAST_DAY:
            until = min(data.cutoff, pop.day0[pk] + timedelta(days=TEAE_LAST_DAY))
            course = from_stored(ae.get("grade_course"), onset=ae["onset_date"], grade=ae["grade"])
            reached = max_grade_until(course, until)
            found.append(ae if reached is None or reached == ae["grade"] else {**ae, "grade": reached})
    pop.cache["teae"] = found
    return found


SUMMARY_COLUMNS = [*PROPORTION_COLUMNS, "events"]


def teae_summary(data: CutData, pop: Population) -> dict[str, Any]:
    """Subjects with any TEAE, with a grade ≥ 3 TEAE, with a serious TEAE (events counted too),
    and deaths within 30 and 90 days of infusion with their primary causes."""
    total = len(pop.infused)
    teae = _teae(data, pop)

    def row(category: str, events: list[dict[str, Any]], detail: str = "") -> dict[str, Any]:
        subjects = {ae["subject_id"] for ae in events}
        return {**proportion(category, len(subjects), total, "infused", detail), "events": len(events)}

    rows = [
        row("any_teae", teae),
        row("grade_3_or_higher", [ae for ae in teae if ae["grade"] >= 3]),
        row("serious", [ae for ae in teae if ae["serious"]]),
    ]
    deaths = [d for d in data.deaths if d["subject_id"] in pop.infused and d["death_date"] <= data.cutoff]
    for window in DEATH_WINDOWS:
        within = [d for d in deaths if 0 <= (d["death_date"] - pop.day0[d["subject_id"]]).days <= window]
        rows.append(row(f"death_within_{window}_days", within))
        for cause in sorted({d["primary_cause"] for d in within}):
            rows.append(row(f"death_within_{window}_days", [d for d in within if d["primary_cause"] == cause], cause))
    return {
        "key": "teae_summary",
        "title": "Treatment-emergent adverse events, day 0-90: summary",
        "population": "infused",
        "columns": SUMMARY_COLUMNS,
        "rows": rows,
    }


TERM_COLUMNS = ["soc", "term", "n", "N", "population", "percent", *(f"grade_{g}" for g in GRADES), "grade_3_or_higher"]


def teae_by_term(data: CutData, pop: Population) -> dict[str, Any]:
    """Subjects per system organ class and CTCAE term, by their maximum grade for it (a subject
    counts once per term, at its worst grade; once per SOC, at its worst grade in the SOC).
    Two blocks: every TEAE, then the grade ≥ 3 TEAEs alone."""
    total = len(pop.infused)
    teae = _teae(data, pop)
    rows = []
    for block, events in (("any", teae), ("grade_3_or_higher", [ae for ae in teae if ae["grade"] >= 3])):
        worst: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
        for ae in events:
            for key in ((ae["soc"], ""), (ae["soc"], ae["ctcae_term"])):
                worst[key][ae["subject_id"]] = max(worst[key].get(ae["subject_id"], 0), ae["grade"])
        for (soc, term), by_subject in sorted(worst.items()):
            grades = list(by_subject.values())
            row = proportion(block, len(by_subject), total, "infused")
            rows.append(
                {
                    "soc": soc,
                    "term": term,
                    "n": row["n"],
                    "N": total,
                    "population": "infused" if block == "any" else "infused, grade >= 3",
                    "percent": row["percent"],
                    **{f"grade_{g}": grades.count(g) for g in GRADES},
                    "grade_3_or_higher": sum(1 for g in grades if g >= 3),
                }
            )
    return {
        "key": "teae_by_term",
        "title": "Treatment-emergent adverse events, day 0-90, by SOC and CTCAE term and maximum grade",
        "population": "infused",
        "columns": TERM_COLUMNS,
        "rows": rows,
    }


LISTING_COLUMNS = [
    "subject",
    "soc",
    "term",
    "verbatim",
    "grade",
    "onset_date",
    "study_day",
    "serious",
    "relationship_lymphodepletion",
]


def lymphodepletion_aes(data: CutData, pop: Population) -> dict[str, Any]:
    """AEs with onset during lymphodepletion (first dose to the day before infusion), listed
    apart from the treatment-emergent tables (CLINICAL_SPEC §3)."""
    rows = []
    for ae in data.adverse_events:
        pk = ae["subject_id"]
        if pk not in pop.enrolled or ae["collection_period"] != "during_ld" or ae["onset_date"] > data.cutoff:
            continue
        day0 = pop.day0.get(pk)
        rows.append(
            {
                "subject": pop.label[pk],
                "soc": ae["soc"],
                "term": ae["ctcae_term"],
                "verbatim": ae["verbatim"],
                "grade": ae["grade"],
                "onset_date": ae["onset_date"].isoformat(),
                "study_day": "" if day0 is None else (ae["onset_date"] - day0).days,
                "serious": "yes" if ae["serious"] else "no",
                "relationship_lymphodepletion": ae["relationship_lymphodepletion"],
            }
        )
    rows.sort(key=lambda r: tuple(str(r[c]) for c in ("subject", "onset_date", "soc", "term", "verbatim", "grade")))
    return {
        "key": "lymphodepletion_aes",
        "title": "Adverse events during lymphodepletion (listed apart)",
        "population": "enrolled",
        "columns": LISTING_COLUMNS,
        "rows": rows,
    }


BUILDERS = (disposition, exposure, teae_summary, teae_by_term, lymphodepletion_aes)


def build_tables(data: CutData) -> list[dict[str, Any]]:
    pop = population(data)
    return [build(data, pop) for build in BUILDERS]


def _refuse_floats(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} in endpoint tables: format numbers with fixed() first")


def canonical_json(value: Any, *, refuse_floats: bool = True) -> str:
    """Sorted keys, no spaces, UTF-8 text, no floats: the same tables give the same bytes.
    `refuse_floats=False` skips the walk that refuses floats (the run's input digest, whose rows
    `endpoints.services._plain` has already made float-free: the walk was a quarter of
    `load_cut`'s time, issue 30 item 6); the bytes are the same either way."""
    if not refuse_floats:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_refuse_floats)

    def check(item: Any) -> None:
        if isinstance(item, float):
            _refuse_floats(item)
        elif isinstance(item, dict):
            for inner in item.values():
                check(inner)
        elif isinstance(item, list):
            for inner in item:
                check(inner)

    check(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_refuse_floats)


#: Inputs stored with the protocol settings version they were derived under (grades, responses).
DERIVED_INPUTS = (
    "crs_assessments",
    "crs_episodes",
    "icans_assessments",
    "icans_episodes",
    "marrow_assessments",
    "mrd_tests",
)


def input_settings_versions(data: CutData) -> dict[str, dict[str, int]]:
    """Per derived input, how many of its rows were derived under each settings version
    ("none": stored before versions were recorded), in version order (issue 30)."""
    found: dict[str, dict[str, int]] = {}
    for name in DERIVED_INPUTS:
        counts: dict[str, int] = defaultdict(int)
        for row in getattr(data, name):
            version = row.get("settings_version")
            counts["none" if version is None else str(version)] += 1
        if counts:
            found[name] = dict(sorted(counts.items(), key=lambda item: (item[0] == "none", item[0].zfill(9))))
    return found
