"""Toxicity and DLT tables of issue 12 (CLINICAL_SPEC §1–§4, §3.1), pure functions of the run's
snapshot rows (`endpoints.tables.CutData`); no queries, no clock.

- CRS and ICANS (§1.3, §2.3): per infused subject the episodes with onset day 0–90 (endpoint 1)
  and on or before the cut-off; an episode's grade is the adjudicated one when present, else
  the derived one. An episode still running at the cut-off is cut there: its duration ends at
  the cut-off and its (unadjudicated) grade is the maximum daily grade of the assessments dated
  on or before it. Incidence, maximum-grade distribution, onset day of the first episode and
  the duration of every episode (median, range), and tocilizumab / corticosteroid started
  during an episode (con-med category, §1.2 b) among the subjects with the syndrome.
- ICAHT (§4.1): graded again by `clinical.icaht` from the stored ANC inputs dated on or before
  the cut-off (late ICAHT ignores values from the first relapse on).
- IEC-HS (§4.2): the investigator's grade, worst per subject. GvHD (§4.3): the MAGIC overall
  grade, worst per subject.
- DLT (§3.1): per dose level the DLT-evaluable set at the cut-off (`clinical.dlt.dlt_evaluable`),
  confirmed DLTs among the evaluable with the exact CI, candidates awaiting adjudication and
  the 3+3 decision (`clinical.dlt.escalation_decision`); candidates as adjudicated at the
  snapshot.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from clinical import dlt as dlt_rules
from clinical import icaht as icaht_rules
from clinical.escalation import LevelCount, cleared_by_three_plus_three, recommended_dose
from endpoints.courses import by_subject
from endpoints.tables import (
    EXPOSURE_COLUMNS,
    PROPORTION_COLUMNS,
    TEAE_LAST_DAY,
    CutData,
    Population,
    proportion,
    summary,
)

GRADES = (1, 2, 3, 4, 5)
EMPTY = {"median": "", "min": "", "max": "", "unit": ""}


def _episodes(
    data: CutData, pop: Population, episodes: list[dict[str, Any]], assessments: list[dict[str, Any]]
) -> dict[int, list[tuple[date, int, int]]]:
    """Per infused subject: (onset date, grade, duration in days) of each episode in the cut."""
    daily: dict[int, dict[date, int]] = defaultdict(dict)
    for row in assessments:
        if row["grade"] is not None and row.get("evaluable", True) is not False:
            day = daily[row["subject_id"]]
            day[row["assessment_date"]] = max(day.get(row["assessment_date"], 0), row["grade"])
    found: dict[int, list[tuple[date, int, int]]] = defaultdict(list)
    for ep in episodes:
        pk = ep["subject_id"]
        if pk not in pop.infused or ep["superseded"] or ep["onset_date"] > data.cutoff:
            continue
        if not 0 <= (ep["onset_date"] - pop.day0[pk]).days <= TEAE_LAST_DAY:
            continue
        last = min(ep["last_date"], data.cutoff)
        grade = ep["adjudicated_grade"]
        if grade is None:
            grade = ep["derived_grade"]
            if ep["last_date"] > data.cutoff:
                seen = [g for d, g in daily[pk].items() if ep["onset_date"] <= d <= last]
                grade = max(seen, default=grade)
        found[pk].append((ep["onset_date"], grade, (last - ep["onset_date"]).days + 1))
    for rows in found.values():
        rows.sort()
    return found


def _treated(data: CutData, pop: Population, episodes: list[dict[str, Any]], category: str, subjects: set[int]) -> int:
    """Subjects given a con-med of `category` starting within one of their episodes (onset to the
    last grade ≥ 1 day, both included, cut at the cut-off)."""
    spans: dict[int, list[tuple[date, date]]] = defaultdict(list)
    for ep in episodes:
        if ep["subject_id"] in subjects and not ep["superseded"] and ep["onset_date"] <= data.cutoff:
            spans[ep["subject_id"]].append((ep["onset_date"], min(ep["last_date"], data.cutoff)))
    treated = set()
    for med in data.conmeds:
        pk = med["subject_id"]
        if med["category"] == category and any(first <= med["start_date"] <= last for first, last in spans[pk]):
            treated.add(pk)
    return len(treated)


def _syndrome_table(
    data: CutData,
    pop: Population,
    *,
    key: str,
    title: str,
    episodes: list[dict[str, Any]],
    assessments: list[dict[str, Any]],
) -> dict[str, Any]:
    total = len(pop.infused)
    found = _episodes(data, pop, episodes, assessments)
    worst = {pk: max(grade for _onset, grade, _days in rows) for pk, rows in found.items()}
    with_syndrome = set(worst)
    rows = [{**proportion("any", len(worst), total, "infused"), **EMPTY}]
    for grade in GRADES:
        n = sum(1 for g in worst.values() if g == grade)
        rows.append({**proportion("max_grade", n, total, "infused", f"grade_{grade}"), **EMPTY})
    severe = sum(1 for g in worst.values() if g >= 3)
    rows.append({**proportion("grade_3_or_higher", severe, total, "infused"), **EMPTY})
    onset = summary(((rows_[0][0] - pop.day0[pk]).days for pk, rows_ in found.items()), 1)
    rows.append(
        {
            **proportion("onset_day", onset["n"], total, "infused", "first_episode"),
            "median": onset["median"],
            "min": onset["min"],
            "max": onset["max"],
            "unit": "days",
        }
    )
    durations = [days for rows_ in found.values() for _onset, _grade, days in rows_]
    duration = summary(durations, 1)
    rows.append(
        {
            "category": "duration_days",
            "detail": "every_episode",
            "n": duration["n"],
            "N": "",
            "population": "episodes",
            "percent": "",
            "ci_lower": "",
            "ci_upper": "",
            "median": duration["median"],
            "min": duration["min"],
            "max": duration["max"],
            "unit": "days",
        }
    )
    population = f"infused with {key.removesuffix('_summary')}"
    for category in ("tocilizumab", "corticosteroid"):
        n = _treated(data, pop, episodes, category, with_syndrome)
        rows.append({**proportion(category, n, len(with_syndrome), population, "during_episode"), **EMPTY})
    return {"key": key, "title": title, "population": "infused", "columns": EXPOSURE_COLUMNS, "rows": rows}


def crs_summary(data: CutData, pop: Population) -> dict[str, Any]:
    """CRS (ASTCT, §1), day 0–90: incidence, maximum grade, onset, duration, tocilizumab, steroids."""
    return _syndrome_table(
        data,
        pop,
        key="crs_summary",
        title="Cytokine release syndrome (ASTCT), day 0-90",
        episodes=data.crs_episodes,
        assessments=data.crs_assessments,
    )


def icans_summary(data: CutData, pop: Population) -> dict[str, Any]:
    """ICANS (ASTCT, §2), day 0–90: incidence, maximum grade, onset, duration, tocilizumab, steroids."""
    return _syndrome_table(
        data,
        pop,
        key="icans_summary",
        title="ICANS (ASTCT), day 0-90",
        episodes=data.icans_episodes,
        assessments=data.icans_assessments,
    )


def _grade_rows(
    worst: dict[int, int], total: int, grades: tuple[int, ...], labels: dict[int, str]
) -> list[dict[str, Any]]:
    rows = [proportion("any", sum(1 for g in worst.values() if g >= 1), total, "infused")]
    for grade in grades:
        n = sum(1 for g in worst.values() if g == grade)
        rows.append(proportion("max_grade", n, total, "infused", labels[grade]))
    rows.append(proportion("grade_3_or_higher", sum(1 for g in worst.values() if g >= 3), total, "infused"))
    return rows


def icaht(data: CutData, pop: Population) -> dict[str, Any]:
    """Early (day 0–30) and late (> day 30) ICAHT grades (§4.1) from the ANC values in the cut;
    subjects without an ANC value in the period are "not assessed"."""
    total = len(pop.infused)
    first_relapse: dict[int, int] = {}
    for relapse in data.relapses:
        pk = relapse["subject_id"]
        if pk in pop.infused and relapse["relapse_date"] <= data.cutoff:
            day = (relapse["relapse_date"] - pop.day0[pk]).days
            first_relapse[pk] = min(day, first_relapse.get(pk, day))
    early: dict[int, int] = {}
    late: dict[int, int] = {}
    for row in data.icaht:
        pk = row["subject_id"]
        if pk not in pop.infused:
            continue
        series = [
            icaht_rules.AncValue(day=int(v["day"]), anc=Decimal(v["anc"]))
            for v in row["inputs"]
            if date.fromisoformat(v["date"]) <= data.cutoff
        ]
        early_grade = icaht_rules.early_icaht(series).grade
        if early_grade is not None:
            early[pk] = early_grade
        late_grade = icaht_rules.late_icaht(series, relapse_day=first_relapse.get(pk)).grade
        if late_grade is not None:
            late[pk] = late_grade
    rows = []
    labels = {g: f"grade_{g}" for g in GRADES}
    for period, worst in (("early", early), ("late", late)):
        for row in _grade_rows(worst, total, (1, 2, 3, 4), labels):
            rows.append({**row, "category": f"icaht_{period}_{row['category']}"})
        rows.append(proportion(f"icaht_{period}_not_assessed", total - len(worst), total, "infused"))
    return {
        "key": "icaht",
        "title": "Immune effector cell-associated haematotoxicity (ICAHT, EHA/EBMT)",
        "population": "infused",
        "columns": PROPORTION_COLUMNS,
        "rows": rows,
    }


def iec_hs(data: CutData, pop: Population) -> dict[str, Any]:
    """IEC-HS (§4.2): subjects with IEC-HS present (onset on or before the cut-off) by the worst
    grade the investigator recorded."""
    worst: dict[int, int] = {}
    for row in data.iec_hs:
        pk = row["subject_id"]
        if pk not in pop.infused or not row["present"] or row["assessment_date"] > data.cutoff:
            continue
        if row["onset_date"] is None or row["onset_date"] > data.cutoff or row["grade"] is None:
            continue
        worst[pk] = max(worst.get(pk, 0), row["grade"])
    return {
        "key": "iec_hs",
        "title": "IEC-HS (ASTCT), investigator grade",
        "population": "infused",
        "columns": PROPORTION_COLUMNS,
        "rows": _grade_rows(worst, len(pop.infused), GRADES, {g: f"grade_{g}" for g in GRADES}),
    }


MAGIC = {1: "grade_I", 2: "grade_II", 3: "grade_III", 4: "grade_IV"}


def gvhd(data: CutData, pop: Population) -> dict[str, Any]:
    """Acute GvHD (MAGIC, §4.3): subjects by their worst overall grade staged from day 0 to the
    cut-off; "grade_3_or_higher" is grade III–IV."""
    worst: dict[int, int] = {}
    for row in data.gvhd:
        pk = row["subject_id"]
        if pk not in pop.infused or row["overall_grade"] is None:
            continue
        if pop.day0[pk] <= row["assessment_date"] <= data.cutoff:
            worst[pk] = max(worst.get(pk, 0), row["overall_grade"])
    return {
        "key": "gvhd",
        "title": "Acute GvHD (MAGIC), maximum overall grade",
        "population": "infused",
        "columns": PROPORTION_COLUMNS,
        "rows": _grade_rows(worst, len(pop.infused), (1, 2, 3, 4), MAGIC),
    }


# --- DLT -----------------------------------------------------------------------------------------

DLT_COLUMNS = [
    "dose_level",
    "enrolled",
    "infused",
    "evaluable",
    "in_window",
    "to_replace",
    "awaiting",
    "dlt",
    "percent",
    "ci_lower",
    "ci_upper",
    "decision",
    "pending",
    "recommended_dose",
]
CANDIDATE_COLUMNS = ["subject", "dose_level", "criterion", "onset_day", "status", "evaluability"]


def dlt_status(data: CutData, pop: Population) -> dict[int, dlt_rules.EvaluableStatus]:
    """Each enrolled subject's DLT-evaluable status at the cut-off (§3.1)."""
    cutoff = data.cutoff
    window = data.choices.dlt_window_days
    first_infusion: dict[int, dict[str, Any]] = {}
    for row in sorted(data.infusions, key=lambda r: (r["infusion_start"], r["id"])):
        if row["subject_id"] in pop.infused and row["subject_id"] not in first_infusion:
            first_infusion[row["subject_id"]] = row
    confirmed: dict[int, int] = {}
    for c in data.dlt_candidates:
        pk = c["subject_id"]
        if pk not in pop.infused or c["withdrawn"] or c["status"] != "confirmed":
            continue
        if c["onset_day"] <= (cutoff - pop.day0[pk]).days:
            confirmed[pk] = min(c["onset_day"], confirmed.get(pk, c["onset_day"]))
    left: dict[int, int] = {}

    def leave(pk: int, on: date) -> None:
        day = (on - pop.day0[pk]).days
        left[pk] = min(day, left.get(pk, day))

    for pk in pop.infused:
        version = pop.status.get(pk)
        if version is not None and version["status"] == "withdrawn" and version["status_date"]:
            leave(pk, version["status_date"])
    for d in data.deaths:
        if d["subject_id"] in pop.infused and d["primary_cause"] == "disease" and d["death_date"] <= cutoff:
            leave(d["subject_id"], d["death_date"])
    for t in data.subsequent_therapies:
        pk = t["subject_id"]
        if pk in pop.infused and pop.day0[pk] <= t["start_date"] <= cutoff:
            leave(pk, t["start_date"])
    status: dict[int, dlt_rules.EvaluableStatus] = {}
    for pk in pop.enrolled:
        infusion = first_infusion.get(pk)
        if pk not in pop.infused or infusion is None:
            status[pk] = dlt_rules.dlt_evaluable(infused=False, dose_in_range=None, as_of_day=0, window_days=window)
            continue
        dose, lower = infusion["car_positive_per_kg_e6"], infusion["dose_lower_e6"]
        status[pk] = dlt_rules.dlt_evaluable(
            infused=True,
            dose_in_range=infusion["dose_in_range"],
            dose_below_range=bool(dose is not None and lower is not None and dose < lower),
            as_of_day=(cutoff - pop.day0[pk]).days,
            window_days=window,
            confirmed_dlt_day=confirmed.get(pk),
            left_window_day=left.get(pk),
        )
    return status


