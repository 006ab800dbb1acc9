"""Immune effector cell-associated neurotoxicity (ICANS) by the ASTCT 2019 consensus (CLINICAL_SPEC §2).

Pure functions of explicit inputs, results naming their criteria (``"ASTCT-2019"``):

- :class:`IceScore` and :class:`CapdScore` store the encephalopathy instruments item by item,
  with "not evaluable" (intubated, sedated for another reason) a state of its own, never 0
  (CLINICAL_SPEC §2.1, §2.3);
- :func:`grade_icans_assessment` grades each domain on its own and takes the most severe domain
  not attributable to another cause (CLINICAL_SPEC §2.2, §2.3);
- :func:`icans_course` builds daily grades and episodes as for CRS without the fever clause; a
  day whose assessments are all "not evaluable" is not assessed (CLINICAL_SPEC §2.3).

Tremor, myoclonus and intracranial haemorrhage are not ICANS inputs: they are CTCAE AEs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import IntEnum, StrEnum

from clinical.crs import MAX_GRADE, Episode, build_episodes

CRITERIA = "ASTCT-2019"


class EncephalopathyInstrument(StrEnum):
    """ICE for adults and children who can do it; CAPD for young children (CLINICAL_SPEC §2.2, §2.3)."""

    ICE = "ice"
    CAPD = "capd"


class NotEvaluableReason(StrEnum):
    """Why an instrument could not be performed for a reason other than neurotoxicity (CLINICAL_SPEC §2.1)."""

    INTUBATED = "intubated"
    SEDATED_FOR_OTHER_REASON = "sedated_for_other_reason"


class IcansDomain(StrEnum):
    """The domains graded on their own (CLINICAL_SPEC §2.2)."""

    ENCEPHALOPATHY = "encephalopathy"
    CONSCIOUSNESS = "consciousness"
    SEIZURE = "seizure"
    MOTOR = "motor"
    RAISED_ICP = "raised_icp"


class Consciousness(StrEnum):
    """Level of consciousness (CLINICAL_SPEC §2.2): alert carries no grade."""

    ALERT = "alert"
    AWAKENS_SPONTANEOUSLY = "awakens_spontaneously"
    AWAKENS_TO_VOICE = "awakens_to_voice"
    AWAKENS_ONLY_TO_TOUCH = "awakens_only_to_touch"
    UNAROUSABLE = "unarousable"


class Seizure(StrEnum):
    """Seizure (CLINICAL_SPEC §2.2).

    ``RESOLVING``: any clinical seizure resolving rapidly, or non-convulsive seizure on EEG
    resolving with intervention. ``PROLONGED_OR_REPEATED``: life-threatening seizure > 5 min
    (convulsive or not), or repeated seizures without return to baseline.
    """

    NONE = "none"
    RESOLVING = "resolving"
    PROLONGED_OR_REPEATED = "prolonged_or_repeated"


class MotorFinding(StrEnum):
    """Motor findings (CLINICAL_SPEC §2.2): only deep focal weakness is ICANS."""

    NONE = "none"
    DEEP_FOCAL_WEAKNESS = "deep_focal_weakness"


class RaisedIcp(StrEnum):
    """Raised intracranial pressure / cerebral oedema (CLINICAL_SPEC §2.2).

    ``DIFFUSE_OR_OTHER_SIGNS``: diffuse oedema on imaging, decerebrate or decorticate posturing,
    cranial nerve VI palsy, papilloedema or Cushing's triad.
    """

    NONE = "none"
    FOCAL_OEDEMA = "focal_oedema"
    DIFFUSE_OR_OTHER_SIGNS = "diffuse_or_other_signs"


_CONSCIOUSNESS_GRADE = {
    Consciousness.ALERT: 0,
    Consciousness.AWAKENS_SPONTANEOUSLY: 1,
    Consciousness.AWAKENS_TO_VOICE: 2,
    Consciousness.AWAKENS_ONLY_TO_TOUCH: 3,
    Consciousness.UNAROUSABLE: 4,
}
_SEIZURE_GRADE = {Seizure.NONE: 0, Seizure.RESOLVING: 3, Seizure.PROLONGED_OR_REPEATED: 4}
_MOTOR_GRADE = {MotorFinding.NONE: 0, MotorFinding.DEEP_FOCAL_WEAKNESS: 4}
_RAISED_ICP_GRADE = {RaisedIcp.NONE: 0, RaisedIcp.FOCAL_OEDEMA: 3, RaisedIcp.DIFFUSE_OR_OTHER_SIGNS: 4}

ICE_ITEM_MAXIMA = {
    "orientation": 4,
    "naming": 3,
    "following_commands": 1,
    "writing": 1,
    "counting_backwards": 1,
}
ICE_MAX = sum(ICE_ITEM_MAXIMA.values())


def _check_exclusive_states(*, items_given: bool, not_evaluable: bool, unable: bool, instrument: str) -> None:
    if sum((items_given, not_evaluable, unable)) != 1:
        raise ValueError(f"{instrument}: record exactly one of item scores, 'not evaluable' or 'unable'")


@dataclass(frozen=True)
class IceScore:
    """Immune effector Cell-associated Encephalopathy score, item by item (CLINICAL_SPEC §2.1).

    Exactly one state: the five items scored; ``not_evaluable_reason`` set (intubated, sedated
    for another reason — never stored as 0); or ``unarousable`` (ICE 0 because the subject
    cannot be roused to do it, grade 4). ``language`` is the language of testing.
    """

    orientation: int | None = None
    naming: int | None = None
    following_commands: int | None = None
    writing: int | None = None
    counting_backwards: int | None = None
    not_evaluable_reason: NotEvaluableReason | None = None
    unarousable: bool = False
    language: str = ""

    def __post_init__(self) -> None:
        items = {name: getattr(self, name) for name in ICE_ITEM_MAXIMA}
        given = [value is not None for value in items.values()]
        if any(given) and not all(given):
            raise ValueError("ICE: score all five items, or none")
        _check_exclusive_states(
            items_given=all(given),
            not_evaluable=self.not_evaluable_reason is not None,
            unable=self.unarousable,
            instrument="ICE",
        )
        for name, value in items.items():
            if value is not None and not 0 <= value <= ICE_ITEM_MAXIMA[name]:
                raise ValueError(f"ICE {name} scores 0–{ICE_ITEM_MAXIMA[name]}, got {value}")

    @classmethod
    def not_evaluable(cls, reason: NotEvaluableReason, *, language: str = "") -> IceScore:
        return cls(not_evaluable_reason=reason, language=language)

    @classmethod
    def unable_unarousable(cls, *, language: str = "") -> IceScore:
        return cls(unarousable=True, language=language)

    @property
    def evaluable(self) -> bool:
        return self.not_evaluable_reason is None

    @property
    def total(self) -> int | None:
        """0–10; ``None`` when not evaluable; 0 when unarousable."""
        if self.not_evaluable_reason is not None:
            return None
        if self.unarousable:
            return 0
        items: tuple[int | None, ...] = (
            self.orientation,
            self.naming,
            self.following_commands,
            self.writing,
            self.counting_backwards,
        )
        return sum(item or 0 for item in items)


def ice_grade(score: IceScore) -> int | None:
    """ICE domain grade (CLINICAL_SPEC §2.2): 10 → 0, 7–9 → 1, 3–6 → 2, 0–2 → 3, unarousable → 4.

    ``None`` when not evaluable. ICE 0 awake (e.g. global aphasia) is grade 3.
    """
    if score.unarousable:
        return 4
    total = score.total
    if total is None:
        return None
    if total == ICE_MAX:
        return 0
    if total >= 7:
        return 1
    if total >= 3:
        return 2
    return 3


class CapdResponse(IntEnum):
    """How often the behaviour was seen (Cornell Assessment of Pediatric Delirium)."""

    NEVER = 0
    RARELY = 1
    SOMETIMES = 2
    OFTEN = 3
    ALWAYS = 4


CAPD_ITEMS = 8
CAPD_REVERSE_SCORED_ITEMS = frozenset({1, 2, 3, 4})
CAPD_MAX = 4 * CAPD_ITEMS


@dataclass(frozen=True)
class CapdScore:
    """Cornell Assessment of Pediatric Delirium, item by item (CLINICAL_SPEC §2.3).

    ``responses`` are the eight answers in item order as recorded (never … always). Items 1–4
    (eye contact, purposeful actions, awareness, communicates needs) are reverse-scored
    (never = 4 points), items 5–8 scored as answered; total 0–32. Exactly one state: responses;
    ``not_evaluable_reason`` (sedation for another reason, intubation — never graded 4); or
    ``unable`` (cannot perform CAPD because of neurotoxicity — grade 4).
    """

    responses: tuple[CapdResponse, ...] | None = None
    not_evaluable_reason: NotEvaluableReason | None = None
    unable: bool = False
    language: str = ""

    def __post_init__(self) -> None:
        _check_exclusive_states(
            items_given=self.responses is not None,
            not_evaluable=self.not_evaluable_reason is not None,
            unable=self.unable,
            instrument="CAPD",
        )
        if self.responses is not None:
            if len(self.responses) != CAPD_ITEMS:
                raise ValueError(f"CAPD has {CAPD_ITEMS} items, got {len(self.responses)}")
            if not all(isinstance(response, CapdResponse) for response in self.responses):
                raise TypeError("CAPD responses must be CapdResponse values")

    @classmethod
    def not_evaluable(cls, reason: NotEvaluableReason, *, language: str = "") -> CapdScore:
        return cls(not_evaluable_reason=reason, language=language)

    @classmethod
    def unable_to_perform(cls, *, language: str = "") -> CapdScore:
        return cls(unable=True, language=language)

    @property
    def evaluable(self) -> bool:
        return self.not_evaluable_reason is None

    @property
    def item_points(self) -> tuple[int, ...] | None:
        """Points per item after reverse-scoring items 1–4."""
        if self.responses is None:
            return None
        return tuple(
            4 - int(response) if number in CAPD_REVERSE_SCORED_ITEMS else int(response)
            for number, response in enumerate(self.responses, start=1)
        )

    @property
    def total(self) -> int | None:
        """0–32; ``None`` when not evaluable or unable."""
        points = self.item_points
        return None if points is None else sum(points)


def capd_grade(score: CapdScore) -> int | None:
    """CAPD domain grade (CLINICAL_SPEC §2.3): 0 → 0, 1–8 → 1, ≥ 9 → 3, unable → 4; ``None`` if not evaluable."""
    if score.unable:
        return 4
    total = score.total
    if total is None:
        return None
    if total == 0:
        return 0
    if total <= 8:
        return 1
    return 3


@dataclass(frozen=True)
class IcansSettings:
    """Protocol settings (CLINICAL_SPEC §2.3): CAPD below ``capd_below_age_years``; episode gap G as §1.3."""

    capd_below_age_years: int = 12
    episode_gap_days: int = 0

    def __post_init__(self) -> None:
        if self.episode_gap_days < 0:
            raise ValueError("episode_gap_days must be 0 or more")


DEFAULT_SETTINGS = IcansSettings()


def default_instrument(*, age_years: int, settings: IcansSettings = DEFAULT_SETTINGS) -> EncephalopathyInstrument:
    """CAPD for children younger than the boundary (default < 12 years), ICE otherwise (CLINICAL_SPEC §2.3)."""
    if age_years < 0:
        raise ValueError("age_years must be 0 or more")
    return EncephalopathyInstrument.CAPD if age_years < settings.capd_below_age_years else EncephalopathyInstrument.ICE


@dataclass(frozen=True)
class IcansAssessment:
    """One ICANS assessment (CLINICAL_SPEC §2.2, §2.3).

    The encephalopathy domain uses ``instrument`` when given (per-assessment choice), else the
    default for ``age_years``; that instrument's score must be recorded. ``other_cause`` lists
    the domains whose finding is attributable to another cause (e.g. consciousness depressed
    by sedating drugs): they do not count. ``death_from_icans``: death with ICANS as the
    principal cause (grade 5).
    """

    assessed_on: date
    age_years: int
    ice: IceScore | None = None
    capd: CapdScore | None = None
    instrument: EncephalopathyInstrument | None = None
    consciousness: Consciousness = Consciousness.ALERT
    seizure: Seizure = Seizure.NONE
    motor: MotorFinding = MotorFinding.NONE
    raised_icp: RaisedIcp = RaisedIcp.NONE
    other_cause: frozenset[IcansDomain] = frozenset()
    death_from_icans: bool = False

    def __post_init__(self) -> None:
        if self.age_years < 0:
            raise ValueError("age_years must be 0 or more")
        if not isinstance(self.other_cause, frozenset):
            raise TypeError("other_cause must be a frozenset of IcansDomain")


@dataclass(frozen=True)
class DomainGrade:
    """One domain's grade; ``None`` = not evaluable. ``counted`` is False when attributable to another cause."""

    domain: IcansDomain
    grade: int | None
    counted: bool


