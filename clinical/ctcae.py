"""CTCAE v5.0 terms, grade validation and lab-derived grades (CLINICAL_SPEC §3).

The 837 terms are NCI's, shipped as data in ``clinical/data/ctcae_v5.0.csv`` (attribution and
the MedDRA trademark notice in ``clinical/data/README.md``) and read once. Everything here is a
pure function; results carry ``ctcae_version == "5.0"``.

- Lookup: :func:`term_by_name`, :func:`term_by_meddra_code`, :func:`terms_in_soc`,
  :func:`search_terms`, :func:`system_organ_classes`.
- Validation: :func:`grade_exists` and :func:`check_ae_grade` (a grade cell of ``-`` does not
  exist for the term; "Other, specify" terms need verbatim text).
- Lab-derived grades: :func:`grade_neutrophil_count_decreased`,
  :func:`grade_platelet_count_decreased`, :func:`grade_lymphocyte_count_decreased`,
  :func:`grade_anemia` (1–3), :func:`grade_fever` (1–2 from Tmax only) and
  :func:`grade_fever_course` (1–4, the duration above 40.0 °C bounded by timed readings). Values are
  :class:`~decimal.Decimal` and compared exactly, boundaries as the CTCAE text reads them.
- Unit conversions as pure functions (counts, haemoglobin, bilirubin, temperature).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache
from importlib import resources

CTCAE_VERSION = "5.0"
GRADES = (1, 2, 3, 4, 5)
NO_SUCH_GRADE = "-"
TERM_COUNT = 837
OTHER_SPECIFY_SUFFIX = "Other, specify"
DATA_FILE = "ctcae_v5.0.csv"


@dataclass(frozen=True)
class CtcaeTerm:
    """One CTCAE v5.0 term as NCI publishes it (CLINICAL_SPEC §3).

    ``grade_texts[g - 1]`` is the text of grade ``g``, ``None`` where NCI's cell is ``-`` (that
    grade does not exist for the term).
    """

    meddra_code: str
    soc: str
    name: str
    grade_texts: tuple[str | None, str | None, str | None, str | None, str | None]
    definition: str | None
    navigational_note: str | None
    ctcae_version: str = CTCAE_VERSION

    def grade_text(self, grade: int) -> str | None:
        """The CTCAE text of ``grade``; ``None`` when the grade does not exist or is off the 1–5 scale."""
        if grade not in GRADES:
            return None
        return self.grade_texts[grade - 1]

    @property
    def grades(self) -> tuple[int, ...]:
        """The grades that exist for this term."""
        return tuple(grade for grade in GRADES if self.grade_texts[grade - 1] is not None)

    @property
    def requires_verbatim(self) -> bool:
        """ "Other, specify" terms need the verbatim text of the event (CLINICAL_SPEC §3)."""
        return self.name.endswith(OTHER_SPECIFY_SUFFIX)

    def __str__(self) -> str:
        return self.name


class UnknownTermError(LookupError):
    """No CTCAE v5.0 term (or SOC) matches."""


def _cell(text: str) -> str | None:
    text = text.strip()
    return None if text in {"", NO_SUCH_GRADE} else text


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


@cache
def all_terms() -> tuple[CtcaeTerm, ...]:
    """All 837 CTCAE v5.0 terms in NCI's order (by SOC, then term)."""
    raw = (resources.files("clinical") / "data" / DATA_FILE).read_text(encoding="utf-8")
    terms = []
    for row in csv.DictReader(io.StringIO(raw)):
        texts = tuple(_cell(row[f"Grade {grade}"]) for grade in GRADES)
        terms.append(
            CtcaeTerm(
                meddra_code=row["MedDRA Code"].strip(),
                soc=row["MedDRA SOC"].strip(),
                name=row["CTCAE Term"].strip(),
                grade_texts=(texts[0], texts[1], texts[2], texts[3], texts[4]),
                definition=_cell(row["Definition"]),
                navigational_note=_cell(row["Navigational Note"]),
            )
        )
    if len(terms) != TERM_COUNT:
        raise RuntimeError(f"{DATA_FILE} holds {len(terms)} terms, expected {TERM_COUNT}")
    return tuple(terms)


