"""Time-to-event endpoints: days and months, overall-survival censoring, Kaplan–Meier with its
median, and the Aalen–Johansen cumulative incidence (CLINICAL_SPEC §5.3, §6, §8).

Pure functions of explicit inputs; every result names the methods that produced it, because
the libraries disagree and a table must say which rule it used:

- **Kaplan–Meier** (:func:`kaplan_meier`): Greenwood variance; pointwise 95% confidence
  intervals on the log(−log) scale (``ci == "log-log"``; SAS's and lifelines' default — R's
  ``survfit`` defaults to "log", so R needs ``conf.type = "log-log"`` to agree).
- **Median** (:meth:`KaplanMeier.median`): the smallest time with S(t) ≤ 0.5; when S(t) equals
  0.5 over a flat step, the midpoint of that step (``rule == "midpoint-of-flat-step"``, as R
  and SAS report it; lifelines reports the start of the step). Its confidence interval is
  Brookmeyer–Crowley as R's ``quantile.survfit`` computes it: the same rule applied to the
  lower and the upper confidence band (see :meth:`KaplanMeier.median`).
- **Cumulative incidence** (:func:`aalen_johansen`): Aalen–Johansen, never 1 − KM (§5.3).
  lifelines' ``AalenJohansenFitter`` breaks tied times with random jitter; here ties are
  handled deterministically, as in R's ``survfit`` for multi-state data: all events at a time
  are counted together, and subjects censored at that time are still at risk for them
  (``ties == "events-before-censorings"``). The same tie rule applies to Kaplan–Meier.
  Its variance is the infinitesimal jackknife, its CI on the log scale (as R's ``survfit``
  reports for multi-state data; see :func:`aalen_johansen`).

Times are days on the clinical Day-0 clock (infusion = day 0) unless the caller chooses
otherwise; the estimators only need times ≥ 0.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from statistics import NormalDist

import numpy as np

DAYS_PER_MONTH = 30.4375  # 365.25 / 12 (§5.3)
ONE_YEAR_DAYS = 365  # 1-year OS = S(365); the protocol setting may choose 365.25 (§6)
CONF_LEVEL = 0.95

VARIANCE_METHOD = "greenwood"
CI_METHOD = "log-log"
MEDIAN_RULE = "midpoint-of-flat-step"
MEDIAN_CI_METHOD = "brookmeyer-crowley"
CUMULATIVE_INCIDENCE_METHOD = "aalen-johansen"
TIES_RULE = "events-before-censorings"
CIF_VARIANCE_METHOD = "infinitesimal-jackknife"
CIF_CI_METHOD = "log"

# R's quantile.survfit treats a curve within sqrt(machine epsilon) of 0.5 as exactly 0.5, so
# that a product such as 3/4 × 2/3 (0.49999999999999994 in binary) still counts as a flat step.
FLAT_STEP_TOLERANCE = math.sqrt(sys.float_info.epsilon)


# --- Days and months (§5.3) -------------------------------------------------------------------


def days_between(earlier: date, later: date) -> int:
    """Time-to-event in days = later − earlier, with no +1 (CLINICAL_SPEC §5.3).

    An event on the origin date is day 0. A later date before the earlier one is a data error.
    """
    if later < earlier:
        raise ValueError(f"{later.isoformat()} is before {earlier.isoformat()}")
    return (later - earlier).days


def days_to_months(days: float) -> float:
    """Months = days / 30.4375 (CLINICAL_SPEC §5.3); the caller rounds for display."""
    return days / DAYS_PER_MONTH


@dataclass(frozen=True)
class TimeToEvent:
    """One subject's time from the origin to the event or to censoring."""

    origin: date
    end: date
    event: bool

    @property
    def days(self) -> int:
        return days_between(self.origin, self.end)

    @property
    def months(self) -> float:
        return days_to_months(self.days)

    def as_observation(self) -> Observation:
        return Observation(time=self.days, event=self.event)


