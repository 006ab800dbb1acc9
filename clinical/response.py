"""Response of ALL after CAR-T: per-assessment category, MRD, molecular remission, the
extramedullary compartment, best overall response and the time-to-event records
(CLINICAL_SPEC §5.1–§5.3, §6, §8).

Pure functions of explicit inputs (STYLE habit 1). Every result names ``CRITERIA``. Percentages
are ``Decimal`` and compared exactly as entered (no rounding). The protocol's choices come in as
a frozen :class:`ResponseSettings` (built by ``ProtocolChoices.response_settings()``):

- count operator (§5.1, default ``>=``; ELN uses ``>``): ANC ``op`` 1.0 ×10⁹/L and platelets
  ``op`` 100 ×10⁹/L are "recovered";
- relapse operator and threshold (§5.1, default ``>= 5``; NCCN ``> 5``): marrow blasts meeting
  it are relapse after CR/CRi; blasts *not* meeting it are the morphological remission of CR.
  So with the default 5% is not CR (and is PR from a 60% baseline, §8), with ``>`` it is CR.

A value exactly at any §5.1 threshold (ANC 1.0, platelets 100, marrow blasts at the relapse
threshold or at 25%, a fall of exactly 50% or a rise of exactly 25% from baseline) is listed in
``boundary`` "whatever the setting", for investigator adjudication (§5.1). The MRD cut-off is
not an adjudication boundary: §5.2 decides it (strict, exactly 0.01% is positive).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import IntEnum, StrEnum

from clinical.survival import CompetingRiskObservation, RelapseOutcome, TimeToEvent, days_between

CRITERIA = "CLINICAL_SPEC-5-v1"

ANC_RECOVERED = Decimal("1.0")  # ×10⁹/L (§5.1)
PLATELETS_RECOVERED = Decimal("100")  # ×10⁹/L (§5.1)
PR_BLASTS_UPPER = Decimal("25")  # % (§5.1 "marrow blasts 5–25%")
PR_FALL_PCT = Decimal("50")  # ≥ 50% fall from baseline (§5.1)
PD_RISE_PCT = Decimal("25")  # ≥ 25% rise from baseline (§5.1)
EMD_PR_DECREASE_PCT = Decimal("50")  # ≥ 50% decrease in the sum of product diameters (§5.1)
EMD_PD_INCREASE_PCT = Decimal("50")  # ≥ 50% increase from nadir (§5.1)
PET_NEGATIVE_MAX_DEAUVILLE = 3  # Deauville 1–3 is PET-negative (Lugano)
TRANSFUSION_LOOKBACK_DAYS = 7  # no transfusion in the previous 7 days (§5.1)


@dataclass(frozen=True)
class ResponseSettings:
    """The §5.1/§5.2 protocol choices; defaults are CLINICAL_SPEC's."""

    count_operator: str = ">="
    relapse_operator: str = ">="
    relapse_threshold_pct: Decimal = Decimal("5")
    mrd_cutoff_pct: Decimal = Decimal("0.01")
    mrd_min_cells_flow: int = 500_000

    def __post_init__(self) -> None:
        for name in ("count_operator", "relapse_operator"):
            if getattr(self, name) not in (">=", ">"):
                raise ValueError(f"{name} must be '>=' or '>'")
        if self.relapse_threshold_pct <= 0 or self.mrd_cutoff_pct <= 0 or self.mrd_min_cells_flow < 0:
            raise ValueError("thresholds must be positive")


DEFAULT_SETTINGS = ResponseSettings()


def _meets(value: Decimal, operator: str, threshold: Decimal) -> bool:
    return value >= threshold if operator == ">=" else value > threshold


# --- MRD (§5.2) ---------------------------------------------------------------------------------


class MrdMethod(StrEnum):
    FLOW = "flow"
    TCR_PCR = "tcr_pcr"  # RQ-PCR of TCR rearrangement
    NGS = "ngs"
    FUSION_PCR = "fusion_pcr"  # fusion-transcript PCR