@cache
def _by_name() -> dict[str, CtcaeTerm]:
    return {_key(term.name): term for term in all_terms()}


@cache
def _by_code() -> dict[str, CtcaeTerm]:
    return {term.meddra_code: term for term in all_terms()}


def term_by_name(name: str) -> CtcaeTerm:
    """The term with this name, ignoring case and spacing; :class:`UnknownTermError` if none."""
    try:
        return _by_name()[_key(name)]
    except KeyError:
        raise UnknownTermError(f"{name!r} is not a CTCAE v{CTCAE_VERSION} term") from None


def term_by_meddra_code(code: str | int) -> CtcaeTerm:
    """The term with this MedDRA LLT code (as NCI publishes it with CTCAE)."""
    try:
        return _by_code()[str(code).strip()]
    except KeyError:
        raise UnknownTermError(f"MedDRA code {code} is not a CTCAE v{CTCAE_VERSION} term") from None


def system_organ_classes() -> tuple[str, ...]:
    """The 26 MedDRA SOCs used by CTCAE v5.0, in NCI's order."""
    return tuple(dict.fromkeys(term.soc for term in all_terms()))


def terms_in_soc(soc: str) -> tuple[CtcaeTerm, ...]:
    """The terms of one SOC (name matched ignoring case and spacing)."""
    key = _key(soc)
    terms = tuple(term for term in all_terms() if _key(term.soc) == key)
    if not terms:
        raise UnknownTermError(f"{soc!r} is not a CTCAE v{CTCAE_VERSION} system organ class")
    return terms


def search_terms(query: str, *, soc: str | None = None) -> tuple[CtcaeTerm, ...]:
    """Terms whose name holds every word of ``query`` (any case), optionally within one SOC.

    Ordered for a picker: the exact name first, then names starting with the query, then the
    rest, each alphabetically. An empty query matches nothing.
    """
    key = _key(query)
    words = key.split()
    if not words:
        return ()
    pool = terms_in_soc(soc) if soc is not None else all_terms()
    hits = [term for term in pool if all(word in _key(term.name) for word in words)]

    def rank(term: CtcaeTerm) -> tuple[int, str]:
        name = _key(term.name)
        return (0 if name == key else 1 if name.startswith(key) else 2, name)

    return tuple(sorted(hits, key=rank))


def _resolve(term: CtcaeTerm | str) -> CtcaeTerm:
    return term if isinstance(term, CtcaeTerm) else term_by_name(term)


def grade_exists(term: CtcaeTerm | str, grade: int) -> bool:
    """Whether ``grade`` exists for ``term``: on the 1–5 scale and its cell is not ``-`` (CLINICAL_SPEC §3)."""
    return _resolve(term).grade_text(grade) is not None


class GradeProblemCode(StrEnum):
    UNKNOWN_TERM = "unknown_term"
    GRADE_OUT_OF_RANGE = "grade_out_of_range"
    GRADE_NOT_DEFINED = "grade_not_defined"
    VERBATIM_REQUIRED = "verbatim_required"


@dataclass(frozen=True)
class GradeProblem:
    """Why an AE's term/grade/verbatim is refused: a stable ``code`` and an English ``message``."""

    code: GradeProblemCode
    message: str


@dataclass(frozen=True)
class AeGradeCheck:
    """The outcome of :func:`check_ae_grade`; ``ok`` when there are no problems."""

    term: str
    grade: int
    problems: tuple[GradeProblem, ...]
    ctcae_version: str = CTCAE_VERSION

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(problem.message for problem in self.problems)


def _list(grades: tuple[int, ...]) -> str:
    return ", ".join(str(grade) for grade in grades)


