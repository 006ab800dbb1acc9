"""Each infused subject's response and time-to-event records over a data cut, from the run's
snapshot rows (CLINICAL_SPEC §5.3, §6; DESIGN §5).

`subject_endpoints(data)` is THE per-subject derivation: the endpoint tables (endpoints.
tables_efficacy) read it, and the ADaM ADRS/ADTTE datasets are to be built from exactly the same
function, so a table reproduces from its dataset. It only gathers dated facts from the rows into
`clinical.response.SubjectCourse` and hands them to the pure rules
(`clinical.response.best_overall_response`, `time_to_event_records`): no rule lives here.

Data-cut rules (DESIGN §5, CLINICAL_SPEC §6): only records dated on or before the cut-off are
used. The last date known alive is the latest of the infusion date and the dated records that
show the subject alive — follow-up contacts "alive", marrow, CRS, ICANS, IEC-HS and GvHD
assessments, relapses and the start of subsequent therapy — dated on or before the cut-off (and
not after a recorded death); later contacts never extend follow-up.
Responses are the stored ones, adjudicated where present (DESIGN §4), each derived with the
settings version in force on its assessment date; MRD tests are re-read with the run's settings
(§5.2) for the MRD and molecular-remission tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from clinical import response as rules
from endpoints.tables import CutData, Population, population

#: CLINICAL_SPEC §7 default windows after the day-28 and day-365 visits (the study's schedule wins).
DAY28_WINDOW_DEFAULT = 3
DAY365_WINDOW_DEFAULT = 7
ONE_YEAR_DAY = 365

#: clinical.response.Rank → the category codes of the response tables (contract with #13).
RANK_CODES = {
    rules.Rank.CR_MRD_NEGATIVE: "cr_mrd_negative",
    rules.Rank.CR_MRD_POSITIVE_OR_UNKNOWN: "cr_mrd_positive_or_unknown",
    rules.Rank.CRI_MRD_NEGATIVE: "cri_mrd_negative",
    rules.Rank.CRI_MRD_POSITIVE_OR_UNKNOWN: "cri_mrd_positive_or_unknown",
    rules.Rank.PR: "pr",
    rules.Rank.NR: "nr",
    rules.Rank.PD: "pd",
    rules.Rank.NOT_ASSESSED: "not_assessed",
}
RESPONSE_CATEGORIES = tuple(RANK_CODES[r] for r in sorted(rules.Rank, reverse=True))


def response_code(best: rules.BestResponse) -> str:
    """The table category of a best response (§5.3 ranking; relapse ranks with PD)."""
    if best.best is None:
        return RANK_CODES[rules.Rank.NOT_ASSESSED]
    return RANK_CODES[rules.rank(best.best.category, best.best.mrd)]


@dataclass(frozen=True)
class SubjectEndpoints:
    """One infused subject's endpoints over the cut: the dated course handed to the rules, the
    day-28 response (day 28 + its visit window), the best overall response within 1 year (day
    365 + its window), and the OS/EFS/RFS/DOR/competing-risk records (days, §5.3)."""

    subject_id: int
    label: str
    dose_level: str
    course: rules.SubjectCourse
    day28: rules.BestResponse
    best: rules.BestResponse
    records: rules.TimeToEventRecords
    #: The §5.3 sensitivity analysis: the same records with HSCT handled the other way round
    #: from the primary analysis (by default censored at the first HSCT).
    sensitivity: rules.TimeToEventRecords

    @property
    def day28_category(self) -> str:
        return response_code(self.day28)

    @property
    def best_category(self) -> str:
        return response_code(self.best)


def by_subject(rows: Iterable[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["subject_id"]].append(row)
    return grouped


def visit_window_after(data: CutData, day: int, default: int) -> int:
    """The window after the infusion-anchored visit on `day` in the study's schedule (§7)."""
    for visit in data.visit_definitions:
        if visit["anchor"] == "infusion" and visit["day"] == day:
            return int(visit["window_after"])
    return default


def final_response(assessment: dict[str, Any]) -> str:
    """The response endpoints use: the adjudicated one when present (DESIGN §4)."""
    return str(assessment["adjudicated_response"] or assessment["response"])


def post_infusion_assessments(data: CutData, pop: Population) -> dict[int, list[dict[str, Any]]]:
    """Each infused subject's responded, non-baseline assessments from day 0 to the cut-off, by date."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ma in data.marrow_assessments:
        pk = ma["subject_id"]
        if pk not in pop.infused or ma["is_baseline"] or not final_response(ma):
            continue
        if pop.day0[pk] <= ma["assessment_date"] <= data.cutoff:
            found[pk].append(ma)
    for rows in found.values():
        rows.sort(key=lambda r: (r["assessment_date"], r["id"]))
    return found


def new_therapies(data: CutData, pop: Population) -> dict[int, list[dict[str, Any]]]:
    """Subsequent anti-leukaemic therapies started from day 0 to the cut-off, by date (§5.3)."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for therapy in data.subsequent_therapies:
        pk = therapy["subject_id"]
        if pk in pop.infused and pop.day0[pk] <= therapy["start_date"] <= data.cutoff:
            found[pk].append(therapy)
    for rows in found.values():
        rows.sort(key=lambda r: (r["start_date"], r["therapy_type"]))
    return found