MOLECULAR_METHODS = frozenset({MrdMethod.TCR_PCR, MrdMethod.NGS, MrdMethod.FUSION_PCR})


class MrdStatus(StrEnum):
    NEGATIVE = "negative"
    POSITIVE = "positive"
    NOT_EVALUABLE = "not_evaluable"  # "MRD unknown": never negative (§5.2)


@dataclass(frozen=True)
class MrdTest:
    """One MRD test (§5.2). ``sensitivity`` is the assay's limit of detection as a fraction of
    cells (10⁻⁴ = 0.01%); ``level_pct`` is in percent."""

    method: MrdMethod
    detected: bool
    level_pct: Decimal | None = None
    sensitivity: Decimal | None = None
    cells_analysed: int | None = None
    specimen: str = "marrow"
    cd7_independent_gating: bool | None = None


def assay_sees_cutoff(test: MrdTest, settings: ResponseSettings = DEFAULT_SETTINGS) -> bool:
    """§5.2: sensitivity ≤ the cut-off and, for flow, at least the minimum cells analysed."""
    if test.sensitivity is None:
        return False
    if test.sensitivity * 100 > settings.mrd_cutoff_pct:
        return False
    if test.method == MrdMethod.FLOW:
        return test.cells_analysed is not None and test.cells_analysed >= settings.mrd_min_cells_flow
    return True


def mrd_test_status(test: MrdTest, settings: ResponseSettings = DEFAULT_SETTINGS) -> MrdStatus:
    """§5.2: positive when the level is ≥ the cut-off (strict: exactly 0.01% is positive);
    negative when below it (or not detected) *and* the assay can see the cut-off; otherwise not
    evaluable. A detected result without a level cannot be placed against the cut-off."""
    if test.level_pct is not None and test.level_pct >= settings.mrd_cutoff_pct:
        return MrdStatus.POSITIVE
    if test.detected and test.level_pct is None:
        return MrdStatus.NOT_EVALUABLE
    return MrdStatus.NEGATIVE if assay_sees_cutoff(test, settings) else MrdStatus.NOT_EVALUABLE


def mrd_status(tests: Iterable[MrdTest], settings: ResponseSettings = DEFAULT_SETTINGS) -> MrdStatus | None:
    """One assessment's MRD: any positive test makes it positive; else any evaluable negative
    makes it negative; else not evaluable. ``None`` when no test was done."""
    statuses = [mrd_test_status(t, settings) for t in tests]
    if not statuses:
        return None
    if MrdStatus.POSITIVE in statuses:
        return MrdStatus.POSITIVE
    if MrdStatus.NEGATIVE in statuses:
        return MrdStatus.NEGATIVE
    return MrdStatus.NOT_EVALUABLE


class MolecularRemission(StrEnum):
    ACHIEVED = "achieved"
    NOT_ACHIEVED = "not_achieved"
    NOT_EVALUABLE = "not_evaluable"
    NO_MARKER = "no_marker"


def molecular_remission(
    *, baseline: Iterable[MrdTest], tests: Iterable[MrdTest], settings: ResponseSettings = DEFAULT_SETTINGS
) -> MolecularRemission:
    """§5.2: a molecular marker (TCR RQ-PCR, NGS, fusion transcript) positive at baseline is
    undetectable at the required sensitivity (LOD ≤ the cut-off). Per method: the marker must
    have been detected at baseline by that method."""
    markers = {t.method for t in baseline if t.method in MOLECULAR_METHODS and t.detected}
    if not markers:
        return MolecularRemission.NO_MARKER
    follow = [t for t in tests if t.method in markers]
    if not follow:
        return MolecularRemission.NOT_EVALUABLE
    if any(t.detected for t in follow):
        return MolecularRemission.NOT_ACHIEVED
    if all(t.sensitivity is not None and t.sensitivity * 100 <= settings.mrd_cutoff_pct for t in follow):
        return MolecularRemission.ACHIEVED
    return MolecularRemission.NOT_EVALUABLE