def check_ae_grade(term: CtcaeTerm | str, grade: int, *, verbatim: str = "") -> AeGradeCheck:
    """Validate an AE's CTCAE term, grade and verbatim text (CLINICAL_SPEC §3).

    A grade whose cell is ``-`` does not exist and is refused with a message naming the grades
    that do (e.g. Tumor lysis syndrome has no grade 1–2, Neutrophil count decreased no grade 5,
    Febrile neutropenia no grade 1–2). "Other, specify" terms need verbatim text.
    """
    if isinstance(term, CtcaeTerm):
        resolved: CtcaeTerm | None = term
    else:
        try:
            resolved = term_by_name(term)
        except UnknownTermError as error:
            return AeGradeCheck(
                term=term, grade=grade, problems=(GradeProblem(GradeProblemCode.UNKNOWN_TERM, str(error)),)
            )
    assert resolved is not None
    problems: list[GradeProblem] = []
    if grade not in GRADES:
        problems.append(
            GradeProblem(
                GradeProblemCode.GRADE_OUT_OF_RANGE,
                f"CTCAE grades run from 1 to 5; {grade} is not a grade.",
            )
        )
    elif resolved.grade_text(grade) is None:
        problems.append(
            GradeProblem(
                GradeProblemCode.GRADE_NOT_DEFINED,
                f"{resolved.name} has no grade {grade} in CTCAE v{CTCAE_VERSION} (the grade {grade} cell is "
                f'"{NO_SUCH_GRADE}"); the grades that exist are {_list(resolved.grades)}.',
            )
        )
    if resolved.requires_verbatim and not verbatim.strip():
        problems.append(
            GradeProblem(
                GradeProblemCode.VERBATIM_REQUIRED,
                f'"{resolved.name}" needs the verbatim text of the event.',
            )
        )
    return AeGradeCheck(term=resolved.name, grade=grade, problems=tuple(problems))


# --- units --------------------------------------------------------------------------------


class LabUnit(StrEnum):
    """Units accepted for the lab-derived grades (CLINICAL_SPEC §3)."""

    GIGA_PER_L = "10^9/L"
    THOUSAND_PER_UL = "10^3/uL"
    PER_UL = "/uL"
    PER_MM3 = "/mm3"
    G_PER_DL = "g/dL"
    G_PER_L = "g/L"
    MMOL_PER_L = "mmol/L"
    MG_PER_DL = "mg/dL"
    UMOL_PER_L = "umol/L"
    CELSIUS = "degC"
    FAHRENHEIT = "degF"


BILIRUBIN_UMOL_PER_L_PER_MG_PER_DL = Decimal("17.1")


def _decimal(value: Decimal | int) -> Decimal:
    # Floats would turn 0.99 into 0.98999…; str would hide typos. Only exact numbers come in.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"pass lab values as Decimal (or int), not {type(value).__name__}")
    return Decimal(value)


def cells_per_ul_to_giga_per_l(value: Decimal | int) -> Decimal:
    """Cells/µL (= /mm³) → ×10⁹/L: divide by 1000, exactly."""
    return _decimal(value).scaleb(-3)


def giga_per_l_to_cells_per_ul(value: Decimal | int) -> Decimal:
    """×10⁹/L → cells/µL (= /mm³): multiply by 1000, exactly."""
    return _decimal(value).scaleb(3)


def g_per_l_to_g_per_dl(value: Decimal | int) -> Decimal:
    """Haemoglobin g/L → g/dL: divide by 10, exactly."""
    return _decimal(value).scaleb(-1)


def g_per_dl_to_g_per_l(value: Decimal | int) -> Decimal:
    """Haemoglobin g/dL → g/L: multiply by 10, exactly."""
    return _decimal(value).scaleb(1)