def overall_survival_time(
    *, infusion_date: date, cutoff_date: date, last_known_alive: date, death_date: date | None = None
) -> TimeToEvent:
    """Overall survival from CAR-T infusion (day 0) to death from any cause (CLINICAL_SPEC §6).

    A death on or before the cut-off is an event. Everyone else is censored at
    min(last date known alive, cut-off): contacts after the cut-off never extend follow-up
    past it, and a death after the cut-off is not an event — the subject was alive at the
    cut-off, so is censored there.
    """
    if cutoff_date < infusion_date:
        raise ValueError("the cut-off is before the infusion")
    if last_known_alive < infusion_date:
        raise ValueError("last known alive is before the infusion")
    if death_date is not None:
        if death_date < infusion_date:
            raise ValueError("death is before the infusion")
        if last_known_alive > death_date:
            raise ValueError("last known alive is after the death date")
        if death_date <= cutoff_date:
            return TimeToEvent(origin=infusion_date, end=death_date, event=True)
        return TimeToEvent(origin=infusion_date, end=cutoff_date, event=False)
    return TimeToEvent(origin=infusion_date, end=min(last_known_alive, cutoff_date), event=False)


# --- Kaplan–Meier (§6) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """One subject: follow-up time and whether it ended in the event (False = censored)."""

    time: float
    event: bool

    def __post_init__(self) -> None:
        _check_time(self.time)


@dataclass(frozen=True)
class KaplanMeierRow:
    """The curve at one distinct observed time (event or censoring), including that time.

    ``variance`` is Greenwood's; it and the confidence bounds are ``None`` once the curve
    reaches 0, where Greenwood's formula is undefined (R reports NA there).
    """

    time: float
    at_risk: int
    events: int
    censored: int
    survival: float
    variance: float | None
    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class SurvivalAt:
    """S(t) and its pointwise confidence interval at a requested time."""

    time: float
    survival: float
    lower: float | None
    upper: float | None
    conf_level: float
    ci: str = CI_METHOD


