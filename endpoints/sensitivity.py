"""The sensitivity analysis "re-derive under the settings in force at the cut-off" (issue 30
item 4; DESIGN §4 "an endpoint run uses one settings version for all data").

A derived value is stored under the protocol settings version in force on its form's date, so a
run's inputs may mix versions (the run records which: `EndpointRun.input_settings_versions`).
Asked for it, a run also recomputes in memory — never written back — every settings-dependent
derived input it reads, with the ONE version in force at the clinical cut-off date (the newest
version recorded by the snapshot and effective on or before the cut-off), through the same pure
`clinical/` rules the save path uses:

- CRS assessments: the ASTCT grade within the subject's course (fever masking, §1.2 b, §1.3);
  CRS episodes from that course (grade 5 for the episode a death from CRS ends, §1.1);
- ICANS assessments: the grade and evaluability (§2.2–2.3, the instrument by the age stored with
  the assessment unless one was chosen); ICANS episodes from the course (grade 5 as for CRS);
- MRD tests: the status of each test (§5.2); marrow assessments: the response against the
  baseline before the first lymphodepletion, with the earlier re-derived (or adjudicated)
  remissions, and the MRD status (§5.1).
Everything the tables compute from the run's choices (DLT window, ICAHT grade, year length,
HSCT censoring, response windows) follows the cut-off version too, since the re-derived cut
carries it. Adjudicated grades and responses are the investigator's and are kept; so are the DLT
candidates and their adjudication (the candidate list is the investigator's worklist, detected
from labs the run does not read) — the page says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from adverse_events.derive import icans_settings
from adverse_events.models import CrsAssessment, IcansAssessment
from adverse_events.rules import crs_input, icans_input
from adverse_events.selectors import CONMED_CATEGORIES
from clinical import crs as crs_rules
from clinical import icans as icans_rules
from clinical import response as rules
from clinical.crs import Episode
from clinical.protocol import ProtocolChoices
from endpoints import snapshot
from endpoints.tables import CutData
from response.derive import REMISSION, emd_assessment_of, marrow_rules_response, rule_test
from response.models import MarrowAssessment, MrdTest
from study.models import ProtocolSettings, Study
from subjects.models import Lymphodepletion

#: The derived inputs this analysis recomputes (the rest of the cut is used as read).
REDERIVED = (
    "crs_assessments",
    "crs_episodes",
    "icans_assessments",
    "icans_episodes",
    "marrow_assessments",
    "mrd_tests",
)


@dataclass(frozen=True)
class Rederived:
    data: CutData
    settings_version: int | None
    effective_from: date | None
    #: per re-derived input: rows read, and rows whose derived value differs from the stored one
    changed: dict[str, dict[str, int]]


def settings_at_cutoff(study: Study, *, cutoff: date, at: datetime) -> tuple[int | None, date | None, ProtocolChoices]:
    """The settings version in force at the cut-off date, among those recorded by the snapshot:
    the newest effective on or before the cut-off; the first version when none is yet."""
    versions = snapshot.rows_as_of(ProtocolSettings, at, study_id=study.pk)
    if not versions:
        return None, None, ProtocolChoices()
    effective = [v for v in versions if v["effective_from"] <= cutoff] or [min(versions, key=lambda v: v["version"])]
    chosen = max(effective, key=lambda v: (v["effective_from"], v["version"]))
    return chosen["version"], chosen["effective_from"], ProtocolChoices.from_json(chosen["values"])


def rederive_at_cutoff(study: Study, data: CutData, *, at: datetime) -> Rederived:
    """The run's cut with its derived inputs recomputed under the cut-off's settings version.
    Reads the full rows of the re-derived forms (the run itself reads only the columns its
    tables use) and the lymphodepletion dates, from the same snapshot: one query per model."""
    version, effective_from, choices = settings_at_cutoff(study, cutoff=data.cutoff, at=at)
    ids = [row["id"] for row in data.subjects]
    day0: dict[int, date] = {}
    for row in data.infusions:
        on = row.get("infusion_date")
        if on is not None and (row["subject_id"] not in day0 or on < day0[row["subject_id"]]):
            day0[row["subject_id"]] = on
    changed: dict[str, dict[str, int]] = {}
    crs, crs_episodes = _crs(
        snapshot.rows_as_of(CrsAssessment, at, subject_id__in=ids), data, day0, choices, version, changed
    )
    icans, icans_episodes = _icans(
        snapshot.rows_as_of(IcansAssessment, at, subject_id__in=ids), data, day0, choices, version, changed
    )
    tests = _mrd_tests(snapshot.rows_as_of(MrdTest, at, subject_id__in=ids), choices, version, changed)
    lymphodepletion: dict[int, date] = {}
    for row in snapshot.rows_as_of(Lymphodepletion, at, fields=["subject_id", "start_date"], subject_id__in=ids):
        on = row["start_date"]
        if on is not None and (row["subject_id"] not in lymphodepletion or on < lymphodepletion[row["subject_id"]]):
            lymphodepletion[row["subject_id"]] = on
    marrows = _marrows(
        snapshot.rows_as_of(MarrowAssessment, at, subject_id__in=ids), tests, lymphodepletion, choices, version, changed
    )
    rederived = replace(
        data,
        choices=choices,
        crs_assessments=_columns(crs, data.crs_assessments),
        crs_episodes=crs_episodes,
        icans_assessments=_columns(icans, data.icans_assessments),
        icans_episodes=icans_episodes,
        mrd_tests=_columns(tests, data.mrd_tests),
        marrow_assessments=_columns(marrows, data.marrow_assessments),
    )
    return Rederived(data=rederived, settings_version=version, effective_from=effective_from, changed=changed)


def _columns(rows: list[dict[str, Any]], like: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The full rows cut to the columns the run reads (as in `like`), so the tables see the same
    shape; all columns when the run has no row of that input."""
    if not like:
        return rows
    keys = list(like[0])
    return [{key: row.get(key) for key in keys} for row in rows]