def bilirubin_umol_per_l_to_mg_per_dl(value: Decimal | int) -> Decimal:
    """Bilirubin µmol/L → mg/dL at 17.1 µmol/L per mg/dL, full precision, no rounding (CLINICAL_SPEC §3, §4.3)."""
    return _decimal(value) / BILIRUBIN_UMOL_PER_L_PER_MG_PER_DL


def bilirubin_mg_per_dl_to_umol_per_l(value: Decimal | int) -> Decimal:
    """Bilirubin mg/dL → µmol/L at 17.1 µmol/L per mg/dL."""
    return _decimal(value) * BILIRUBIN_UMOL_PER_L_PER_MG_PER_DL


def fahrenheit_to_celsius(value: Decimal | int) -> Decimal:
    """°F → °C, full precision (102.2 °F is 39.0 °C exactly)."""
    return (_decimal(value) - 32) * 5 / 9


def celsius_to_fahrenheit(value: Decimal | int) -> Decimal:
    """°C → °F."""
    return _decimal(value) * 9 / 5 + 32


def count_to_giga_per_l(value: Decimal | int, unit: LabUnit) -> Decimal:
    """A blood count (ANC, platelets, lymphocytes) in ×10⁹/L."""
    if unit in {LabUnit.GIGA_PER_L, LabUnit.THOUSAND_PER_UL}:
        return _decimal(value)
    if unit in {LabUnit.PER_UL, LabUnit.PER_MM3}:
        return cells_per_ul_to_giga_per_l(value)
    raise ValueError(f"{unit} is not a unit for a blood count")


def haemoglobin_for_grading(value: Decimal | int, unit: LabUnit) -> tuple[Decimal, LabUnit]:
    """Haemoglobin in the unit its CTCAE thresholds are read in: g/L becomes g/dL; mmol/L stays
    mmol/L, graded on CTCAE's own mmol/L cut-offs (6.2, 4.9), which no single factor reproduces."""
    if unit is LabUnit.G_PER_DL:
        return _decimal(value), LabUnit.G_PER_DL
    if unit is LabUnit.G_PER_L:
        return g_per_l_to_g_per_dl(value), LabUnit.G_PER_DL
    if unit is LabUnit.MMOL_PER_L:
        return _decimal(value), LabUnit.MMOL_PER_L
    raise ValueError(f"{unit} is not a unit for haemoglobin")


def temperature_in_celsius(value: Decimal | int, unit: LabUnit) -> Decimal:
    if unit is LabUnit.CELSIUS:
        return _decimal(value)
    if unit is LabUnit.FAHRENHEIT:
        return fahrenheit_to_celsius(value)
    raise ValueError(f"{unit} is not a unit for temperature")


# --- lab-derived grades -------------------------------------------------------------------


@dataclass(frozen=True)
class LabGrade:
    """A grade the system proposes from a value (CLINICAL_SPEC §3); the AE records the grade.

    ``grade`` 0 means within the normal range for the term; ``None`` means no grade can be
    proposed from the value alone (``reason`` says why). ``value``/``unit`` are as compared.
    """

    term: str
    grade: int | None
    value: Decimal
    unit: LabUnit
    reason: str
    ctcae_version: str = CTCAE_VERSION


NEUTROPHIL_COUNT_DECREASED = "Neutrophil count decreased"
PLATELET_COUNT_DECREASED = "Platelet count decreased"
LYMPHOCYTE_COUNT_DECREASED = "Lymphocyte count decreased"
ANEMIA = "Anemia"
FEVER = "Fever"

# Inclusive lower bounds of grades 1, 2, 3, …: grade 1 is [bound 1, LLN), grade k is
# [bound k, bound k-1), the last grade is below the last bound. Read from the CTCAE v5.0 text.
_NEUTROPHIL_BOUNDS = (Decimal("1.5"), Decimal("1.0"), Decimal("0.5"))
_PLATELET_BOUNDS = (Decimal("75.0"), Decimal("50.0"), Decimal("25.0"))
_LYMPHOCYTE_BOUNDS = (Decimal("0.8"), Decimal("0.5"), Decimal("0.2"))
_HGB_G_PER_DL_BOUNDS = (Decimal("10.0"), Decimal("8.0"))
_HGB_MMOL_PER_L_BOUNDS = (Decimal("6.2"), Decimal("4.9"))


