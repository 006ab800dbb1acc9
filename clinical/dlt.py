"""Dose-limiting toxicity (CLINICAL_SPEC §3.1): candidate detection with its exclusions, the
DLT-evaluable status of a subject, and the escalation decision of a dose level.

Pure functions over study days (day 0 = first infusion) and grades; no Django. Grades passed in
are the adjudicated ones where an adjudication exists (§3.1 "grades are the adjudicated ones
where present") — choosing them is the caller's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from clinical.escalation import EscalationResult, dose_level_decision

#: §3.1 haematologic exclusion: every term of this SOC ...
BLOOD_SOC = "Blood and lymphatic system disorders"
#: ... and these terms of SOC "Investigations".
HAEMATOLOGIC_INVESTIGATIONS = frozenset(
    {
        "Neutrophil count decreased",
        "Platelet count decreased",
        "Lymphocyte count decreased",
        "White blood cell decreased",
        "CD4 lymphocytes decreased",
    }
)
#: Terms whose day-28 grade 4 is judged by the haematologic-recovery rule (§3.1).
RECOVERY_TERMS = ("Neutrophil count decreased", "Platelet count decreased")
#: CRS and ICANS are judged by their own rules, not as "any other AE" (§3.1).
CRS_TERM = "Cytokine release syndrome"
#: "not back to ≤ 1 within 7 days" (§3.1).
RECOVERY_DAYS = 7
#: CRS/ICANS grade 3 must last this many consecutive assessed days (§3.1).
GRADE3_RUN_DAYS = 4
#: Day-28 marrow blasts below this (%) make persisting grade-4 cytopenia a candidate (§3.1).
MARROW_BLAST_LIMIT = Decimal(5)

#: The findings the rules write, as message ids with named parameters (issue 25 item 3): a
#: candidate stores the id and its parameters, and a page renders them in the reader's language
#: (adverse_events/dlt_text.py marks the same ids for translation).
FINDING_SYNDROME_G4 = "%(what)s grade 4 on day %(day)s"
FINDING_SYNDROME_G3_RUN = "%(what)s grade 3 on %(run)s consecutive days from day %(start)s"
FINDING_GVHD = "Acute GvHD overall grade %(roman)s"
FINDING_CYTOPENIA_AWAITING = "%(term)s grade 4 at the day-%(window)s assessment (awaiting marrow)"
FINDING_CYTOPENIA = "%(term)s grade 4 at the day-%(window)s assessment, marrow blasts %(blasts)s%%"
FINDING_OTHER_AE = "%(term)s grade %(grade)s from day %(day)s, not back to grade ≤ 1 within %(days)s days"
FINDING_DEATH = "Death on day %(day)s, not from progression"
FINDINGS = (
    FINDING_SYNDROME_G4,
    FINDING_SYNDROME_G3_RUN,
    FINDING_GVHD,
    FINDING_CYTOPENIA_AWAITING,
    FINDING_CYTOPENIA,
    FINDING_OTHER_AE,
    FINDING_DEATH,
)


class Criterion(Enum):
    CRS = "crs"
    ICANS = "icans"
    GVHD = "gvhd"
    CYTOPENIA = "cytopenia"
    OTHER_AE = "other_ae"
    DEATH = "death"


@dataclass(frozen=True)
class Candidate:
    """One DLT candidate the system flags; `key` identifies it across recomputations."""

    criterion: Criterion
    key: str
    onset_day: int
    code: str  # one of FINDINGS
    params: Mapping[str, str | int] = field(default_factory=dict)
    awaiting_marrow: bool = False

    @property
    def description(self) -> str:
        """The finding in English (the message id filled in)."""
        return self.code % dict(self.params)


@dataclass(frozen=True)
class AeCourse:
    """An AE as the DLT rule sees it: term, SOC, (adjudicated) maximum grade, onset study day,
    and the study day it was back to grade ≤ 1 (its resolution, or the dated course's first
    change to ≤ 1 after it reached grade ≥ 3), None while it is not. `severe_from_day` is the
    study day its course reached grade ≥ 3 (the 7 days count from there; the onset day when
    the AE had one grade throughout)."""

    ae_id: int
    term: str
    soc: str
    grade: int
    onset_day: int
    back_to_grade1_day: int | None
    from_crs_or_icans: bool = False
    severe_from_day: int | None = None


@dataclass(frozen=True)
class Day28Counts:
    """Haematologic recovery at the day-28 assessment (§3.1): the last neutrophil and platelet
    CTCAE grades dated on or before day 28 plus the visit window, and the day-28 marrow blasts
    (None while no marrow exists)."""

    neutrophil_grade: int | None
    platelet_grade: int | None
    marrow_blasts_pct: Decimal | None


def is_haematologic(term: str, soc: str) -> bool:
    """§3.1: every term of SOC Blood and lymphatic system disorders, and the five count terms
    of SOC Investigations."""
    return soc == BLOOD_SOC or term in HAEMATOLOGIC_INVESTIGATIONS


def longest_run(daily_grades: Mapping[int, int], *, at_least: int, first_day: int, last_day: int) -> tuple[int, int]:
    """Longest run of consecutive study days inside [first_day, last_day] each assessed with a
    grade ≥ `at_least`: returns (length, start day); (0, first_day) without any. A day without
    an assessment breaks the run (it is not an assessed day)."""
    best, best_start, run, start = 0, first_day, 0, first_day
    previous: int | None = None
    for day in sorted(d for d in daily_grades if first_day <= d <= last_day):
        if daily_grades[day] >= at_least:
            if run and previous == day - 1:
                run += 1
            else:
                run, start = 1, day
            if run > best:
                best, best_start = run, start
        else:
            run = 0
        previous = day
    return best, best_start


def syndrome_rule_input(study_day: int | None, grade: int | None) -> tuple[int, int] | None:
    """What one CRS or ICANS assessment gives the syndrome rule (§3.1): its study day and its
    grade capped at 4 when the grade is 3 or more, else None. The rule reads only which assessed
    days reach grade 4 and which reach grade 3 (a day of a lower grade breaks a run exactly as a
    day without an assessment does, `longest_run`), so a change that leaves every assessment's
    value of this function as it was cannot change a candidate (issue 22: the DLT rules are run
    again only when it can)."""
    if study_day is None or grade is None or grade < 3:
        return None
    return study_day, min(grade, 4)


def _syndrome_candidate(
    criterion: Criterion, label: str, daily_grades: Mapping[int, int], window_days: int
) -> Candidate | None:
    """Grade 4 on any assessed day in the window, or grade 3+ on ≥ 4 consecutive assessed days."""
    grade4 = sorted(day for day, grade in daily_grades.items() if 0 <= day <= window_days and grade >= 4)
    if grade4:
        return Candidate(
            criterion, f"{criterion.value}:g4", grade4[0], FINDING_SYNDROME_G4, {"what": label, "day": grade4[0]}
        )
    run, start = longest_run(daily_grades, at_least=3, first_day=0, last_day=window_days)
    if run >= GRADE3_RUN_DAYS:
        return Candidate(
            criterion,
            f"{criterion.value}:g3run",
            start,
            FINDING_SYNDROME_G3_RUN,
            {"what": label, "run": run, "start": start},
        )
    return None


def detect_candidates(
    *,
    window_days: int,
    as_of_day: int,
    crs_daily: Mapping[int, int] | None = None,
    icans_daily: Mapping[int, int] | None = None,
    gvhd_overall_grade: int | None = None,
    gvhd_onset_day: int | None = None,
    day28: Day28Counts | None = None,
    adverse_events: Iterable[AeCourse] = (),
    expected_toxicities: Sequence[str] = (),
    death_day: int | None = None,
    death_from_progression: bool = False,
) -> list[Candidate]:
    """The candidate DLTs of one subject (§3.1).

    `as_of_day` is today's study day: an AE whose 7 recovery days have not yet passed is not
    flagged yet (it may still recover). `gvhd_overall_grade` is the MAGIC overall grade as an
    int 1–4 (III–IV are candidates). `day28` is None before the day-28 assessment exists."""
    found: list[Candidate] = []
    for criterion, label, daily in ((Criterion.CRS, "CRS", crs_daily), (Criterion.ICANS, "ICANS", icans_daily)):
        if daily:
            candidate = _syndrome_candidate(criterion, label, daily, window_days)
            if candidate:
                found.append(candidate)
    if gvhd_overall_grade is not None and gvhd_overall_grade >= 3:
        onset = gvhd_onset_day if gvhd_onset_day is not None else 0
        if 0 <= onset <= window_days:
            roman = "IV" if gvhd_overall_grade >= 4 else "III"
            found.append(Candidate(Criterion.GVHD, "gvhd", onset, FINDING_GVHD, {"roman": roman}))
    if day28 is not None:
        for term, grade in zip(RECOVERY_TERMS, (day28.neutrophil_grade, day28.platelet_grade), strict=True):
            if grade is None or grade < 4:
                continue
            blasts = day28.marrow_blasts_pct
            if blasts is None:
                found.append(
                    Candidate(
                        Criterion.CYTOPENIA,
                        f"cytopenia:{term}",
                        window_days,
                        FINDING_CYTOPENIA_AWAITING,
                        {"term": term, "window": window_days},
                        awaiting_marrow=True,
                    )
                )
            elif blasts < MARROW_BLAST_LIMIT:
                found.append(
                    Candidate(
                        Criterion.CYTOPENIA,
                        f"cytopenia:{term}",
                        window_days,
                        FINDING_CYTOPENIA,
                        {"term": term, "window": window_days, "blasts": str(blasts)},
                    )
                )
    expected = {term.casefold() for term in expected_toxicities}
    for ae in adverse_events:
        if ae.grade < 3 or not 0 <= ae.onset_day <= window_days:
            continue
        if ae.from_crs_or_icans or ae.term == CRS_TERM or is_haematologic(ae.term, ae.soc):
            continue
        if ae.term.casefold() in expected:
            continue
        severe_from = ae.onset_day if ae.severe_from_day is None else ae.severe_from_day
        deadline = severe_from + RECOVERY_DAYS
        if ae.back_to_grade1_day is not None and ae.back_to_grade1_day <= deadline:
            continue
        if ae.back_to_grade1_day is None and as_of_day <= deadline:
            continue  # may still recover within its 7 days
        found.append(
            Candidate(
                Criterion.OTHER_AE,
                f"ae:{ae.ae_id}",
                ae.onset_day,
                FINDING_OTHER_AE,
                {"term": ae.term, "grade": ae.grade, "day": severe_from, "days": RECOVERY_DAYS},
            )
        )
    if death_day is not None and 0 <= death_day <= window_days and not death_from_progression:
        found.append(Candidate(Criterion.DEATH, "death", death_day, FINDING_DEATH, {"day": death_day}))
    return found


class Evaluability(Enum):
    NOT_INFUSED = "not_infused"
    IN_WINDOW = "in_window"
    EVALUABLE = "evaluable"
    TO_REPLACE = "to_replace"


class ReplaceReason(Enum):
    UNDER_DOSED = "under_dosed"
    OVER_DOSED = "over_dosed"
    LEFT_WINDOW = "left_window"


@dataclass(frozen=True)
class EvaluableStatus:
    status: Evaluability
    reason: ReplaceReason | None = None


def dlt_evaluable(
    *,
    infused: bool,
    dose_in_range: bool | None,
    dose_below_range: bool = False,
    as_of_day: int,
    window_days: int,
    confirmed_dlt_day: int | None = None,
    left_window_day: int | None = None,
) -> EvaluableStatus:
    """DLT-evaluable status (§3.1). Evaluable: infused, dose within the level's acceptable range,
    and either the window completed (today past its last day) or a confirmed DLT inside it.
    Leaving the window before its last day for another reason (withdrawal, death from disease,
    new anti-leukaemic therapy: `left_window_day`) or a dose outside the range → to replace.
    A confirmed DLT inside the window counts even when the subject left afterwards."""
    if not infused:
        return EvaluableStatus(Evaluability.NOT_INFUSED)
    if dose_in_range is False:
        reason = ReplaceReason.UNDER_DOSED if dose_below_range else ReplaceReason.OVER_DOSED
        return EvaluableStatus(Evaluability.TO_REPLACE, reason)
    dlt_in_window = confirmed_dlt_day is not None and 0 <= confirmed_dlt_day <= window_days
    if dlt_in_window and (left_window_day is None or (confirmed_dlt_day or 0) <= left_window_day):
        return EvaluableStatus(Evaluability.EVALUABLE)
    if left_window_day is not None and left_window_day < window_days:
        return EvaluableStatus(Evaluability.TO_REPLACE, ReplaceReason.LEFT_WINDOW)
    if as_of_day > window_days:
        return EvaluableStatus(Evaluability.EVALUABLE)
    return EvaluableStatus(Evaluability.IN_WINDOW)


def escalation_decision(
    *,
    rule: str,
    evaluable: int,
    confirmed_dlts: int,
    pending_candidates: int,
    is_highest_level: bool,
    cleared: bool = True,
) -> EscalationResult:
    """The decision of one dose level under the configured rule (§3.1; only 3+3 is defined):
    the 3+3 part up to six evaluable, the expansion rule beyond six at a level the 3+3 part
    cleared (`cleared`, see `clinical.escalation.dose_level_decision`)."""
    if rule != "3+3":
        raise ValueError(f"escalation rule {rule!r} is not implemented")
    return dose_level_decision(
        evaluable=evaluable,
        confirmed_dlts=confirmed_dlts,
        pending_candidates=pending_candidates,
        is_highest_level=is_highest_level,
        cleared=cleared,
    )


__all__ = [
    "AeCourse",
    "Candidate",
    "Criterion",
    "Day28Counts",
    "Evaluability",
    "EvaluableStatus",
    "ReplaceReason",
    "detect_candidates",
    "dlt_evaluable",
    "escalation_decision",
    "is_haematologic",
    "longest_run",
]