# --- Per-assessment categories (§5.1) -----------------------------------------------------------


class Category(StrEnum):
    CR = "CR"
    CRI = "CRi"
    PR = "PR"
    NR = "NR"
    PD = "PD"
    RELAPSE = "relapse"


class CnsStatus(StrEnum):
    CNS1 = "CNS1"
    CNS2 = "CNS2"
    CNS3 = "CNS3"


@dataclass(frozen=True)
class Baseline:
    """The last disease assessment before lymphodepletion (§5.1)."""

    marrow_blasts_pct: Decimal | None
    peripheral_blasts_pct: Decimal | None = None
    extramedullary_disease: bool = False
    cns_status: CnsStatus | None = None


@dataclass(frozen=True)
class MarrowAssessment:
    """The marrow, blood and CNS findings of one assessment (the marrow compartment)."""

    marrow_blasts_pct: Decimal
    peripheral_blasts_pct: Decimal
    anc: Decimal  # ×10⁹/L
    platelets: Decimal  # ×10⁹/L
    transfused_previous_7_days: bool
    cns_status: CnsStatus = CnsStatus.CNS1
    extramedullary_disease: bool = False


@dataclass(frozen=True)
class Boundary:
    """A value exactly at a §5.1 threshold: the investigator adjudicates the category."""

    field: str
    value: Decimal
    threshold: Decimal
    rule: str


@dataclass(frozen=True)
class MarrowResponse:
    category: Category
    boundary: tuple[Boundary, ...]
    criteria: str = CRITERIA


def _relative_change_pct(value: Decimal, baseline: Decimal) -> Decimal | None:
    if baseline == 0:
        return None
    return (value - baseline) * 100 / baseline


def marrow_response(
    assessment: MarrowAssessment,
    *,
    baseline: Baseline,
    prior_remission: bool = False,
    settings: ResponseSettings = DEFAULT_SETTINGS,
) -> MarrowResponse:
    """§5.1 per assessment, against the baseline. ``prior_remission``: the subject reached CR or
    CRi at an earlier assessment after infusion, so returning disease is relapse, not PD.

    Order: relapse (after CR/CRi: marrow blasts meeting the relapse threshold, circulating
    blasts, or new extramedullary disease including isolated CNS) → PD (≥ 25% rise in marrow or
    circulating blasts, or new extramedullary disease) → CR → CRi → PR → NR."""
    a = assessment
    boundary: list[Boundary] = []

    def at(name: str, value: Decimal, threshold: Decimal, rule: str) -> None:
        if value == threshold:
            boundary.append(Boundary(name, value, threshold, rule))

    at("marrow_blasts_pct", a.marrow_blasts_pct, settings.relapse_threshold_pct, "relapse threshold / CR blasts")
    at("marrow_blasts_pct", a.marrow_blasts_pct, PR_BLASTS_UPPER, "PR blasts 5–25%")
    at("anc", a.anc, ANC_RECOVERED, "ANC recovered")
    at("platelets", a.platelets, PLATELETS_RECOVERED, "platelets recovered")
    marrow_change = (
        _relative_change_pct(a.marrow_blasts_pct, baseline.marrow_blasts_pct)
        if baseline.marrow_blasts_pct is not None
        else None
    )
    blood_change = (
        _relative_change_pct(a.peripheral_blasts_pct, baseline.peripheral_blasts_pct)
        if baseline.peripheral_blasts_pct is not None
        else None
    )
    if marrow_change is not None:
        at("marrow_blasts_pct", -marrow_change, PR_FALL_PCT, "≥ 50% fall from baseline")
        at("marrow_blasts_pct", marrow_change, PD_RISE_PCT, "≥ 25% rise from baseline")
    if blood_change is not None:
        at("peripheral_blasts_pct", blood_change, PD_RISE_PCT, "≥ 25% rise from baseline")

    cns_disease = a.cns_status != CnsStatus.CNS1
    emd_now = a.extramedullary_disease or cns_disease
    baseline_cns = baseline.cns_status not in (None, CnsStatus.CNS1)
    new_emd = (a.extramedullary_disease and not baseline.extramedullary_disease) or (cns_disease and not baseline_cns)
    blasts_relapse = _meets(a.marrow_blasts_pct, settings.relapse_operator, settings.relapse_threshold_pct)
    circulating = a.peripheral_blasts_pct > 0

    def result(category: Category) -> MarrowResponse:
        return MarrowResponse(category=category, boundary=tuple(boundary))

    if prior_remission and (blasts_relapse or circulating or emd_now):
        return result(Category.RELAPSE)
    rise = (marrow_change is not None and marrow_change >= PD_RISE_PCT) or (
        blood_change is not None and blood_change >= PD_RISE_PCT
    )
    if not prior_remission and (rise or new_emd):
        return result(Category.PD)
    counts = (
        _meets(a.anc, settings.count_operator, ANC_RECOVERED)
        and _meets(a.platelets, settings.count_operator, PLATELETS_RECOVERED)
        and not a.transfused_previous_7_days
    )
    if not blasts_relapse and not circulating and not emd_now:
        return result(Category.CR if counts else Category.CRI)
    fall = marrow_change is not None and -marrow_change >= PR_FALL_PCT
    in_pr_range = settings.relapse_threshold_pct <= a.marrow_blasts_pct <= PR_BLASTS_UPPER
    if in_pr_range and fall and counts:
        return result(Category.PR)
    return result(Category.NR)


