"""Response and time-to-event tables of issue 12 (CLINICAL_SPEC §5, §6), pure functions of the
run's snapshot rows (`endpoints.tables.CutData`).

Every subject-level fact comes from `endpoints.courses.subject_endpoints` (the derivation the
ADaM datasets share); the estimators are `clinical.survival`'s: Kaplan–Meier with Greenwood
variance and log(−log) 95% intervals, the median by the midpoint-of-flat-step rule with its
Brookmeyer–Crowley interval, and the Aalen–Johansen cumulative incidence with deterministic
ties (a relapse and a death on the same day: the subject's first event is the relapse, §5.3;
all events at one time are counted before the censorings at that time). Numbers leave as
fixed-decimal strings; times as whole days on the Day-0 clock.

Against lifelines (tests/endpoints/test_survival_tables.py): the Kaplan–Meier curve and its
log(−log) bounds agree at every time (lifelines' default interval is also log(−log)). lifelines
departs in two places, so its estimators are not used for the tables: its median is the start of
a flat step at S = 0.5 (ours is the step's midpoint, as R and SAS report; the EFS and DOR tables
of tests/endpoints/test_safety_efficacy_tables.py exercise it), and its AalenJohansenFitter
breaks tied times with random jitter (ours counts every event at a time together, the same on
every run). R's survfit default interval is "log", not "log-log": set conf.type = "log-log" to
compare.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from clinical import response as rules
from clinical import stats, survival
from endpoints.courses import (
    RESPONSE_CATEGORIES,
    SubjectEndpoints,
    endpoints_of,
    post_infusion_assessments,
    visit_window_after,
)
from endpoints.tables import EXPOSURE_COLUMNS, PROPORTION_COLUMNS, CutData, Population, fixed, proportion, summary

KM_COLUMNS = ["time", "at_risk", "events", "censored", "survival", "ci_lower", "ci_upper"]
AT_RISK_COLUMNS = ["month", "day", "at_risk"]
SUMMARY_COLUMNS = ["statistic", "estimate", "ci_lower", "ci_upper", "detail"]
CIF_COLUMNS = ["time", "at_risk", "relapses", "competing", "censored", "incidence", "ci_lower", "ci_upper"]
AT_RISK_MONTHS = range(13)
REMISSION = (rules.Category.CR, rules.Category.CRI)


#: Survival and incidence leave as percent with one decimal, their CI too (issue 30: one number
#: format in all tables, as the n/N tables); the tables holding them say so with this unit.
PERCENT_UNIT = {"probability_unit": "percent"}


def _pct(value: float | None) -> str:
    """A survival or incidence probability in percent, one decimal, halves up ('' for none)."""
    return "" if value is None else stats.percent(value)


def _days(value: float) -> str:
    return str(int(value))


# --- response ------------------------------------------------------------------------------------


def _response_table(key: str, title: str, codes: dict[int, str], total: int) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for code in codes.values():
        counts[code] += 1
    rows = [proportion(category, counts[category], total, "infused") for category in RESPONSE_CATEGORIES]
    return {"key": key, "title": title, "population": "infused", "columns": PROPORTION_COLUMNS, "rows": rows}


def day28_response(data: CutData, pop: Population) -> dict[str, Any]:
    """Day-28 response (§5.3): the best assessment from day 0 to day 28 + the visit's window
    (day 31), assessments after new anti-leukaemic therapy excluded; none → not assessed."""
    found = endpoints_of(data, pop)
    codes = {pk: e.day28_category for pk, e in found.items()}
    return _response_table("day28_response", "Day-28 response", codes, len(pop.infused))


def best_response(data: CutData, pop: Population) -> dict[str, Any]:
    """Best overall response within 1 year (day 365 + the visit's window, day 372), ranked
    CR MRD− > CR MRD+/unknown > CRi MRD− > CRi MRD+/unknown > PR > NR > PD (§5.3)."""
    found = endpoints_of(data, pop)
    codes = {pk: e.best_category for pk, e in found.items()}
    return _response_table("best_response", "Best overall response within 1 year", codes, len(pop.infused))


def in_year_window(
    data: CutData, pop: Population, found: dict[int, SubjectEndpoints]
) -> dict[int, list[dict[str, Any]]]:
    """The assessments the 1-year best response may use: day 0 to day 365 + window, none after
    new therapy, none after the cut-off (§5.3)."""
    window: dict[int, list[dict[str, Any]]] = {}
    for pk, rows in post_infusion_assessments(data, pop).items():
        best = found[pk].best
        therapy = found[pk].course.new_therapy_date
        window[pk] = [
            ma
            for ma in rows
            if ma["assessment_date"] <= best.window_to and (therapy is None or ma["assessment_date"] <= therapy)
        ]
    return window


def mrd_test(row: dict[str, Any]) -> rules.MrdTest:
    return rules.MrdTest(
        method=rules.MrdMethod(row["method"]),
        detected=row["detected"],
        level_pct=row["level_pct"],
        sensitivity=row["sensitivity"],
        cells_analysed=row["cells_analysed"],
    )


def marrow_response(data: CutData, pop: Population) -> dict[str, Any]:
    """Endpoint 2 within 1 year (§5.1, §5.2): morphological remission (marrow blasts below the
    relapse threshold, default < 5%); flow MRD negative at any assessment (MRD not evaluable —
    an assay unable to see the cut-off — counted apart, never negative; also shown among the
    subjects with an evaluable flow result); molecular remission among subjects with a baseline
    molecular marker; ORR = CR + CRi at day 28 and best within 1 year."""
    settings = data.choices.response_settings()
    total = len(pop.infused)
    found = endpoints_of(data, pop)
    window = in_year_window(data, pop, found)
    tests_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for test in data.mrd_tests:
        tests_of[test["assessment_id"]].append(test)
    baseline: dict[int, dict[str, Any]] = {}
    for ma in data.marrow_assessments:
        pk = ma["subject_id"]
        if not (pk in pop.infused and ma["is_baseline"] and ma["assessment_date"] <= data.cutoff):
            continue
        key = (ma["assessment_date"], ma["id"])
        if pk not in baseline or key > (baseline[pk]["assessment_date"], baseline[pk]["id"]):
            baseline[pk] = ma

    def remission(blasts: Decimal) -> bool:
        threshold = settings.relapse_threshold_pct
        return blasts < threshold if settings.relapse_operator == ">=" else blasts <= threshold

    morphological = sum(1 for rows in window.values() if any(remission(ma["marrow_blasts_pct"]) for ma in rows))
    flow: dict[str, int] = defaultdict(int)
    molecular: dict[str, int] = defaultdict(int)
    for pk in sorted(pop.infused):
        tests = [t for ma in window.get(pk, []) for t in tests_of[ma["id"]]]
        statuses = {rules.mrd_test_status(mrd_test(t), settings) for t in tests if t["method"] == "flow"}
        if rules.MrdStatus.NEGATIVE in statuses:
            flow["negative"] += 1
        elif rules.MrdStatus.POSITIVE in statuses:
            flow["positive"] += 1
        elif statuses:
            flow["not_evaluable"] += 1
        else:
            flow["not_tested"] += 1
        base = [mrd_test(t) for t in tests_of[baseline[pk]["id"]]] if pk in baseline else []
        result = rules.molecular_remission(baseline=base, tests=[mrd_test(t) for t in tests], settings=settings)
        molecular[result.value] += 1
    evaluable = flow["negative"] + flow["positive"]
    with_marker = total - molecular["no_marker"]
    day28_orr = sum(1 for e in found.values() if e.day28.responder)
    best_orr = sum(1 for e in found.values() if e.best.responder)
    rows = [
        proportion("morphological_remission", morphological, total, "infused"),
        proportion("flow_mrd_negative", flow["negative"], total, "infused"),
        proportion("flow_mrd_negative", flow["negative"], evaluable, "infused, flow MRD evaluable", "of_evaluable"),
        proportion("flow_mrd_positive", flow["positive"], total, "infused"),
        proportion("flow_mrd_not_evaluable", flow["not_evaluable"], total, "infused"),
        proportion("flow_mrd_not_tested", flow["not_tested"], total, "infused"),
        proportion("molecular_remission", molecular["achieved"], with_marker, "infused with a molecular marker"),
        proportion(
            "molecular_remission",
            molecular["not_achieved"],
            with_marker,
            "infused with a molecular marker",
            "not_achieved",
        ),
        proportion(
            "molecular_remission",
            molecular["not_evaluable"],
            with_marker,
            "infused with a molecular marker",
            "not_evaluable",
        ),
        proportion("molecular_remission", molecular["no_marker"], total, "infused", "no_marker"),
        proportion("orr", day28_orr, total, "infused", "day_28"),
        proportion("orr", best_orr, total, "infused", "best_1_year"),
    ]
    return {
        "key": "marrow_response",
        "title": "Marrow response within 1 year: remission, MRD, molecular remission, ORR",
        "population": "infused",
        "columns": PROPORTION_COLUMNS,
        "rows": rows,
    }


RELAPSE_SITES = ("site_marrow", "site_blood", "site_cns", "site_other_emd")
CD7_STATUSES = ("positive", "dim", "negative", "unknown", "not_recorded")


def relapses(data: CutData, pop: Population) -> dict[str, Any]:
    """Relapse after CR/CRi (§5.1) among the subjects who reached CR/CRi, with the sites and the
    blasts' CD7 status of the first relapse (§4.4: CD7-negative relapse is a known escape). The
    relapse date is the earliest of the relapse forms and the relapse assessments; a relapse
    known only from an assessment has its site and CD7 status "not recorded"."""
    found = endpoints_of(data, pop)
    responders = {pk: e for pk, e in found.items() if e.records.dor is not None}
    relapsed = {pk: e for pk, e in responders.items() if e.records.dor is not None and e.records.dor.event}
    forms: dict[int, dict[str, Any]] = {}
    for row in sorted(data.relapses, key=lambda r: (r["relapse_date"], r["id"])):
        pk = row["subject_id"]
        if pk in relapsed and pk not in forms:
            dor = relapsed[pk].records.dor
            assert dor is not None
            if dor.origin <= row["relapse_date"] <= data.cutoff:
                forms[pk] = row
    total, population = len(responders), "infused, CR or CRi"
    rows = [proportion("relapse", len(relapsed), total, population)]
    for site in RELAPSE_SITES:
        n = sum(1 for form in forms.values() if form[site])
        rows.append(proportion("relapse_site", n, total, population, site.removeprefix("site_")))
    rows.append(proportion("relapse_site", len(relapsed) - len(forms), total, population, "not_recorded"))
    cd7: dict[str, int] = defaultdict(int)
    for pk in relapsed:
        cd7[forms[pk]["blast_cd7_status"] if pk in forms else "not_recorded"] += 1
    for status in CD7_STATUSES:
        rows.append(proportion("relapse_cd7", cd7[status], len(relapsed), "relapsed", status))
    return {
        "key": "relapses",
        "title": "Relapse after CR/CRi: sites and blast CD7 status",
        "population": population,
        "columns": PROPORTION_COLUMNS,
        "rows": rows,
    }


def hsct(data: CutData, pop: Population) -> dict[str, Any]:
    """Allogeneic HSCT after CAR-T (§5.3): any, consolidative (given in remission), among
    the subjects who reached CR/CRi, by donor, and the day of the first HSCT."""
    found = endpoints_of(data, pop)
    total = len(pop.infused)
    first: dict[int, dict[str, Any]] = {}
    for row in sorted(data.subsequent_therapies, key=lambda r: (r["start_date"], r["id"])):
        pk = row["subject_id"]
        if row["therapy_type"] != "hsct" or pk not in pop.infused or pk in first:
            continue
        if pop.day0[pk] <= row["start_date"] <= data.cutoff:
            first[pk] = row
    consolidative = {pk for pk, row in first.items() if row["consolidative"]}
    responders = {pk for pk, e in found.items() if e.records.dor is not None}
    empty = {"median": "", "min": "", "max": "", "unit": ""}
    rows = [
        {**proportion("hsct", len(first), total, "infused"), **empty},
        {**proportion("consolidative_hsct", len(consolidative), total, "infused"), **empty},
        {
            **proportion(
                "consolidative_hsct",
                len(consolidative & responders),
                len(responders),
                "infused, CR or CRi",
                "in_responders",
            ),
            **empty,
        },
    ]
    donors: dict[str, int] = defaultdict(int)
    for row in first.values():
        donors[row["donor"] or "not_given"] += 1
    for donor in sorted(donors):
        rows.append({**proportion("hsct_donor", donors[donor], len(first), "infused, HSCT", donor), **empty})
    stats = summary(((row["start_date"] - pop.day0[pk]).days for pk, row in first.items()), 1)
    rows.append(
        {
            **proportion("hsct_day", stats["n"], total, "infused"),
            "median": stats["median"],
            "min": stats["min"],
            "max": stats["max"],
            "unit": "days",
        }
    )
    return {
        "key": "hsct",
        "title": "Allogeneic HSCT after CAR-T",
        "population": "infused",
        "columns": EXPOSURE_COLUMNS,
        "rows": rows,
    }


# --- time to event -------------------------------------------------------------------------------

ENDPOINTS = {
    "os": ("Overall survival", "infused"),
    "efs": ("Event-free survival", "infused"),
    "rfs": ("Relapse-free survival", "infused, CR or CRi"),
    "dor": ("Duration of response", "infused, CR or CRi"),
}


def observations(
    data: CutData, pop: Population, endpoint: str, *, sensitivity: bool = False
) -> list[survival.Observation]:
    """The subjects' (time, event) of one endpoint, in subject order (§5.3 days, no +1); with
    `sensitivity`, HSCT handled as in the §5.3 sensitivity analysis."""
    found = endpoints_of(data, pop)
    out = []
    for pk in sorted(found):
        records = found[pk].sensitivity if sensitivity else found[pk].records
        record = getattr(records, endpoint)
        if record is not None:
            out.append(record.as_observation())
    return out


def _km(data: CutData, pop: Population, endpoint: str) -> survival.KaplanMeier | None:
    key = f"km_{endpoint}"
    if key not in pop.cache:
        found = observations(data, pop, endpoint)
        pop.cache[key] = survival.kaplan_meier(found) if found else None
    km: survival.KaplanMeier | None = pop.cache[key]
    return km


def _km_table(endpoint: str) -> Any:
    title, population = ENDPOINTS[endpoint]

    def build(data: CutData, pop: Population) -> dict[str, Any]:
        km = _km(data, pop, endpoint)
        rows = [
            {
                "time": _days(row.time),
                "at_risk": row.at_risk,
                "events": row.events,
                "censored": row.censored,
                "survival": _pct(row.survival),
                "ci_lower": _pct(row.lower),
                "ci_upper": _pct(row.upper),
            }
            for row in (km.rows if km is not None else ())
        ]
        return {
            "key": f"{endpoint}_km",
            "title": f"{title}: Kaplan-Meier estimate (Greenwood, log(-log) 95% CI)",
            "population": population,
            "columns": KM_COLUMNS,
            "rows": rows,
            **PERCENT_UNIT,
        }

    build.__name__ = f"{endpoint}_km"
    build.__doc__ = f"{title}: S(t) at each distinct time, S = 1 before the first (§6)."
    return build


def _one_year(data: CutData) -> tuple[float, str]:
    days = data.choices.days_per_year
    return float(days), f"S({days})"


def _summary_table(endpoint: str) -> Any:
    title, population = ENDPOINTS[endpoint]

    def build(data: CutData, pop: Population) -> dict[str, Any]:
        km = _km(data, pop, endpoint)
        found = observations(data, pop, endpoint)
        events = sum(1 for o in found if o.event)
        rows: list[dict[str, Any]] = [
            {"statistic": "subjects", "estimate": str(len(found)), "ci_lower": "", "ci_upper": "", "detail": ""},
            {"statistic": "events", "estimate": str(events), "ci_lower": "", "ci_upper": "", "detail": ""},
            {
                "statistic": "censored",
                "estimate": str(len(found) - events),
                "ci_lower": "",
                "ci_upper": "",
                "detail": "",
            },
        ]
        year, label = _one_year(data)
        at = km.at(year) if km is not None else None
        rows.append(
            {
                "statistic": "survival_365",
                "estimate": "" if at is None else _pct(at.survival),
                "ci_lower": "" if at is None else _pct(at.lower),
                "ci_upper": "" if at is None else _pct(at.upper),
                "detail": label if at is not None else ("beyond follow-up" if km is not None else "no subjects"),
            }
        )
        median = km.median() if km is not None else None
        if median is None or median.estimate is None:
            estimate, detail = "", "not reached" if median is not None else "no subjects"
        else:
            estimate, detail = fixed(Decimal(repr(median.estimate)), 1), "midpoint-of-flat-step"
        rows.append(
            {
                "statistic": "median_days",
                "estimate": estimate,
                "ci_lower": "" if median is None or median.lower is None else fixed(Decimal(repr(median.lower)), 1),
                "ci_upper": "" if median is None or median.upper is None else fixed(Decimal(repr(median.upper)), 1),
                "detail": detail,
            }
        )
        return {
            "key": f"{endpoint}_summary",
            "title": f"{title}: summary (median by the midpoint rule, Brookmeyer-Crowley 95% CI)",
            "population": population,
            "columns": SUMMARY_COLUMNS,
            "rows": rows,
            **PERCENT_UNIT,
        }

    build.__name__ = f"{endpoint}_summary"
    build.__doc__ = f"{title}: subjects, events, S at 1 year with its CI, median with its CI (§6)."
    return build


os_km, efs_km, rfs_km, dor_km = (_km_table(e) for e in ENDPOINTS)
os_summary, efs_summary, rfs_summary, dor_summary = (_summary_table(e) for e in ENDPOINTS)


def month_day(month: int) -> int:
    """The day of month `month` on the Day-0 clock: round(month × 30.4375), halves up (§5.3)."""
    return int((Decimal(month) * Decimal(str(survival.DAYS_PER_MONTH))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def os_at_risk(data: CutData, pop: Population) -> dict[str, Any]:
    """Numbers at risk of the OS curve at months 0–12: subjects whose follow-up reaches the day."""
    found = observations(data, pop, "os")
    rows = []
    for month in AT_RISK_MONTHS:
        at = month_day(month)
        rows.append({"month": str(month), "day": str(at), "at_risk": sum(1 for o in found if o.time >= at)})
    return {
        "key": "os_at_risk",
        "title": "Overall survival: numbers at risk by month",
        "population": "infused",
        "columns": AT_RISK_COLUMNS,
        "rows": rows,
    }


AT_RISK_CURVES = ("os", "efs", "rfs", "dor", "relapse_cif")


def at_risk(data: CutData, pop: Population) -> dict[str, Any]:
    """Numbers at risk of every curve (OS, EFS, RFS, DOR Kaplan–Meier and the relapse
    cumulative incidence) at the same time points, months 0–12 on the Day-0 clock: subjects
    whose follow-up of that curve reaches the day (an event or censoring on the day counts)."""
    times: dict[str, list[float]] = {e: [o.time for o in observations(data, pop, e)] for e in AT_RISK_CURVES[:-1]}
    found = endpoints_of(data, pop)
    times["relapse_cif"] = [found[pk].records.competing.time for pk in sorted(found)]
    rows = []
    for month in AT_RISK_MONTHS:
        day = month_day(month)
        row: dict[str, Any] = {"month": str(month), "day": str(day)}
        for curve in AT_RISK_CURVES:
            row[curve] = sum(1 for t in times[curve] if t >= day)
        rows.append(row)
    return {
        "key": "at_risk",
        "title": "Numbers at risk of every curve by month",
        "population": "infused",
        "columns": ["month", "day", *AT_RISK_CURVES],
        "rows": rows,
    }


def _cif(data: CutData, pop: Population) -> survival.CumulativeIncidence | None:
    if "cif_relapse" not in pop.cache:
        found = endpoints_of(data, pop)
        competing = [found[pk].records.competing for pk in sorted(found)]
        pop.cache["cif_relapse"] = survival.aalen_johansen(competing) if competing else None
    cif: survival.CumulativeIncidence | None = pop.cache["cif_relapse"]
    return cif


def relapse_cif(data: CutData, pop: Population) -> dict[str, Any]:
    """Cumulative incidence of relapse from infusion with non-relapse death competing,
    Aalen–Johansen (never 1 − KM, §5.3). Relapse and death on the same day: relapse is the
    first event. 95% CI on the log scale from the infinitesimal-jackknife variance (as R's
    survfit for multi-state data; `clinical.survival.aalen_johansen`); "" while F = 0."""
    cif = _cif(data, pop)
    rows = [
        {
            "time": _days(row.time),
            "at_risk": row.at_risk,
            "relapses": row.events,
            "competing": row.competing_events,
            "censored": row.censored,
            "incidence": _pct(row.incidence),
            "ci_lower": _pct(row.lower),
            "ci_upper": _pct(row.upper),
        }
        for row in (cif.rows if cif is not None else ())
    ]
    return {
        "key": "relapse_cif",
        "title": "Cumulative incidence of relapse, non-relapse death competing "
        "(Aalen-Johansen, infinitesimal-jackknife variance, log 95% CI)",
        "population": "infused",
        "columns": CIF_COLUMNS,
        "rows": rows,
        **PERCENT_UNIT,
    }


def relapse_cif_summary(data: CutData, pop: Population) -> dict[str, Any]:
    """Subjects, relapses, competing non-relapse deaths and the incidence of relapse at 1 year."""
    cif = _cif(data, pop)
    year, _label = _one_year(data)
    found = cif.interval_at(year) if cif is not None else None
    at = found.incidence if found is not None else None
    relapsed = sum(row.events for row in cif.rows) if cif is not None else 0
    competing = sum(row.competing_events for row in cif.rows) if cif is not None else 0
    subjects = cif.rows[0].at_risk if cif is not None else 0
    blank = {"ci_lower": "", "ci_upper": ""}
    rows = [
        {"statistic": "subjects", "estimate": str(subjects), **blank, "detail": ""},
        {"statistic": "relapses", "estimate": str(relapsed), **blank, "detail": ""},
        {"statistic": "competing_deaths", "estimate": str(competing), **blank, "detail": ""},
        {
            "statistic": "incidence_365",
            "estimate": _pct(at),
            "ci_lower": "" if found is None else _pct(found.lower),
            "ci_upper": "" if found is None else _pct(found.upper),
            "detail": f"F({data.choices.days_per_year})" if at is not None else "beyond follow-up",
        },
    ]
    return {
        "key": "relapse_cif_summary",
        "title": "Cumulative incidence of relapse: summary",
        "population": "infused",
        "columns": SUMMARY_COLUMNS,
        "rows": rows,
        **PERCENT_UNIT,
    }


SENSITIVITY_COLUMNS = ["endpoint", *SUMMARY_COLUMNS]


def hsct_sensitivity(data: CutData, pop: Population) -> dict[str, Any]:
    """§5.3 sensitivity analysis: OS, EFS, RFS and DOR (events, S at 1 year, median) and the
    cumulative incidence of relapse with follow-up censored at the first HSCT — or, when the
    protocol censors at HSCT in the primary analysis, not censored."""
    censored = not data.choices.hsct_censored_in_primary
    detail = "censored at HSCT" if censored else "not censored at HSCT"
    year, label = _one_year(data)
    rows: list[dict[str, Any]] = []
    for endpoint in ENDPOINTS:
        found = observations(data, pop, endpoint, sensitivity=True)
        km = survival.kaplan_meier(found) if found else None
        at = km.at(year) if km is not None else None
        median = km.median() if km is not None else None
        rows.append(
            {
                "endpoint": endpoint,
                "statistic": "events",
                "estimate": str(sum(1 for o in found if o.event)),
                "ci_lower": "",
                "ci_upper": "",
                "detail": detail,
            }
        )
        rows.append(
            {
                "endpoint": endpoint,
                "statistic": "survival_365",
                "estimate": "" if at is None else _pct(at.survival),
                "ci_lower": "" if at is None else _pct(at.lower),
                "ci_upper": "" if at is None else _pct(at.upper),
                "detail": label if at is not None else "beyond follow-up",
            }
        )
        reached = median is not None and median.estimate is not None
        rows.append(
            {
                "endpoint": endpoint,
                "statistic": "median_days",
                "estimate": fixed(Decimal(repr(median.estimate)), 1) if median and median.estimate is not None else "",
                "ci_lower": fixed(Decimal(repr(median.lower)), 1) if median and median.lower is not None else "",
                "ci_upper": fixed(Decimal(repr(median.upper)), 1) if median and median.upper is not None else "",
                "detail": detail if reached else "not reached",
            }
        )
    found_endpoints = endpoints_of(data, pop)
    competing = [found_endpoints[pk].sensitivity.competing for pk in sorted(found_endpoints)]
    cif = survival.aalen_johansen(competing) if competing else None
    interval = cif.interval_at(year) if cif is not None else None
    incidence = interval.incidence if interval is not None else None
    rows.append(
        {
            "endpoint": "relapse_cif",
            "statistic": "incidence_365",
            "estimate": _pct(incidence),
            "ci_lower": "" if interval is None else _pct(interval.lower),
            "ci_upper": "" if interval is None else _pct(interval.upper),
            "detail": detail if incidence is not None else "beyond follow-up",
        }
    )
    return {
        "key": "hsct_sensitivity",
        "title": "Time to event, sensitivity analysis for HSCT",
        "population": "infused",
        "columns": SENSITIVITY_COLUMNS,
        "rows": rows,
        **PERCENT_UNIT,
    }


BUILDERS = (
    day28_response,
    best_response,
    marrow_response,
    relapses,
    hsct,
    os_km,
    os_at_risk,
    os_summary,
    efs_km,
    efs_summary,
    rfs_km,
    rfs_summary,
    dor_km,
    dor_summary,
    relapse_cif,
    relapse_cif_summary,
    at_risk,
    hsct_sensitivity,
)

__all__ = ["BUILDERS", "month_day", "observations", "visit_window_after"]