def _count(changed: dict[str, dict[str, int]], name: str, rows: int, differ: int) -> None:
    found = changed.setdefault(name, {"rows": 0, "changed": 0})
    found["rows"] += rows
    found["changed"] += differ


def _by_subject(rows: list[dict[str, Any]], date_field: str) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r[date_field], r["id"])):
        found[row["subject_id"]].append(row)
    return found


def _exposures(data: CutData) -> dict[int, tuple[crs_rules.MedicationExposure, ...]]:
    """The con-meds that may mask fever, per subject (adverse_events.selectors.medication_exposures
    on the snapshot rows)."""
    found: dict[int, list[tuple[date, int, str]]] = defaultdict(list)
    for row in data.conmeds:
        if row["category"] in CONMED_CATEGORIES and row["start_date"] is not None:
            found[row["subject_id"]].append((row["start_date"], row["id"], row["category"]))
    return {
        pk: tuple(
            crs_rules.MedicationExposure(category=CONMED_CATEGORIES[c], start_date=d) for d, _i, c in sorted(rows)
        )
        for pk, rows in found.items()
    }


def _fatal(episodes: tuple[Episode, ...], deaths: list[dict[str, Any]], cause: str) -> tuple[Episode, ...]:
    """adverse_events.services.ae_crs_icans._fatal on snapshot rows: a death from CRS (ICANS) makes the last
    episode begun on or before it grade 5 (§1.1, §2.2)."""
    death = next((d for d in deaths if d.get("primary_cause") == cause), None)
    if death is None:
        return episodes
    before = [e for e in episodes if e.onset_date <= death["death_date"]]
    if not before:
        return episodes
    return tuple(replace(e, grade=5) if e.number == before[-1].number else e for e in episodes)