# --- Extramedullary compartment and overall response (§5.1) -------------------------------------


class EmdResponse(StrEnum):
    NOT_APPLICABLE = "not_applicable"  # no extramedullary disease at baseline and none now
    CR = "CR"
    PR = "PR"
    SD = "SD"  # neither PR nor PD: counts as NR overall
    PD = "PD"


@dataclass(frozen=True)
class ExtramedullaryAssessment:
    """Investigator-assessed masses (T-LBL) on PET-CT (§5.1). ``spd_change_from_baseline_pct``
    and ``spd_change_from_nadir_pct`` are the sum of product diameters' change in percent
    (negative = smaller)."""

    disease_at_baseline: bool
    new_lesion: bool = False
    deauville: int | None = None
    spd_change_from_baseline_pct: Decimal | None = None
    spd_change_from_nadir_pct: Decimal | None = None


def extramedullary_response(emd: ExtramedullaryAssessment) -> EmdResponse:
    """§5.1: PD = new lesion or ≥ 50% increase from nadir; CR = PET-negative (Deauville 1–3),
    a residual mass allowed; PR = ≥ 50% decrease in the sum of product diameters; else stable."""
    if emd.new_lesion or (
        emd.spd_change_from_nadir_pct is not None and emd.spd_change_from_nadir_pct >= EMD_PD_INCREASE_PCT
    ):
        return EmdResponse.PD
    if not emd.disease_at_baseline:
        return EmdResponse.NOT_APPLICABLE
    if emd.deauville is not None and emd.deauville <= PET_NEGATIVE_MAX_DEAUVILLE:
        return EmdResponse.CR
    if emd.spd_change_from_baseline_pct is not None and -emd.spd_change_from_baseline_pct >= EMD_PR_DECREASE_PCT:
        return EmdResponse.PR
    return EmdResponse.SD


#: How good a compartment's response is; the overall response is the worse one (§5.1).
_GOODNESS = {
    Category.CR: 5,
    Category.CRI: 4,
    Category.PR: 3,
    Category.NR: 2,
    Category.PD: 1,
    Category.RELAPSE: 0,
}
_EMD_AS_CATEGORY = {
    EmdResponse.CR: Category.CR,
    EmdResponse.PR: Category.PR,
    EmdResponse.SD: Category.NR,
}