@dataclass(frozen=True)
class MedianSurvival:
    """Median survival time and its confidence interval; ``None`` means not reached."""

    estimate: float | None
    lower: float | None
    upper: float | None
    conf_level: float
    rule: str = MEDIAN_RULE
    ci_method: str = MEDIAN_CI_METHOD
    ci: str = CI_METHOD

    @property
    def reached(self) -> bool:
        return self.estimate is not None


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier curve: one row per distinct observed time, in ascending order."""

    rows: tuple[KaplanMeierRow, ...]
    conf_level: float
    variance_method: str = VARIANCE_METHOD
    ci: str = CI_METHOD
    ties: str = TIES_RULE

    @property
    def last_time(self) -> float:
        return self.rows[-1].time

    def at(self, time: float) -> SurvivalAt | None:
        """S(t), right-continuous: a death at t is already counted in S(t).

        Before the first observed time S = 1. After the last observed time the curve is only
        known if it has reached 0; otherwise ``None`` (no extrapolation past follow-up, as R's
        ``summary.survfit`` with ``extend = FALSE``).
        """
        _check_time(time)
        index = bisect_right([row.time for row in self.rows], time) - 1
        if index < 0:
            return SurvivalAt(time=time, survival=1.0, lower=1.0, upper=1.0, conf_level=self.conf_level)
        row = self.rows[index]
        if time > self.last_time and row.survival > 0:
            return None
        return SurvivalAt(
            time=time, survival=row.survival, lower=row.lower, upper=row.upper, conf_level=self.conf_level
        )

    def median(self) -> MedianSurvival:
        """The median and its Brookmeyer–Crowley confidence interval (CLINICAL_SPEC §6).

        One rule, R's ``quantile.survfit`` (survival package), applied to three curves:

        - the estimate: the first time S(t) ≤ 0.5; if S(t) equals 0.5 (within
          :data:`FLAT_STEP_TOLERANCE`) over a flat step, the midpoint between the start of the
          step and the next drop — or the last follow-up time when the curve ends on that step;
        - the lower limit: the same rule on the lower confidence band (the first time the band
          is ≤ 0.5);
        - the upper limit: the same rule on the upper confidence band.

        So the interval is the set of times whose pointwise log(−log) interval contains 0.5.
        Where a band never falls to 0.5 the limit is ``None`` (not reached, R's NA). Points
        where a band is undefined (S = 0) are skipped, as R skips its NAs.
        """
        times = [row.time for row in self.rows]
        return MedianSurvival(
            estimate=_first_crossing(times, [row.survival for row in self.rows], self.last_time),
            lower=_first_crossing(times, [row.lower for row in self.rows], self.last_time),
            upper=_first_crossing(times, [row.upper for row in self.rows], self.last_time),
            conf_level=self.conf_level,
        )


def kaplan_meier(observations: Iterable[Observation], *, conf_level: float = CONF_LEVEL) -> KaplanMeier:
    """The Kaplan–Meier estimate with Greenwood variance and log(−log) intervals (§6).

    At a tied time all deaths are counted together and subjects censored at that time are
    still at risk for them.
    """
    z = _z_value(conf_level)
    rows: list[KaplanMeierRow] = []
    survival = 1.0
    greenwood_sum = 0.0  # Σ d / (n (n − d)); the variance of log S
    for time, at_risk, counts in _risk_table((obs.time, int(obs.event)) for obs in observations):
        deaths = counts.get(1, 0)
        if deaths == at_risk:
            survival, greenwood_sum = 0.0, math.inf
        elif deaths:
            survival *= 1.0 - deaths / at_risk
            greenwood_sum += deaths / (at_risk * (at_risk - deaths))
        lower, upper = _log_log_interval(survival, greenwood_sum, z)
        rows.append(
            KaplanMeierRow(
                time=time,
                at_risk=at_risk,
                events=deaths,
                censored=counts.get(0, 0),
                survival=survival,
                variance=None if survival == 0 else survival * survival * greenwood_sum,
                lower=lower,
                upper=upper,
            )
        )
    return KaplanMeier(rows=tuple(rows), conf_level=conf_level)


def _log_log_interval(survival: float, greenwood_sum: float, z: float) -> tuple[float | None, float | None]:
    """exp(−exp(log(−log S) ± z·σ)), σ = √(Σ d/(n(n−d))) / |log S| — i.e. S^exp(±z·σ)."""
    if survival == 0:
        return None, None
    if greenwood_sum == 0:  # no death yet: S = 1 with no uncertainty
        return survival, survival
    spread = z * math.sqrt(greenwood_sum) / abs(math.log(survival))
    return survival ** math.exp(spread), survival ** math.exp(-spread)


def _first_crossing(times: Sequence[float], curve: Sequence[float | None], last_time: float) -> float | None:
    """R's ``findq`` for p = 0.5 on a non-increasing step curve (see :meth:`KaplanMeier.median`)."""
    defined = [(time, value) for time, value in zip(times, curve, strict=True) if value is not None]
    half = 0.5
    start = next((i for i, (_, value) in enumerate(defined) if value <= half + FLAT_STEP_TOLERANCE), None)
    if start is None:
        return None
    start_time, start_value = defined[start]
    if start_value <= half - FLAT_STEP_TOLERANCE:
        return start_time
    # The curve sits at 0.5: the median is the middle of the flat step.
    next_drop = next((time for time, value in defined[start:] if value <= half - FLAT_STEP_TOLERANCE), last_time)
    return (start_time + next_drop) / 2


# --- Aalen–Johansen cumulative incidence (§5.3) ----------------------------------------------


class RelapseOutcome(IntEnum):
    """Causes for the cumulative incidence of relapse (CLINICAL_SPEC §5.3, §8)."""

    CENSORED = 0
    RELAPSE = 1
    NON_RELAPSE_DEATH = 2


@dataclass(frozen=True)
class CompetingRiskObservation:
    """One subject: follow-up time and the first event's cause (0 = censored, 1, 2, … = cause)."""

    time: float
    cause: int

    def __post_init__(self) -> None:
        _check_time(self.time)
        if self.cause < 0:
            raise ValueError("cause must be 0 (censored) or a positive event type")


@dataclass(frozen=True)
class CumulativeIncidenceRow:
    """The estimate at one distinct observed time, including that time.

    ``event_free`` is the all-cause Kaplan–Meier S(t) (free of every cause), so that
    ``incidence`` for every cause plus ``event_free`` is 1.
    """

    time: float
    at_risk: int
    events: int
    competing_events: int
    censored: int
    incidence: float
    event_free: float
    std_error: float | None = None
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class IncidenceAt:
    """F(t) with its standard error and pointwise confidence interval at a requested time."""

    time: float
    incidence: float
    std_error: float | None
    lower: float | None
    upper: float | None
    conf_level: float
    variance: str = CIF_VARIANCE_METHOD
    ci: str = CIF_CI_METHOD


@dataclass(frozen=True)
class CumulativeIncidence:
    """The cumulative incidence function of one cause in the presence of competing causes."""

    cause: int
    rows: tuple[CumulativeIncidenceRow, ...]
    method: str = CUMULATIVE_INCIDENCE_METHOD
    ties: str = TIES_RULE
    conf_level: float = CONF_LEVEL
    variance: str = CIF_VARIANCE_METHOD
    ci: str = CIF_CI_METHOD

    @property
    def last_time(self) -> float:
        return self.rows[-1].time

    def interval_at(self, time: float) -> IncidenceAt | None:
        """F(t) with its infinitesimal-jackknife standard error and log-scale CI at `time`
        (the row in force, right-continuous); ``None`` where :meth:`at` is ``None``."""
        incidence = self.at(time)
        if incidence is None:
            return None
        index = bisect_right([row.time for row in self.rows], time) - 1
        if index < 0:
            return IncidenceAt(time, 0.0, None, None, None, self.conf_level)
        row = self.rows[index]
        return IncidenceAt(time, row.incidence, row.std_error, row.lower, row.upper, self.conf_level)

    def at(self, time: float) -> float | None:
        """F(t), right-continuous; 0 before the first time; ``None`` past follow-up unless every
        subject has had an event (then the curve is known to stay flat)."""
        _check_time(time)
        index = bisect_right([row.time for row in self.rows], time) - 1
        if index < 0:
            return 0.0
        row = self.rows[index]
        if time > self.last_time and row.event_free > 0:
            return None
        return row.incidence


def aalen_johansen(
    observations: Iterable[CompetingRiskObservation],
    *,
    cause: int = RelapseOutcome.RELAPSE,
    conf_level: float = CONF_LEVEL,
) -> CumulativeIncidence:
    """Aalen–Johansen: F(t) = Σ_{tⱼ ≤ t} S(tⱼ−) · dⱼ / nⱼ, with S the all-cause Kaplan–Meier.

    Every other positive cause competes (for relapse: non-relapse death, §5.3). Unlike 1 − KM
    with competing events censored, a subject who died without relapse is never again counted
    as able to relapse. Ties are deterministic (see the module docstring).

    **Variance: the infinitesimal jackknife**, as R's ``survfit`` reports it for a multi-state
    ``Surv`` (survival ≥ 3.0; ``std.err`` of ``pstate``): Var F(t) = Σᵢ Uᵢ(t)², where Uᵢ(t) =
    ∂F(t)/∂wᵢ is the derivative of the estimate with respect to subject i's case weight at
    wᵢ = 1. It is computed exactly by carrying ∂S and ∂F through the product-limit recursion:

        ∂S(tⱼ) = ∂S(tⱼ₋₁)(1 − dⱼ/nⱼ) − S(tⱼ₋₁)(∂dⱼ·nⱼ − dⱼ·∂nⱼ)/nⱼ²
        ∂F(tⱼ) = ∂F(tⱼ₋₁) + ∂S(tⱼ₋₁)·d₁ⱼ/nⱼ + S(tⱼ₋₁)(∂d₁ⱼ·nⱼ − d₁ⱼ·∂nⱼ)/nⱼ²

    with ∂nⱼ = 1 while subject i is at risk at tⱼ, ∂dⱼ (∂d₁ⱼ) = 1 when its event (of the cause)
    is at tⱼ. Subjects with the same (time, cause) have the same influence, so the sum runs
    over those groups. The pointwise CI is on the **log scale** (R's default ``conf.type =
    "log"``): F · exp(± z · SE / F), the upper bound capped at 1; none while F = 0.
    On §8's data: F(365) = 0.4156, SE 0.1633, 95% CI 0.1924–0.8977 (R survival 3.5-3).
    """
    if cause <= 0:
        raise ValueError("the cause of interest must be a positive event type")
    z = _z_value(conf_level)
    data = [(obs.time, obs.cause) for obs in observations]
    table = _risk_table(data)
    # groups of identical subjects: (time, cause) → how many; their derivatives as vectors
    groups: dict[tuple[float, int], int] = {}
    for key in data:
        groups[key] = groups.get(key, 0) + 1
    group_times = np.array([time for time, _kind in groups], dtype=float)
    group_kinds = np.array([kind for _time, kind in groups], dtype=int)
    group_sizes = np.array(list(groups.values()), dtype=float)
    d_event_free = np.zeros(len(groups))
    d_incidence = np.zeros(len(groups))
    rows: list[CumulativeIncidenceRow] = []
    event_free = 1.0
    incidence = 0.0
    for time, at_risk, counts in table:
        events = counts.get(cause, 0)
        all_events = sum(count for kind, count in counts.items() if kind != 0)
        n2 = float(at_risk) * at_risk
        d_n = (group_times >= time).astype(float)  # still at risk at this time
        at_time = group_times == time
        d_any = (at_time & (group_kinds != 0)).astype(float)
        d_cause = (at_time & (group_kinds == cause)).astype(float)
        d_incidence = (
            d_incidence + d_event_free * (events / at_risk) + event_free * (d_cause * at_risk - events * d_n) / n2
        )
        d_event_free = (
            d_event_free * (1.0 - all_events / at_risk) - event_free * (d_any * at_risk - all_events * d_n) / n2
        )
        variance = float(np.dot(group_sizes, d_incidence * d_incidence))
        incidence += event_free * events / at_risk
        event_free *= 1.0 - all_events / at_risk
        std_error = math.sqrt(variance)
        lower, upper = _log_interval(incidence, std_error, z)
        rows.append(
            CumulativeIncidenceRow(
                time=time,
                at_risk=at_risk,
                events=events,
                competing_events=all_events - events,
                censored=counts.get(0, 0),
                incidence=incidence,
                event_free=event_free,
                std_error=std_error,
                lower=lower,
                upper=upper,
            )
        )
    return CumulativeIncidence(cause=cause, rows=tuple(rows), conf_level=conf_level)


def _log_interval(estimate: float, std_error: float, z: float) -> tuple[float | None, float | None]:
    """F · exp(± z · SE / F), the upper bound capped at 1 (R's ``conf.type = "log"``)."""
    if estimate <= 0:
        return None, None
    spread = math.exp(z * std_error / estimate)
    return estimate / spread, min(1.0, estimate * spread)


# --- Shared ----------------------------------------------------------------------------------


def _risk_table(observations: Iterable[tuple[float, int]]) -> list[tuple[float, int, dict[int, int]]]:
    """(time, number at risk just before it, {kind: count}) for each distinct time, ascending.

    Kind 0 is a censoring. Everyone observed at or after a time is at risk at it, so a subject
    censored at t is at risk for the events at t (events before censorings).
    """
    by_time: dict[float, dict[int, int]] = {}
    for time, kind in observations:
        counts = by_time.setdefault(time, {})
        counts[kind] = counts.get(kind, 0) + 1
    if not by_time:
        raise ValueError("no observations")
    at_risk = sum(sum(counts.values()) for counts in by_time.values())
    table: list[tuple[float, int, dict[int, int]]] = []
    for time in sorted(by_time):
        counts = by_time[time]
        table.append((time, at_risk, counts))
        at_risk -= sum(counts.values())
    return table


def _check_time(time: float) -> None:
    if not math.isfinite(time) or time < 0:
        raise ValueError(f"time must be a finite number ≥ 0, not {time!r}")


def _z_value(conf_level: float) -> float:
    if not 0 < conf_level < 1:
        raise ValueError("conf_level must be between 0 and 1")
    return NormalDist().inv_cdf(1 - (1 - conf_level) / 2)