def _grade_decrease(
    term_name: str, value: Decimal, lln: Decimal | None, bounds: tuple[Decimal, ...], unit: LabUnit
) -> LabGrade:
    term = term_by_name(term_name)
    if value < 0:
        raise ValueError(f"{term_name}: a negative value cannot be graded")
    grade: int | None
    if value >= bounds[0]:
        if lln is None:
            return LabGrade(
                term=term.name,
                grade=None,
                value=value,
                unit=unit,
                reason=f"{value} {unit} is at or above the grade 1 floor {bounds[0]}: "
                "the lab's LLN is needed to tell grade 1 from normal",
            )
        if value >= lln:
            return LabGrade(
                term=term.name, grade=0, value=value, unit=unit, reason=f"{value} {unit} is not below the LLN {lln}"
            )
        grade = 1
    else:
        grade = len(bounds) + 1
        for candidate, bound in enumerate(bounds[1:], start=2):
            if value >= bound:
                grade = candidate
                break
    return LabGrade(
        term=term.name,
        grade=grade,
        value=value,
        unit=unit,
        reason=f"{value} {unit}: grade {grade} ({term.grade_text(grade)})",
    )


def grade_neutrophil_count_decreased(
    value: Decimal | int, unit: LabUnit = LabUnit.GIGA_PER_L, *, lln: Decimal | int | None
) -> LabGrade:
    """CTCAE v5.0 Neutrophil count decreased from ANC (CLINICAL_SPEC §3).

    In ×10⁹/L: grade 1 < LLN – 1.5; grade 2 < 1.5 – 1.0; grade 3 < 1.0 – 0.5; grade 4 < 0.5.
    So 1.0 is grade 2, 0.99 and 0.5 grade 3, 0.49 grade 4. ``lln`` is in ``unit``; it only
    matters for grade 1 (grades 2–4 are absolute cut-offs).
    """
    return _grade_decrease(
        NEUTROPHIL_COUNT_DECREASED,
        count_to_giga_per_l(value, unit),
        None if lln is None else count_to_giga_per_l(lln, unit),
        _NEUTROPHIL_BOUNDS,
        LabUnit.GIGA_PER_L,
    )


def grade_platelet_count_decreased(
    value: Decimal | int, unit: LabUnit = LabUnit.GIGA_PER_L, *, lln: Decimal | int | None
) -> LabGrade:
    """CTCAE v5.0 Platelet count decreased (CLINICAL_SPEC §3).

    In ×10⁹/L: grade 1 < LLN – 75.0; grade 2 < 75.0 – 50.0; grade 3 < 50.0 – 25.0; grade 4 < 25.0.
    So 75 is grade 1 when the LLN is above 75 (else normal), 25 grade 3, 24.9 grade 4.
    """
    return _grade_decrease(
        PLATELET_COUNT_DECREASED,
        count_to_giga_per_l(value, unit),
        None if lln is None else count_to_giga_per_l(lln, unit),
        _PLATELET_BOUNDS,
        LabUnit.GIGA_PER_L,
    )


def grade_lymphocyte_count_decreased(
    value: Decimal | int, unit: LabUnit = LabUnit.GIGA_PER_L, *, lln: Decimal | int | None
) -> LabGrade:
    """CTCAE v5.0 Lymphocyte count decreased (CLINICAL_SPEC §3).

    In ×10⁹/L: grade 1 < LLN – 0.8; grade 2 < 0.8 – 0.5; grade 3 < 0.5 – 0.2; grade 4 < 0.2.
    """
    return _grade_decrease(
        LYMPHOCYTE_COUNT_DECREASED,
        count_to_giga_per_l(value, unit),
        None if lln is None else count_to_giga_per_l(lln, unit),
        _LYMPHOCYTE_BOUNDS,
        LabUnit.GIGA_PER_L,
    )