def _episode_rows(
    subject_id: int,
    episodes: tuple[Episode, ...],
    stored: list[dict[str, Any]],
    version: int | None,
) -> list[dict[str, Any]]:
    """Episode rows as the run reads them; an investigator's adjudicated grade is kept for the
    episode of the same number."""
    adjudicated = {row["number"]: row.get("adjudicated_grade") for row in stored if not row.get("superseded")}
    return [
        {
            "subject_id": subject_id,
            "number": e.number,
            "onset_date": e.onset_date,
            "last_date": e.last_date,
            "derived_grade": e.grade,
            "adjudicated_grade": adjudicated.get(e.number),
            "superseded": False,
            "settings_version": version,
        }
        for e in episodes
    ]


def _numbered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for index, row in enumerate(rows, start=1):
        row.setdefault("id", -index)  # in-memory episodes have no key; negative, never a stored one
    return rows


def _episode_changes(
    changed: dict[str, dict[str, int]], name: str, new: list[dict[str, Any]], stored: list[dict[str, Any]]
) -> None:
    old = {(r["subject_id"], r["number"]): r["derived_grade"] for r in stored if not r.get("superseded")}
    now = {(r["subject_id"], r["number"]): r["derived_grade"] for r in new}
    _count(changed, name, len(new), sum(1 for key in set(old) | set(now) if old.get(key) != now.get(key)))