def overall_response(marrow: Category, emd: EmdResponse | None, *, prior_remission: bool = False) -> Category:
    """§5.1: the worse of the marrow and extramedullary compartments. Extramedullary PD is
    relapse after CR/CRi, PD otherwise."""
    if emd is None or emd == EmdResponse.NOT_APPLICABLE:
        return marrow
    other = (Category.RELAPSE if prior_remission else Category.PD) if emd == EmdResponse.PD else _EMD_AS_CATEGORY[emd]
    return marrow if _GOODNESS[marrow] <= _GOODNESS[other] else other


# --- Labels, best overall response (§5.3) -------------------------------------------------------


def response_label(category: Category, mrd: MrdStatus | None) -> str:
    """ "CR MRD−", "CR, MRD unknown" (not evaluable or not done), "CRi MRD+", "PR" …"""
    if category not in (Category.CR, Category.CRI):
        return category.value
    if mrd == MrdStatus.NEGATIVE:
        return f"{category.value} MRD−"
    if mrd == MrdStatus.POSITIVE:
        return f"{category.value} MRD+"
    return f"{category.value}, MRD unknown"


class Rank(IntEnum):
    """§5.3 ranking, best first; relapse ranks with PD. NOT_ASSESSED counts as a non-responder
    but is shown apart."""

    CR_MRD_NEGATIVE = 7
    CR_MRD_POSITIVE_OR_UNKNOWN = 6
    CRI_MRD_NEGATIVE = 5
    CRI_MRD_POSITIVE_OR_UNKNOWN = 4
    PR = 3
    NR = 2
    PD = 1
    NOT_ASSESSED = 0


def rank(category: Category, mrd: MrdStatus | None) -> Rank:
    negative = mrd == MrdStatus.NEGATIVE
    if category == Category.CR:
        return Rank.CR_MRD_NEGATIVE if negative else Rank.CR_MRD_POSITIVE_OR_UNKNOWN
    if category == Category.CRI:
        return Rank.CRI_MRD_NEGATIVE if negative else Rank.CRI_MRD_POSITIVE_OR_UNKNOWN
    return {Category.PR: Rank.PR, Category.NR: Rank.NR}.get(category, Rank.PD)


@dataclass(frozen=True)
class DatedResponse:
    """One assessment's overall response on its date."""

    assessed_on: date
    category: Category
    mrd: MrdStatus | None = None

    @property
    def label(self) -> str:
        return response_label(self.category, self.mrd)

    @property
    def remission(self) -> bool:
        return self.category in (Category.CR, Category.CRI)


@dataclass(frozen=True)
class BestResponse:
    """Best overall response in a window; ``best is None`` means "not assessed"."""

    best: DatedResponse | None
    window_from: date
    window_to: date
    excluded_after_new_therapy: tuple[date, ...] = ()
    criteria: str = CRITERIA

    @property
    def not_assessed(self) -> bool:
        return self.best is None

    @property
    def responder(self) -> bool:
        return self.best is not None and self.best.remission

    @property
    def label(self) -> str:
        return self.best.label if self.best is not None else "not assessed"


def best_overall_response(
    responses: Iterable[DatedResponse],
    *,
    infusion_date: date,
    horizon_day: int,
    window_after_days: int,
    new_therapy_date: date | None = None,
) -> BestResponse:
    """§5.3: the best response among assessments from infusion (day 0) to the horizon day plus
    the horizon visit's window (day 28 ± 3 → day 31; day 365 ± 7 → day 372), excluding
    assessments after new anti-leukaemic therapy (consolidative HSCT, DLI, new chemotherapy;
    an assessment on the therapy's own date is before it). Ties keep the earliest."""
    window_to = infusion_date + timedelta(days=horizon_day + window_after_days)
    best: DatedResponse | None = None
    excluded: list[date] = []
    for r in sorted(responses, key=lambda r: r.assessed_on):
        if r.assessed_on < infusion_date or r.assessed_on > window_to:
            continue
        if new_therapy_date is not None and r.assessed_on > new_therapy_date:
            excluded.append(r.assessed_on)
            continue
        if best is None or rank(r.category, r.mrd) > rank(best.category, best.mrd):
            best = r
    return BestResponse(
        best=best, window_from=infusion_date, window_to=window_to, excluded_after_new_therapy=tuple(excluded)
    )


