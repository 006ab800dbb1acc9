"""Cytokine release syndrome graded by the ASTCT 2019 consensus (CLINICAL_SPEC §1).

Pure functions of explicit inputs: frozen dataclasses and enums in, frozen results out, each
result naming the criteria that produced it (``criteria == "ASTCT-2019"``). Dates are passed in,
never read from a clock; study days use the clinical Day-0 clock (infusion day = day 0,
CLINICAL_SPEC §9).

Three layers, each usable on its own:

- :func:`grade_crs_assessment` grades one assessment (CLINICAL_SPEC §1.1, §1.2 a–f);
- :func:`crs_course` turns a subject's assessments and concomitant-medication exposures into
  daily grades, episodes and the subject's CRS grade (CLINICAL_SPEC §1.2 b, §1.3);
- :func:`is_hypotensive` applies the protocol's age-dependent hypotension definition
  (CLINICAL_SPEC §1.2 h) for forms that capture systolic pressure rather than a yes/no.

:func:`build_episodes` is the episode logic of CLINICAL_SPEC §1.3 in generic form; ICANS
(CLINICAL_SPEC §2.3) reuses it without the fever clause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

CRITERIA = "ASTCT-2019"
MAX_GRADE = 5

FEVER_THRESHOLD_C = Decimal("38.0")
LOW_FLOW_NASAL_CANNULA_MAX_L_PER_MIN = Decimal("6")

VASOPRESSIN = "vasopressin"
NOREPINEPHRINE = "norepinephrine"
EPINEPHRINE = "epinephrine"
PHENYLEPHRINE = "phenylephrine"
DOPAMINE = "dopamine"

# The same agent under two names must never count as "several vasopressors" (§1.1 grade 4).
_VASOPRESSOR_SYNONYMS = {
    "noradrenaline": NOREPINEPHRINE,
    "norepinephrine bitartrate": NOREPINEPHRINE,
    "adrenaline": EPINEPHRINE,
    "argipressin": VASOPRESSIN,
}


def normalise_vasopressor(name: str) -> str:
    """The canonical agent name used for counting vasopressors (CLINICAL_SPEC §1.1, §1.2 f).

    Case and spacing are ignored and common synonyms (noradrenaline, adrenaline, argipressin)
    map to one name, so one agent recorded twice counts once.
    """
    key = " ".join(name.casefold().split())
    return _VASOPRESSOR_SYNONYMS.get(key, key)


class OxygenDevice(StrEnum):
    """Oxygen support, ordered from none to positive pressure (CLINICAL_SPEC §1.1, §1.2 e)."""

    ROOM_AIR = "room_air"
    BLOW_BY = "blow_by"
    NASAL_CANNULA = "nasal_cannula"
    HIGH_FLOW_NASAL_CANNULA = "hfnc"
    FACEMASK = "facemask"
    NON_REBREATHER = "non_rebreather"
    VENTURI_MASK = "venturi_mask"
    CPAP = "cpap"
    BIPAP = "bipap"
    MECHANICAL_VENTILATION = "mechanical_ventilation"


class MedicationCategory(StrEnum):
    """Con-med category as picked by the coordinator (CLINICAL_SPEC §1.2 b).

    Never inferred from verbatim text here: the caller passes the category it stored.
    """

    ANTIPYRETIC = "antipyretic"
    TOCILIZUMAB = "tocilizumab"
    CORTICOSTEROID = "corticosteroid"
    OTHER_ANTICYTOKINE = "other_anticytokine"
    OTHER = "other"


class CrsFlag(StrEnum):
    """Findings a medical reviewer should look at; they never change the grade."""

    VASOPRESSIN_ALONE = "vasopressin_alone"
    """CLINICAL_SPEC §1.2 f: vasopressin alone is graded as one vasopressor (grade 3)."""

    HYPOTENSION_NOT_FLUID_RESPONSIVE_WITHOUT_VASOPRESSOR = "hypotension_not_fluid_responsive_without_vasopressor"
    """Hypotension recorded as not fluid-responsive but no vasopressor listed: graded 2 from what
    was recorded; the vasopressor list may be incomplete."""


DEFAULT_FEVER_MASKING_CATEGORIES = frozenset(
    {MedicationCategory.ANTIPYRETIC, MedicationCategory.TOCILIZUMAB, MedicationCategory.CORTICOSTEROID}
)


@dataclass(frozen=True)
class CrsSettings:
    """Protocol settings for CRS grading; defaults are the demo study's (CLINICAL_SPEC §1.2 h, §1.3).

    Hypotension (§1.2 h): SBP below ``adult_sbp_below_mmhg`` from ``adult_from_age_years``;
    from ``child_from_age_years`` up to that age, SBP below
    ``child_sbp_base_mmhg + child_sbp_per_year_mmhg × age``; younger, SBP below
    ``infant_sbp_below_mmhg``.

    ``episode_gap_days`` is G of §1.3: a new run whose first grade ≥ 1 day follows the previous
    episode's last grade ≥ 1 day with at most G calendar days in between continues that episode.

    ``fever_masking_categories`` are the con-med categories whose exposure lifts the fever
    requirement inside an episode (§1.2 b).
    """

    adult_sbp_below_mmhg: int = 90
    adult_from_age_years: int = 10
    child_sbp_base_mmhg: int = 70
    child_sbp_per_year_mmhg: int = 2
    child_from_age_years: int = 1
    infant_sbp_below_mmhg: int = 70
    episode_gap_days: int = 0
    fever_masking_categories: frozenset[MedicationCategory] = DEFAULT_FEVER_MASKING_CATEGORIES

    def __post_init__(self) -> None:
        if self.episode_gap_days < 0:
            raise ValueError("episode_gap_days must be 0 or more")
        if not 0 <= self.child_from_age_years <= self.adult_from_age_years:
            raise ValueError("child_from_age_years must lie between 0 and adult_from_age_years")


DEFAULT_SETTINGS = CrsSettings()


def hypotension_sbp_threshold(*, age_years: int, settings: CrsSettings = DEFAULT_SETTINGS) -> int:
    """The SBP (mmHg) below which a subject of this age is hypotensive (CLINICAL_SPEC §1.2 h).

    ``age_years`` is age in completed years (a 9-month-old is 0).
    """
    if age_years < 0:
        raise ValueError("age_years must be 0 or more")
    if age_years >= settings.adult_from_age_years:
        return settings.adult_sbp_below_mmhg
    if age_years >= settings.child_from_age_years:
        return settings.child_sbp_base_mmhg + settings.child_sbp_per_year_mmhg * age_years
    return settings.infant_sbp_below_mmhg


def is_hypotensive(*, sbp_mmhg: int | Decimal, age_years: int, settings: CrsSettings = DEFAULT_SETTINGS) -> bool:
    """Whether a systolic pressure is hypotension under the protocol setting (CLINICAL_SPEC §1.2 h).

    Strictly below the threshold: with the defaults, SBP 89 at age 10 is hypotension, SBP 90 is not.
    """
    return sbp_mmhg < hypotension_sbp_threshold(age_years=age_years, settings=settings)


@dataclass(frozen=True)
class CrsAssessment:
    """One CRS assessment as captured on the form (CLINICAL_SPEC §1.3).

    - ``tmax_c``: highest temperature since the previous assessment, °C; ``None`` if not taken.
    - ``fever_attributable_to_other_cause``: fever explained by something else (§1.2 a).
    - ``hypotension`` / ``hypotension_fluid_responsive``: as recorded. A non-empty
      ``vasopressors`` list implies hypotension: vasopressors are given for it.
    - ``vasopressors``: agent names in use (see :data:`VASOPRESSIN` and the other constants);
      a list so non-vasopressin agents can be counted (§1.2 f).
    - ``oxygen_device`` and ``oxygen_flow_l_per_min``: flow is required for nasal cannula,
      where it decides low- against high-flow (§1.2 e).
    - ``*_attributable_to_crs``: §1.2 d; the form asks whenever the finding is present.
    - ``death_from_crs``: death with CRS as the principal cause (grade 5, §1.1).
    """

    assessed_on: date
    tmax_c: Decimal | None = None
    fever_attributable_to_other_cause: bool = False
    hypotension: bool = False
    hypotension_fluid_responsive: bool | None = None
    vasopressors: tuple[str, ...] = ()
    hypotension_attributable_to_crs: bool = True
    oxygen_device: OxygenDevice = OxygenDevice.ROOM_AIR
    oxygen_flow_l_per_min: Decimal | None = None
    hypoxia_attributable_to_crs: bool = True
    death_from_crs: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.tmax_c, float) or isinstance(self.oxygen_flow_l_per_min, float):
            raise TypeError("pass temperatures and flows as Decimal, not float, so cut-offs compare exactly")
        if self.oxygen_device is OxygenDevice.NASAL_CANNULA and self.oxygen_flow_l_per_min is None:
            raise ValueError("nasal cannula needs a flow: it decides low- against high-flow (CLINICAL_SPEC §1.2 e)")
        if self.oxygen_flow_l_per_min is not None and self.oxygen_flow_l_per_min < 0:
            raise ValueError("oxygen flow cannot be negative")
        if any(not name.strip() for name in self.vasopressors):
            raise ValueError("vasopressor names cannot be blank")
        if isinstance(self.vasopressors, list):
            raise TypeError("vasopressors must be a tuple")

    @property
    def has_fever(self) -> bool:
        """T ≥ 38.0 °C not attributable to another cause (CLINICAL_SPEC §1.2 a)."""
        return (
            self.tmax_c is not None and self.tmax_c >= FEVER_THRESHOLD_C and not self.fever_attributable_to_other_cause
        )


@dataclass(frozen=True)
class CrsAssessmentGrade:
    """The ASTCT grade of one assessment and how it was reached."""

    grade: int
    fever: bool
    fever_masked: bool
    hypotension_grade: int
    hypoxia_grade: int
    flags: tuple[CrsFlag, ...] = ()
    criteria: str = CRITERIA


def hypotension_grade(assessment: CrsAssessment) -> tuple[int, tuple[CrsFlag, ...]]:
    """The grade the hypotension column alone supports (CLINICAL_SPEC §1.1, §1.2 d, f).

    Not attributable to CRS → 0. Two or more distinct non-vasopressin agents → 4; one → 3 (with
    or without vasopressin); vasopressin alone → 3, flagged for review; hypotension without
    vasopressors → 2.
    """
    if not assessment.hypotension_attributable_to_crs:
        return 0, ()
    agents = {normalise_vasopressor(name) for name in assessment.vasopressors}
    non_vasopressin = agents - {VASOPRESSIN}
    if len(non_vasopressin) >= 2:
        return 4, ()
    if non_vasopressin:
        return 3, ()
    if VASOPRESSIN in agents:
        return 3, (CrsFlag.VASOPRESSIN_ALONE,)
    if assessment.hypotension:
        if assessment.hypotension_fluid_responsive is False:
            return 2, (CrsFlag.HYPOTENSION_NOT_FLUID_RESPONSIVE_WITHOUT_VASOPRESSOR,)
        return 2, ()
    return 0, ()


#: The ASTCT grade of each device (CLINICAL_SPEC §1.1, §1.2 e) — the one place it is written;
#: the vital-signs and CRS forms share the device list (OxygenDevice). Nasal cannulas are graded
#: by their flow (oxygen_support_grade).
_DEVICE_GRADE = {
    OxygenDevice.ROOM_AIR: 0,
    OxygenDevice.BLOW_BY: 2,
    OxygenDevice.HIGH_FLOW_NASAL_CANNULA: 3,
    OxygenDevice.FACEMASK: 3,
    OxygenDevice.NON_REBREATHER: 3,
    OxygenDevice.VENTURI_MASK: 3,
    OxygenDevice.CPAP: 4,
    OxygenDevice.BIPAP: 4,
    OxygenDevice.MECHANICAL_VENTILATION: 4,
}


def hypoxia_grade(assessment: CrsAssessment) -> int:
    """The grade the hypoxia column alone supports (CLINICAL_SPEC §1.1, §1.2 d, e).

    Nasal cannula ≤ 6 L/min (6 exactly included) → 2, > 6 → 3; blow-by → 2; facemask,
    non-rebreather, Venturi → 3 at any flow; CPAP, BiPAP, mechanical ventilation → 4.
    Not attributable to CRS (e.g. intubation for airway protection) → 0.
    """
    if not assessment.hypoxia_attributable_to_crs:
        return 0
    return oxygen_support_grade(assessment.oxygen_device, assessment.oxygen_flow_l_per_min)


def oxygen_support_grade(device: OxygenDevice, flow_l_per_min: Decimal | None) -> int:
    """The grade an oxygen device and its flow support (CLINICAL_SPEC §1.1, §1.2 e), whatever
    form recorded them: nasal cannula ≤ 6 L/min → 2, > 6 → 3; high-flow nasal cannula → 3 (2
    when its recorded flow is ≤ 6 L/min: the flow decides); other devices by _DEVICE_GRADE."""
    if device is OxygenDevice.NASAL_CANNULA:
        if flow_l_per_min is None:
            raise ValueError("nasal cannula needs a flow: it decides low- against high-flow (CLINICAL_SPEC §1.2 e)")
        return 2 if flow_l_per_min <= LOW_FLOW_NASAL_CANNULA_MAX_L_PER_MIN else 3
    if device is OxygenDevice.HIGH_FLOW_NASAL_CANNULA and flow_l_per_min is not None:
        return 2 if flow_l_per_min <= LOW_FLOW_NASAL_CANNULA_MAX_L_PER_MIN else 3
    return _DEVICE_GRADE[device]


def grade_crs_assessment(assessment: CrsAssessment, *, fever_masked: bool = False) -> CrsAssessmentGrade:
    """ASTCT grade 0–5 of one assessment (CLINICAL_SPEC §1.1, §1.2 a–f).

    ``fever_masked`` says the assessment lies inside an episode after antipyretic, tocilizumab
    or corticosteroid exposure (§1.2 b); :func:`crs_course` works it out from the con-med log.

    Without fever and without masking the grade is 0, whatever the hypotension or hypoxia
    (no CRS without fever, §1.2 a). With fever: the worse of hypotension and hypoxia
    attributable to CRS, at least 1. Masked: the worse of the two, 0 when neither (§1.2 c).
    Death with CRS as the principal cause is grade 5. Organ toxicities are not inputs: they
    are separate CTCAE AEs and never change the CRS grade (§1.2 g).
    """
    hypo_tension, flags = hypotension_grade(assessment)
    hyp_oxia = hypoxia_grade(assessment)
    fever = assessment.has_fever
    if assessment.death_from_crs:
        grade = MAX_GRADE
    elif fever:
        grade = max(1, hypo_tension, hyp_oxia)
    elif fever_masked:
        grade = max(hypo_tension, hyp_oxia)
    else:
        grade = 0
    return CrsAssessmentGrade(
        grade=grade,
        fever=fever,
        fever_masked=fever_masked,
        hypotension_grade=hypo_tension,
        hypoxia_grade=hyp_oxia,
        flags=flags if grade else (),
    )


@dataclass(frozen=True)
class MedicationExposure:
    """A concomitant medication relevant to fever masking (CLINICAL_SPEC §1.2 b)."""

    category: MedicationCategory
    start_date: date


@dataclass(frozen=True)
class Episode:
    """One CRS or ICANS episode (CLINICAL_SPEC §1.3, §2.3).

    ``onset_date``/``onset_day`` is the first grade ≥ 1 day, ``last_date``/``last_day`` the
    last; ``resolved_date`` is the first grade-0 day after the last grade ≥ 1 day, ``None``
    while the episode is ongoing. Study days use the Day-0 clock.
    """

    number: int
    onset_date: date
    last_date: date
    onset_day: int
    last_day: int
    grade: int
    resolved_date: date | None
    criteria: str = CRITERIA

    @property
    def duration_days(self) -> int:
        """Last grade ≥ 1 day − onset day + 1: both ends count (CLINICAL_SPEC §1.3, §5.3)."""
        return self.last_day - self.onset_day + 1

    @property
    def ongoing(self) -> bool:
        return self.resolved_date is None

    def covers(self, day: date) -> bool:
        """Whether ``day`` lies between onset and the last grade ≥ 1 day, both included."""
        return self.onset_date <= day <= self.last_date


@dataclass
class _OpenEpisode:
    onset: date
    last: date
    grade: int
    resolved: date | None = None


def _within_gap(episode: _OpenEpisode, day: date, gap_days: int) -> bool:
    if episode.resolved is None:
        return True
    return (day - episode.last).days - 1 <= gap_days


def build_episodes(
    assessed_days: Iterable[date],
    grade_day: Callable[[date, date | None], int],
    *,
    day0: date,
    gap_days: int = 0,
    criteria: str = CRITERIA,
) -> tuple[tuple[tuple[date, int], ...], tuple[Episode, ...]]:
    """Daily grades and episodes from the days that were assessed (CLINICAL_SPEC §1.3).

    ``grade_day(day, onset)`` returns the day's grade; ``onset`` is the onset date of the
    episode the day may belong to (open, or closed but still within the gap), else ``None``.
    A day graded ≥ 1 with ``onset=None`` opens an episode and is graded again with itself as
    onset, so same-day exposures count from the onset day. CRS uses ``onset`` for fever
    masking; ICANS ignores it. ``grade_day`` must not grade lower with an onset than without.

    A run of grade ≥ 1 days forms an episode; the first grade-0 day ends it; days absent from
    ``assessed_days`` are "not assessed" and neither end nor extend a run. A new run whose first
    day has at most ``gap_days`` calendar days between it and the previous episode's last
    grade ≥ 1 day continues that episode; otherwise it is a new episode.
    """
    daily: list[tuple[date, int]] = []
    spans: list[_OpenEpisode] = []
    current: _OpenEpisode | None = None
    for day in sorted(set(assessed_days)):
        joinable = current is not None and _within_gap(current, day, gap_days)
        onset = current.onset if current is not None and joinable else None
        grade = grade_day(day, onset)
        if onset is None and grade >= 1:
            # The day opens an episode: exposures from that day on already count (§1.2 b).
            grade = grade_day(day, day)
        if not 0 <= grade <= MAX_GRADE:
            raise ValueError(f"daily grade {grade} outside 0–{MAX_GRADE}")
        daily.append((day, grade))
        if grade >= 1:
            if current is not None and joinable:
                current.last = day
                current.grade = max(current.grade, grade)
                current.resolved = None
            else:
                current = _OpenEpisode(onset=day, last=day, grade=grade)
                spans.append(current)
        elif current is not None and current.resolved is None:
            current.resolved = day
    episodes = tuple(
        Episode(
            number=number,
            onset_date=span.onset,
            last_date=span.last,
            onset_day=(span.onset - day0).days,
            last_day=(span.last - day0).days,
            grade=span.grade,
            resolved_date=span.resolved,
            criteria=criteria,
        )
        for number, span in enumerate(spans, start=1)
    )
    return tuple(daily), episodes


@dataclass(frozen=True)
class CrsDay:
    """The CRS grade of one assessed day: the maximum over its assessments (CLINICAL_SPEC §1.3)."""

    day: date
    study_day: int
    grade: int
    fever_masked: bool
    assessments: tuple[CrsAssessmentGrade, ...]
    criteria: str = CRITERIA

    @property
    def flags(self) -> tuple[CrsFlag, ...]:
        return tuple(dict.fromkeys(flag for graded in self.assessments for flag in graded.flags))


@dataclass(frozen=True)
class CrsCourse:
    """A subject's CRS course: assessed days, episodes, and the subject grade (CLINICAL_SPEC §1.3)."""

    days: tuple[CrsDay, ...]
    episodes: tuple[Episode, ...]
    criteria: str = CRITERIA

    @property
    def grade(self) -> int:
        """The subject's CRS grade: maximum over episodes, 0 without any."""
        return max((episode.grade for episode in self.episodes), default=0)

    def episode_on(self, day: date) -> Episode | None:
        """The episode covering ``day`` (onset to last grade ≥ 1 day), if any."""
        return next((episode for episode in self.episodes if episode.covers(day)), None)

    def is_episode_day(self, day: date) -> bool:
        """Whether ``day`` is a CRS episode day: no Fever AE is proposed then (CLINICAL_SPEC §1.2 g)."""
        return self.episode_on(day) is not None