def grade_anemia(value: Decimal | int, unit: LabUnit = LabUnit.G_PER_DL, *, lln: Decimal | int | None) -> LabGrade:
    """CTCAE v5.0 Anemia grades 1–3 from haemoglobin (CLINICAL_SPEC §3).

    g/dL: grade 1 < LLN – 10.0; grade 2 < 10.0 – 8.0; grade 3 < 8.0 (g/L is converted exactly).
    mmol/L: CTCAE's own column, grade 1 < LLN – 6.2; grade 2 < 6.2 – 4.9; grade 3 < 4.9.
    Grades 4–5 are clinical (life-threatening, death) and are entered, never proposed.
    """
    hgb, graded_unit = haemoglobin_for_grading(value, unit)
    hgb_lln = None if lln is None else haemoglobin_for_grading(lln, unit)[0]
    bounds = _HGB_MMOL_PER_L_BOUNDS if graded_unit is LabUnit.MMOL_PER_L else _HGB_G_PER_DL_BOUNDS
    return _grade_decrease(ANEMIA, hgb, hgb_lln, bounds, graded_unit)


FEVER_GRADE_1_FROM_C = Decimal("38.0")
FEVER_GRADE_1_TO_C = Decimal("39.0")
FEVER_GRADE_2_TO_C = Decimal("40.0")


def grade_fever(tmax: Decimal | int, unit: LabUnit = LabUnit.CELSIUS, *, crs_episode_day: bool = False) -> LabGrade:
    """CTCAE v5.0 Fever grades 1–2 from Tmax only (CLINICAL_SPEC §3, §1.2 g).

    Grade 1 38.0–39.0 °C (both included), grade 2 > 39.0–40.0 °C: 39.0 is grade 1, 39.1 grade 2.
    Above 40.0 °C grades 3–4 depend on duration, so no grade is proposed. On a CRS episode day
    fever is part of CRS and no Fever AE is proposed.
    """
    celsius = temperature_in_celsius(tmax, unit)
    term = term_by_name(FEVER)

    def result(grade: int | None, reason: str) -> LabGrade:
        return LabGrade(term=term.name, grade=grade, value=celsius, unit=LabUnit.CELSIUS, reason=reason)

    if crs_episode_day:
        return result(None, "fever on a CRS episode day is part of CRS: no Fever AE is proposed")
    if celsius < FEVER_GRADE_1_FROM_C:
        return result(0, f"{celsius} °C is below 38.0 °C")
    if celsius <= FEVER_GRADE_1_TO_C:
        return result(1, f"{celsius} °C: grade 1 ({term.grade_text(1)})")
    if celsius <= FEVER_GRADE_2_TO_C:
        return result(2, f"{celsius} °C: grade 2 ({term.grade_text(2)})")
    return result(None, f"{celsius} °C is above 40.0 °C: grade 3 or 4 depends on the duration; enter it")


#: The analytes whose results propose a CTCAE grade (CLINICAL_SPEC §3 "Lab-derived grades"),
#: keyed by the analyte code of `clinical.units`, with the unit of that analyte's standard value.
_LAB_GRADERS: dict[str, tuple[Callable[..., LabGrade], LabUnit]] = {
    "ANC": (grade_neutrophil_count_decreased, LabUnit.GIGA_PER_L),
    "PLT": (grade_platelet_count_decreased, LabUnit.GIGA_PER_L),
    "ALC": (grade_lymphocyte_count_decreased, LabUnit.GIGA_PER_L),
    "HGB": (grade_anemia, LabUnit.G_PER_L),
}
GRADED_ANALYTES = frozenset(_LAB_GRADERS)


