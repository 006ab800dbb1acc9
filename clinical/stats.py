"""Proportions with exact Clopper–Pearson confidence intervals (CLINICAL_SPEC §6).

Response rates, MRD negativity and DLT rates are reported as x/n with this interval. The bounds
are quantiles of beta distributions (scipy, present with lifelines):

    lower = Beta(α/2; x, n − x + 1)      (0 when x = 0)
    upper = Beta(1 − α/2; x + 1, n − x)  (1 when x = n)

With no successes the upper bound has the closed form 1 − (α/2)^(1/n), and symmetrically for
x = n; R's ``binom.test`` and SAS's ``EXACT BINOMIAL`` give the same interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CONF_LEVEL = 0.95
CLOPPER_PEARSON = "clopper-pearson"


@dataclass(frozen=True)
class Proportion:
    """x/n with its confidence interval and the method that produced it."""

    successes: int
    total: int
    lower: float
    upper: float
    conf_level: float
    ci: str = CLOPPER_PEARSON

    @property
    def estimate(self) -> float:
        return self.successes / self.total


def clopper_pearson(successes: int, total: int, *, conf_level: float = CONF_LEVEL) -> Proportion:
    """The exact (Clopper–Pearson) two-sided interval for successes/total."""
    if total <= 0:
        raise ValueError("a proportion needs at least one subject")
    if not 0 <= successes <= total:
        raise ValueError("successes must be between 0 and the total")
    if not 0 < conf_level < 1:
        raise ValueError("conf_level must be between 0 and 1")
    # scipy.stats takes most of a second to import: loaded when an interval is first computed, not
    # by every process that starts Django (each test worker, the web workers, Celery).
    from scipy.stats import beta

    tail = (1 - conf_level) / 2
    lower = 0.0 if successes == 0 else float(beta.ppf(tail, successes, total - successes + 1))
    upper = 1.0 if successes == total else float(beta.ppf(1 - tail, successes + 1, total - successes))
    return Proportion(successes=successes, total=total, lower=lower, upper=upper, conf_level=conf_level)


def percent(value: float, places: int = 1) -> str:
    """A proportion as a percentage with `places` decimals, rounded half up from its decimal
    expansion (0.30849 → "30.8"): the one number format of every table (issue 30)."""
    quantum = Decimal(1).scaleb(-places)
    return str((Decimal(repr(float(value))) * 100).quantize(quantum, rounding=ROUND_HALF_UP))


def percent_with_ci(proportion: Proportion) -> str:
    """The estimate with its CI, all in percent with one decimal: "0.0% (0.0–30.8%)"."""
    return f"{percent(proportion.estimate)}% ({percent(proportion.lower)}–{percent(proportion.upper)}%)"