def mrd_recurrences(responses: Iterable[DatedResponse]) -> list[date]:
    """§5.1: MRD becoming positive after an MRD-negative CR (CR or CRi) without haematological
    relapse is "MRD recurrence", recorded apart from relapse. Returns the dates of each
    recurrence (the first MRD+ remission assessment after an MRD− one)."""
    found: list[date] = []
    negative_cr = False
    for r in sorted(responses, key=lambda r: r.assessed_on):
        if r.remission and r.mrd == MrdStatus.NEGATIVE:
            negative_cr = True
        elif negative_cr and r.remission and r.mrd == MrdStatus.POSITIVE:
            found.append(r.assessed_on)
            negative_cr = False
        elif r.category in (Category.RELAPSE, Category.PD):
            negative_cr = False
    return found


# --- Time-to-event records (§5.3, §6) -----------------------------------------------------------


@dataclass(frozen=True)
class SubjectCourse:
    """A subject's dated events. ``last_known_alive`` comes from follow-up contacts (and other
    dated records); ``relapse_dates`` are relapse or progression dates (relapse forms and PD /
    relapse assessments); ``hsct_date`` the first consolidative HSCT."""

    infusion_date: date
    last_known_alive: date
    responses: tuple[DatedResponse, ...] = ()
    relapse_dates: tuple[date, ...] = ()
    death_date: date | None = None
    hsct_date: date | None = None
    new_therapy_date: date | None = None


@dataclass(frozen=True)
class TimeToEventRecords:
    """One subject's endpoints in days (§5.3: later − earlier, no +1); ``None`` = not defined
    (RFS and DOR need a CR/CRi). ``competing`` is relapse (1) / non-relapse death (2) /
    censored (0) from infusion, for the Aalen–Johansen estimate."""

    os: TimeToEvent
    efs: TimeToEvent
    rfs: TimeToEvent | None
    dor: TimeToEvent | None
    competing: CompetingRiskObservation
    day28_response: BestResponse
    criteria: str = CRITERIA


def _first(dates: Iterable[date | None]) -> date | None:
    known = [d for d in dates if d is not None]
    return min(known) if known else None