def grade_lab_value(analyte_code: str, value: Decimal, *, lln: Decimal | None) -> LabGrade | None:
    """The CTCAE grade a lab result proposes (CLINICAL_SPEC §3), from its value and LLN in the
    analyte's standard unit (`clinical.units`: counts in ×10⁹/L, haemoglobin in g/L), or None
    for an analyte without a lab-derived grade. g/L and g/dL give the same anaemia grade because
    the value is converted exactly before the comparison."""
    grader = _LAB_GRADERS.get(analyte_code)
    if grader is None:
        return None
    function, unit = grader
    return function(value, unit, lln=lln)


FEVER_GRADE_4_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class TemperatureReading:
    """One recorded temperature of a subject: its instant (None when the time was not
    recorded) and its value in °C (None when not measured)."""

    at: datetime | None
    celsius: Decimal | None


def grade_fever_course(readings: Sequence[TemperatureReading], index: int) -> LabGrade | None:
    """The CTCAE v5.0 Fever grade of ``readings[index]`` among the subject's readings sorted by
    instant (CLINICAL_SPEC §3; CTCAE: 1 = 38.0–39.0 °C, 2 = >39.0–40.0 °C, 3 = >40.0 °C for
    ≤24 hrs, 4 = >40.0 °C for >24 hrs). None when the reading has no temperature.

    Up to 40.0 °C the grade comes from the value alone (:func:`grade_fever`). Above 40.0 °C the
    grade depends on how long the temperature stayed above 40.0 °C, which the readings bound:
    the consecutive readings above 40.0 °C around this one (its run) were all above 40.0 °C, so
    the fever lasted at least from the first to the last of them; it lasted at most from the
    reading before the run to the reading after it (both ≤ 40.0 °C). Grade 4 when that least
    duration exceeds 24 hours; grade 3 when the most duration is 24 hours or less; otherwise
    (a time not recorded, no reading ≤ 40.0 °C before or after the run yet, or the bounds
    straddle 24 hours) no grade is proposed and the reason says so: the site enters it.
    Every reading of the run gets the same grade (the grade of that fever).
    """
    reading = readings[index]
    if reading.celsius is None:
        return None
    simple = grade_fever(reading.celsius)
    if reading.celsius <= FEVER_GRADE_2_TO_C:
        return simple
    term = term_by_name(FEVER)
    measured = [r for r in readings if r.celsius is not None]
    position = next(i for i, r in enumerate(measured) if r is reading)
    first = position
    while first > 0 and measured[first - 1].celsius > FEVER_GRADE_2_TO_C:  # type: ignore[operator]
        first -= 1
    last = position
    while last + 1 < len(measured) and measured[last + 1].celsius > FEVER_GRADE_2_TO_C:  # type: ignore[operator]
        last += 1
    run = measured[first : last + 1]

    def result(grade: int | None, reason: str) -> LabGrade:
        return LabGrade(term=term.name, grade=grade, value=simple.value, unit=LabUnit.CELSIUS, reason=reason)

    if any(r.at is None for r in run):
        return result(None, "above 40.0 °C: grade 3 or 4 depends on the duration; a time is not recorded")
    least = run[-1].at - run[0].at  # type: ignore[operator]
    if least > FEVER_GRADE_4_AFTER:
        return result(4, f"above 40.0 °C for more than 24 hours ({least}): grade 4 ({term.grade_text(4)})")
    before = measured[first - 1] if first > 0 else None
    after = measured[last + 1] if last + 1 < len(measured) else None
    if before is None or after is None or before.at is None or after.at is None:
        return result(
            None, "above 40.0 °C: grade 3 or 4 depends on the duration; no timed reading ≤ 40.0 °C before and after"
        )
    most = after.at - before.at
    if most <= FEVER_GRADE_4_AFTER:
        return result(3, f"above 40.0 °C for at most {most}: grade 3 ({term.grade_text(3)})")
    return result(None, f"above 40.0 °C for between {least} and {most}: grade 3 or 4; enter it")