@dataclass(frozen=True)
class IcansAssessmentGrade:
    """The ICANS grade of one assessment; ``grade is None`` means "not evaluable" (CLINICAL_SPEC §2.3)."""

    grade: int | None
    instrument: EncephalopathyInstrument
    instrument_total: int | None
    domains: tuple[DomainGrade, ...]
    criteria: str = CRITERIA

    @property
    def evaluable(self) -> bool:
        return self.grade is not None

    def domain_grade(self, domain: IcansDomain) -> int | None:
        return next(d.grade for d in self.domains if d.domain is domain)


def grade_icans_assessment(
    assessment: IcansAssessment, *, settings: IcansSettings = DEFAULT_SETTINGS
) -> IcansAssessmentGrade:
    """ASTCT ICANS grade 0–5 of one assessment, or ``None`` if not evaluable (CLINICAL_SPEC §2.2, §2.3).

    Each domain grades on its own; the grade is the most severe domain not attributable to
    another cause. When the instrument is not evaluable (intubated, sedated for another reason)
    the consciousness domain is not evaluable either — depressed consciousness from sedating
    drugs does not count — and the assessment is graded from seizure, motor and raised-ICP
    findings if any is present, else it is "not evaluable", never grade 4.
    """
    instrument = assessment.instrument or default_instrument(age_years=assessment.age_years, settings=settings)
    encephalopathy: int | None
    total: int | None
    if instrument is EncephalopathyInstrument.ICE:
        if assessment.ice is None:
            raise ValueError("ICE is the instrument for this assessment but no ICE score was recorded")
        encephalopathy, total = ice_grade(assessment.ice), assessment.ice.total
    else:
        if assessment.capd is None:
            raise ValueError("CAPD is the instrument for this assessment but no CAPD score was recorded")
        encephalopathy, total = capd_grade(assessment.capd), assessment.capd.total
    instrument_evaluable = encephalopathy is not None
    raw = {
        IcansDomain.ENCEPHALOPATHY: encephalopathy,
        IcansDomain.CONSCIOUSNESS: _CONSCIOUSNESS_GRADE[assessment.consciousness] if instrument_evaluable else None,
        IcansDomain.SEIZURE: _SEIZURE_GRADE[assessment.seizure],
        IcansDomain.MOTOR: _MOTOR_GRADE[assessment.motor],
        IcansDomain.RAISED_ICP: _RAISED_ICP_GRADE[assessment.raised_icp],
    }
    domains = tuple(
        DomainGrade(domain=domain, grade=grade, counted=domain not in assessment.other_cause)
        for domain, grade in raw.items()
    )
    counted = [d.grade for d in domains if d.counted and d.grade is not None]
    worst = max(counted, default=0)
    grade: int | None
    if assessment.death_from_icans:
        grade = MAX_GRADE
    elif not instrument_evaluable and worst == 0:
        grade = None
    else:
        grade = worst
    return IcansAssessmentGrade(grade=grade, instrument=instrument, instrument_total=total, domains=domains)