def time_to_event_records(
    course: SubjectCourse,
    *,
    cutoff: date,
    day28_window_after_days: int = 3,
    censor_at_hsct: bool = False,
) -> TimeToEventRecords:
    """The §5.3 / §6 records over a data cut. Events after the cut-off are ignored; subjects
    without the event are censored at min(last date known alive, cut-off) (§6) — or at the
    HSCT date when ``censor_at_hsct`` (the §5.3 sensitivity analysis; the primary analysis
    does not censor at HSCT).

    - OS: infusion → death from any cause.
    - EFS: infusion → the earliest of: no CR/CRi at the day-28 assessment (within its window,
      assessments after new therapy excluded; "not assessed" counts as no CR) — event at day 0;
      relapse or progression; death. At a cut-off inside the day-28 window (before day 28 +
      ``day28_window_after_days``) the read-out is not due: a subject alive without a CR/CRi yet
      has no day-0 event — an event at a progression already seen, else censored; a death
      settles it (day 0).
    - RFS: first CR/CRi → relapse or death. DOR: first CR/CRi → relapse.
    - Competing: infusion → relapse (1) or non-relapse death (2), else censored (0).
    """
    origin = course.infusion_date
    if cutoff < origin:
        raise ValueError("the cut-off is before the infusion")

    def seen(d: date | None) -> date | None:
        return d if d is not None and d <= cutoff else None

    death = seen(course.death_date)
    relapses = sorted(d for d in course.relapse_dates if d >= origin and d <= cutoff)
    relapse = _first(relapses)
    # A recorded death (within the cut) is the last day known alive.
    censor_at = death if death is not None else min(course.last_known_alive, cutoff)
    hsct = seen(course.hsct_date)
    if censor_at_hsct and hsct is not None:
        censor_at = min(censor_at, hsct)
        relapses = [d for d in relapses if d <= hsct]
        relapse = _first(relapses)
        if death is not None and death > hsct:
            death = None

    def record(start: date, event: date | None) -> TimeToEvent:
        if event is not None and event >= start:
            return TimeToEvent(origin=start, end=event, event=True)
        return TimeToEvent(origin=start, end=max(start, censor_at), event=False)

    os_record = record(origin, death)
    in_cut = [r for r in course.responses if r.assessed_on <= cutoff]
    day28 = best_overall_response(
        in_cut,
        infusion_date=origin,
        horizon_day=28,
        window_after_days=day28_window_after_days,
        new_therapy_date=course.new_therapy_date,
    )
    if day28.responder:
        efs_event = _first([relapse, death])
    elif death is not None or cutoff >= origin + timedelta(days=28 + day28_window_after_days):
        efs_event = origin  # no CR/CRi at the day-28 read-out: the window has closed, or death settled it
    else:
        # an interim cut inside the day-28 window: the read-out is not due yet, so no event at day 0;
        # a progression already seen is an event, otherwise censored as usual
        efs_event = relapse
    efs = record(origin, efs_event)
    first_remission = next(
        (r.assessed_on for r in sorted(in_cut, key=lambda r: r.assessed_on) if r.remission and r.assessed_on >= origin),
        None,
    )
    rfs = dor = None
    if first_remission is not None:
        # The first relapse on or after the first CR/CRi: a progression before the remission
        # (EFS's event) does not end the response that followed it (§5.3 DOR, RFS).
        after = _first(d for d in relapses if d >= first_remission)
        rfs = record(first_remission, _first([after, death]))
        dor = record(first_remission, after)
    if relapse is not None and (death is None or relapse <= death):
        competing = CompetingRiskObservation(time=days_between(origin, relapse), cause=RelapseOutcome.RELAPSE)
    elif death is not None:
        competing = CompetingRiskObservation(time=days_between(origin, death), cause=RelapseOutcome.NON_RELAPSE_DEATH)
    else:
        competing = CompetingRiskObservation(time=days_between(origin, censor_at), cause=RelapseOutcome.CENSORED)
    return TimeToEventRecords(os=os_record, efs=efs, rfs=rfs, dor=dor, competing=competing, day28_response=day28)


def last_known_alive(*, infusion_date: date, alive_on: Sequence[date], cutoff: date | None = None) -> date:
    """§6: the last date the subject was known alive — the latest alive contact (the infusion
    date at least); contacts after the cut-off are ignored."""
    dates = [d for d in alive_on if cutoff is None or d <= cutoff]
    return max([infusion_date, *dates])


__all__ = [
    "CRITERIA",
    "Baseline",
    "BestResponse",
    "Boundary",
    "Category",
    "CnsStatus",
    "DatedResponse",
    "EmdResponse",
    "ExtramedullaryAssessment",
    "MarrowAssessment",
    "MarrowResponse",
    "MolecularRemission",
    "MrdMethod",
    "MrdStatus",
    "MrdTest",
    "Rank",
    "ResponseSettings",
    "SubjectCourse",
    "TimeToEventRecords",
    "best_overall_response",
    "extramedullary_response",
    "last_known_alive",
    "marrow_response",
    "molecular_remission",
    "mrd_recurrences",
    "mrd_status",
    "mrd_test_status",
    "overall_response",
    "response_label",
    "time_to_event_records",
]