def _fever_masked(
    day: date,
    onset: date | None,
    exposures: Sequence[MedicationExposure],
    categories: frozenset[MedicationCategory],
) -> bool:
    if onset is None:
        return False
    return any(exposure.category in categories and onset <= exposure.start_date <= day for exposure in exposures)


def crs_course(
    assessments: Iterable[CrsAssessment],
    *,
    infusion_date: date,
    exposures: Iterable[MedicationExposure] = (),
    settings: CrsSettings = DEFAULT_SETTINGS,
) -> CrsCourse:
    """Daily grades, episodes and subject grade from a subject's assessments (CLINICAL_SPEC §1.2 b, §1.3).

    Fever masking (§1.2 b): on a day inside an episode, fever is not required when an exposure
    of a masking category started on or after the episode's onset day and on or before that
    day. Exposures that started before the onset (premedication) do not count. Outside an
    episode nothing is masked, so a new episode's onset always needs fever (§1.2 a).
    """
    by_day: dict[date, list[CrsAssessment]] = {}
    for assessment in assessments:
        by_day.setdefault(assessment.assessed_on, []).append(assessment)
    exposure_list = tuple(exposures)
    graded_days: dict[date, CrsDay] = {}

    def grade_day(day: date, onset: date | None) -> int:
        masked = _fever_masked(day, onset, exposure_list, settings.fever_masking_categories)
        graded = tuple(grade_crs_assessment(a, fever_masked=masked) for a in by_day[day])
        crs_day = CrsDay(
            day=day,
            study_day=(day - infusion_date).days,
            grade=max(g.grade for g in graded),
            fever_masked=masked,
            assessments=graded,
        )
        graded_days[day] = crs_day
        return crs_day.grade

    _, episodes = build_episodes(by_day, grade_day, day0=infusion_date, gap_days=settings.episode_gap_days)
    return CrsCourse(days=tuple(graded_days[day] for day in sorted(graded_days)), episodes=episodes)