@dataclass(frozen=True)
class IcansDay:
    """The ICANS grade of one assessed day: maximum over its evaluable assessments (CLINICAL_SPEC §2.3)."""

    day: date
    study_day: int
    grade: int
    assessments: tuple[IcansAssessmentGrade, ...]
    criteria: str = CRITERIA


@dataclass(frozen=True)
class IcansCourse:
    """A subject's ICANS course: assessed days, episodes and subject grade (CLINICAL_SPEC §2.3, §1.3)."""

    days: tuple[IcansDay, ...]
    episodes: tuple[Episode, ...]
    not_assessed_days: tuple[date, ...]
    criteria: str = CRITERIA

    @property
    def grade(self) -> int:
        """The subject's ICANS grade: maximum over episodes, 0 without any."""
        return max((episode.grade for episode in self.episodes), default=0)


def icans_course(
    assessments: Iterable[IcansAssessment],
    *,
    infusion_date: date,
    settings: IcansSettings = DEFAULT_SETTINGS,
) -> IcansCourse:
    """Daily grades, episodes and subject grade (CLINICAL_SPEC §2.3: as §1.3 without the fever clause).

    A day whose only assessments are "not evaluable" counts as not assessed: it neither ends
    nor extends a run, and is listed in ``not_assessed_days``.
    """
    graded_by_day: dict[date, list[IcansAssessmentGrade]] = {}
    for assessment in assessments:
        graded = grade_icans_assessment(assessment, settings=settings)
        graded_by_day.setdefault(assessment.assessed_on, []).append(graded)
    days: list[IcansDay] = []
    not_assessed: list[date] = []
    for day in sorted(graded_by_day):
        graded_list = graded_by_day[day]
        grades = [g.grade for g in graded_list if g.grade is not None]
        if not grades:
            not_assessed.append(day)
            continue
        days.append(
            IcansDay(day=day, study_day=(day - infusion_date).days, grade=max(grades), assessments=tuple(graded_list))
        )
    grade_of = {icans_day.day: icans_day.grade for icans_day in days}
    _, episodes = build_episodes(
        grade_of,
        lambda day, _onset: grade_of[day],
        day0=infusion_date,
        gap_days=settings.episode_gap_days,
        criteria=CRITERIA,
    )
    return IcansCourse(days=tuple(days), episodes=episodes, not_assessed_days=tuple(not_assessed))