def relapse_forms(data: CutData, pop: Population) -> dict[int, list[dict[str, Any]]]:
    """Relapse forms dated from day 0 to the cut-off, by date."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for relapse in data.relapses:
        pk = relapse["subject_id"]
        if pk in pop.infused and pop.day0[pk] <= relapse["relapse_date"] <= data.cutoff:
            found[pk].append(relapse)
    for rows in found.values():
        rows.sort(key=lambda r: (r["relapse_date"], r["id"]))
    return found


def subject_endpoints(data: CutData, pop: Population | None = None) -> dict[int, SubjectEndpoints]:
    """Every infused subject's day-28 response, best response within 1 year and time-to-event
    records over the cut, keyed by subject id (see the module docstring for the rules)."""
    pop = pop or population(data)
    cutoff = data.cutoff
    day28_after = visit_window_after(data, 28, DAY28_WINDOW_DEFAULT)
    year_after = visit_window_after(data, ONE_YEAR_DAY, DAY365_WINDOW_DEFAULT)
    censor_at_hsct = data.choices.hsct_censored_in_primary
    assessments = post_infusion_assessments(data, pop)
    therapies = new_therapies(data, pop)
    relapses = relapse_forms(data, pop)
    deaths = {d["subject_id"]: d["death_date"] for d in data.deaths if d["subject_id"] in pop.infused}
    alive_on: dict[int, list[date]] = defaultdict(list)
    for contact in data.follow_ups:
        if contact["alive"]:
            alive_on[contact["subject_id"]].append(contact["contact_date"])
    for rows in (data.crs_assessments, data.icans_assessments, data.iec_hs, data.gvhd):
        for row in rows:
            alive_on[row["subject_id"]].append(row["assessment_date"])
    subjects = {row["id"]: row for row in data.subjects}
    out: dict[int, SubjectEndpoints] = {}
    for pk in sorted(pop.infused):
        day0 = pop.day0[pk]
        responses = []
        relapse_dates = {r["relapse_date"] for r in relapses.get(pk, [])}
        for ma in assessments.get(pk, []):
            category = rules.Category(final_response(ma))
            mrd = rules.MrdStatus(ma["mrd_status"]) if ma["mrd_status"] else None
            responses.append(rules.DatedResponse(ma["assessment_date"], category, mrd))
            if category in (rules.Category.RELAPSE, rules.Category.PD):
                relapse_dates.add(ma["assessment_date"])
        started = therapies.get(pk, [])
        hsct = next((t["start_date"] for t in started if t["therapy_type"] == "hsct"), None)
        known_alive = [
            *alive_on.get(pk, []),
            *(r.assessed_on for r in responses),
            *relapse_dates,
            *(t["start_date"] for t in started),
        ]
        death = deaths.get(pk)
        if death is not None:
            known_alive = [d for d in known_alive if d <= death]
        course = rules.SubjectCourse(
            infusion_date=day0,
            last_known_alive=rules.last_known_alive(infusion_date=day0, alive_on=known_alive, cutoff=cutoff),
            responses=tuple(responses),
            relapse_dates=tuple(sorted(relapse_dates)),
            death_date=death,
            hsct_date=hsct,
            new_therapy_date=started[0]["start_date"] if started else None,
        )
        records = rules.time_to_event_records(
            course, cutoff=cutoff, day28_window_after_days=day28_after, censor_at_hsct=censor_at_hsct
        )
        sensitivity = records
        if course.hsct_date is not None and course.hsct_date <= cutoff:
            sensitivity = rules.time_to_event_records(
                course, cutoff=cutoff, day28_window_after_days=day28_after, censor_at_hsct=not censor_at_hsct
            )
        best = rules.best_overall_response(
            responses,
            infusion_date=day0,
            horizon_day=ONE_YEAR_DAY,
            window_after_days=year_after,
            new_therapy_date=course.new_therapy_date,
        )
        out[pk] = SubjectEndpoints(
            subject_id=pk,
            label=pop.label[pk],
            dose_level=subjects[pk]["dose_level"] or "",
            course=course,
            day28=records.day28_response,
            best=best,
            records=records,
            sensitivity=sensitivity,
        )
    return out


def endpoints_of(data: CutData, pop: Population) -> dict[int, SubjectEndpoints]:
    """`subject_endpoints` computed once per run and shared by the tables that read it."""
    found = pop.cache.get("subject_endpoints")
    if found is None:
        found = pop.cache["subject_endpoints"] = subject_endpoints(data, pop)
    return found