def _crs(
    rows: list[dict[str, Any]],
    data: CutData,
    day0: dict[int, date],
    choices: ProtocolChoices,
    version: int | None,
    changed: dict[str, dict[str, int]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    settings = choices.crs_settings()
    exposures = _exposures(data)
    deaths = _by_subject(data.deaths, "death_date")
    stored_episodes = _by_subject(data.crs_episodes, "onset_date")
    out: list[dict[str, Any]] = []
    episodes: list[dict[str, Any]] = []
    differ = 0
    for pk, assessments in _by_subject(rows, "assessment_date").items():
        if pk not in day0:
            out.extend(assessments)  # no infusion: no Day-0 clock to grade on, kept as stored
            episodes.extend(stored_episodes.get(pk, []))
            continue
        inputs = tuple(crs_input(SimpleNamespace(**a)) for a in assessments)  # type: ignore[arg-type]
        course = crs_rules.crs_course(
            inputs, infusion_date=day0[pk], exposures=exposures.get(pk, ()), settings=settings
        )
        masked = {d.day: d.fever_masked for d in course.days}
        for assessment, given in zip(assessments, inputs, strict=True):
            grade = crs_rules.grade_crs_assessment(given, fever_masked=masked[assessment["assessment_date"]]).grade
            differ += grade != assessment["grade"]
            out.append({**assessment, "grade": grade, "settings_version": version})
        fatal = _fatal(course.episodes, deaths.get(pk, []), "crs")
        episodes.extend(_episode_rows(pk, fatal, stored_episodes.get(pk, []), version))
    _count(changed, "crs_assessments", len(out), differ)
    _episode_changes(changed, "crs_episodes", episodes, data.crs_episodes)
    out.sort(key=lambda r: r["id"])
    return out, _numbered(episodes)


def _icans(
    rows: list[dict[str, Any]],
    data: CutData,
    day0: dict[int, date],
    choices: ProtocolChoices,
    version: int | None,
    changed: dict[str, dict[str, int]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    settings = icans_settings(choices)
    deaths = _by_subject(data.deaths, "death_date")
    stored_episodes = _by_subject(data.icans_episodes, "onset_date")
    out: list[dict[str, Any]] = []
    episodes: list[dict[str, Any]] = []
    differ = 0
    for pk, assessments in _by_subject(rows, "assessment_date").items():
        if pk not in day0:
            out.extend(assessments)
            episodes.extend(stored_episodes.get(pk, []))
            continue
        inputs = []
        for assessment in assessments:
            form = SimpleNamespace(**assessment)
            given = icans_input(form, age_years=assessment.get("age_years") or 0, settings=settings)  # type: ignore[arg-type]
            graded = icans_rules.grade_icans_assessment(given, settings=settings)
            differ += graded.grade != assessment["grade"] or graded.evaluable != assessment["evaluable"]
            out.append(
                {**assessment, "grade": graded.grade, "evaluable": graded.evaluable, "settings_version": version}
            )
            inputs.append(given)
        course = icans_rules.icans_course(inputs, infusion_date=day0[pk], settings=settings)
        fatal = _fatal(course.episodes, deaths.get(pk, []), "icans")
        episodes.extend(_episode_rows(pk, fatal, stored_episodes.get(pk, []), version))
    _count(changed, "icans_assessments", len(out), differ)
    _episode_changes(changed, "icans_episodes", episodes, data.icans_episodes)
    out.sort(key=lambda r: r["id"])
    return out, _numbered(episodes)


def _mrd_tests(
    rows: list[dict[str, Any]], choices: ProtocolChoices, version: int | None, changed: dict[str, dict[str, int]]
) -> list[dict[str, Any]]:
    settings = choices.response_settings()
    out = []
    differ = 0
    for row in rows:
        status = rules.mrd_test_status(rule_test(SimpleNamespace(**row)), settings).value  # type: ignore[arg-type]
        differ += status != row.get("status")
        out.append({**row, "status": status, "settings_version": version})
    _count(changed, "mrd_tests", len(out), differ)
    return out


def _marrows(
    rows: list[dict[str, Any]],
    tests: list[dict[str, Any]],
    lymphodepletion: dict[int, date],
    choices: ProtocolChoices,
    version: int | None,
    changed: dict[str, dict[str, int]],
) -> list[dict[str, Any]]:
    """response.derive.derive_response on snapshot rows, in date order per subject so that an
    earlier re-derived remission makes returning disease a relapse (§5.1)."""
    settings = choices.response_settings()
    tests_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for test in tests:
        if test.get("assessment_id") is not None:
            tests_of[test["assessment_id"]].append(test)
    out = []
    differ = 0
    for pk, assessments in _by_subject(rows, "assessment_date").items():
        ld = lymphodepletion.get(pk)
        done: list[dict[str, Any]] = []
        for row in assessments:
            found = [rule_test(SimpleNamespace(**t)) for t in tests_of[row["id"]]]  # type: ignore[arg-type]
            mrd = rules.mrd_status(found, settings)
            derived: dict[str, Any] = {"mrd_status": mrd.value if mrd else "", "settings_version": version}
            if ld is None or row["assessment_date"] < ld:
                derived.update(is_baseline=True, response="", marrow_response="", emd_response="")
            else:
                before = [a for a in assessments if a["assessment_date"] < ld]
                baseline = max(before, key=lambda a: (a["assessment_date"], a["id"])) if before else None
                prior = any(
                    (e.get("adjudicated_response") or e["response"]) in REMISSION
                    for e in done
                    if ld <= e["assessment_date"] < row["assessment_date"]
                )
                form = SimpleNamespace(**row)
                base = SimpleNamespace(**baseline) if baseline else None
                marrow = marrow_rules_response(form, base, prior_remission=prior, settings=settings)  # type: ignore[arg-type]
                emd_input = emd_assessment_of(form, base)  # type: ignore[arg-type]
                emd = rules.extramedullary_response(emd_input) if emd_input else None
                overall = rules.overall_response(marrow.category, emd, prior_remission=prior)
                derived.update(
                    is_baseline=False,
                    response=overall.value,
                    marrow_response=marrow.category.value,
                    emd_response=emd.value if emd else "",
                )
            differ += derived["response"] != row.get("response") or derived["mrd_status"] != row.get("mrd_status")
            done.append({**row, **derived})
        out.extend(done)
    _count(changed, "marrow_assessments", len(out), differ)
    out.sort(key=lambda r: r["id"])
    return out


__all__ = ["REDERIVED", "Rederived", "rederive_at_cutoff", "settings_at_cutoff"]