def _live_candidates(data: CutData, pop: Population) -> list[dict[str, Any]]:
    return [
        c
        for c in data.dlt_candidates
        if c["subject_id"] in pop.infused
        and not c["withdrawn"]
        and c["onset_day"] <= (data.cutoff - pop.day0[c["subject_id"]]).days
    ]


def dlt_by_dose_level(data: CutData, pop: Population) -> dict[str, Any]:
    """Per dose level: enrolled, infused, DLT-evaluable, still in the window, to replace,
    candidates awaiting adjudication, evaluable subjects with a confirmed DLT (n/N evaluable with
    the exact 95% CI) and the escalation decision ("pending" while candidates await): the 3+3
    part up to six evaluable, the expansion rule beyond, and the MTD / recommended dose."""
    subjects = {row["id"]: row for row in data.subjects}
    status = dlt_status(data, pop)
    candidates = by_subject(_live_candidates(data, pop))
    levels = [level.code for level in data.choices.dose_levels]
    seen = {subjects[pk]["dose_level"] for pk in pop.enrolled if subjects[pk]["dose_level"]}
    codes = levels + sorted(seen - set(levels))
    ordered = sorted(data.choices.dose_levels, key=lambda lv: lv.target_cells_per_kg)
    highest = ordered[-1].code if ordered else None
    rows = []
    counts: list[LevelCount] = []
    for code in codes:
        members = sorted(pk for pk in pop.enrolled if subjects[pk]["dose_level"] == code)
        kinds = [status[pk].status for pk in members]
        evaluable = sorted(
            (pk for pk in members if status[pk].status is dlt_rules.Evaluability.EVALUABLE),
            key=lambda pk: (pop.day0[pk], pk),
        )  # in infusion order: the 3+3 part reads the first six (§3.1)
        had_dlt = [any(c["status"] == "confirmed" for c in candidates.get(pk, [])) for pk in evaluable]
        with_dlt = sum(had_dlt)
        awaiting = sum(1 for pk in members for c in candidates.get(pk, []) if c["status"] == "awaiting")
        share = proportion("dlt", with_dlt, len(evaluable), "evaluable")
        result = dlt_rules.escalation_decision(
            rule=data.choices.escalation_rule,
            evaluable=len(evaluable),
            confirmed_dlts=with_dlt,
            pending_candidates=awaiting,
            is_highest_level=code == highest,
            cleared=cleared_by_three_plus_three(had_dlt),
        )
        counts.append(LevelCount(code, len(evaluable), with_dlt))
        rows.append(
            {
                "dose_level": code,
                "enrolled": len(members),
                "infused": sum(1 for k in kinds if k is not dlt_rules.Evaluability.NOT_INFUSED),
                "evaluable": len(evaluable),
                "in_window": kinds.count(dlt_rules.Evaluability.IN_WINDOW),
                "to_replace": kinds.count(dlt_rules.Evaluability.TO_REPLACE),
                "awaiting": awaiting,
                "dlt": with_dlt,
                "percent": share["percent"],
                "ci_lower": share["ci_lower"],
                "ci_upper": share["ci_upper"],
                "decision": result.decision.value,
                "pending": "yes" if result.pending else "no",
            }
        )
    in_dose_order = [lv.code for lv in ordered]
    mtd = recommended_dose(sorted(counts, key=lambda c: in_dose_order.index(c.code) if c.code in in_dose_order else -1))
    for row in rows:
        row["recommended_dose"] = "yes" if row["dose_level"] == mtd else "no"
    return {
        "key": "dlt_by_dose_level",
        "title": "Dose-limiting toxicities by dose level (DLT-evaluable set)",
        "population": "enrolled",
        "columns": DLT_COLUMNS,
        "rows": rows,
    }


def dlt_candidates(data: CutData, pop: Population) -> dict[str, Any]:
    """Every DLT candidate flagged in the window, with its adjudication at the snapshot and the
    subject's DLT-evaluable status at the cut-off (withdrawn candidates left out)."""
    subjects = {row["id"]: row for row in data.subjects}
    status = dlt_status(data, pop)
    rows = []
    for c in _live_candidates(data, pop):
        pk = c["subject_id"]
        evaluability = status[pk]
        rows.append(
            {
                "subject": pop.label[pk],
                "dose_level": subjects[pk]["dose_level"],
                "criterion": c["criterion"],
                "onset_day": c["onset_day"],
                "status": c["status"],
                "evaluability": evaluability.reason.value if evaluability.reason else evaluability.status.value,
            }
        )
    rows.sort(key=lambda r: (r["subject"], r["onset_day"], r["criterion"], r["status"]))
    return {
        "key": "dlt_candidates",
        "title": "DLT candidates and their adjudication",
        "population": "infused",
        "columns": CANDIDATE_COLUMNS,
        "rows": rows,
    }


BUILDERS = (crs_summary, icans_summary, icaht, iec_hs, gvhd, dlt_by_dose_level, dlt_candidates)

__all__ = ["BUILDERS"]
