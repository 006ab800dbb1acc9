"""Plausibility of clinical dates (issue 21; CLINICAL_SPEC §7 visit windows assume real dates).

A date recorded on a CRF is an event that happened: never after today at the site, never before
1900 (a typed 0001-01-01 or 9999-12-31 is a slip, not a date). Planned dates are not recorded
events and are not checked here. Pure functions: the caller supplies the site's today.
"""

from __future__ import annotations

from datetime import date

EARLIEST = date(1900, 1, 1)


def implausible(value: date, *, today: date) -> str | None:
    """ "future" or "before_1900" when `value` cannot be a recorded clinical date, else None."""
    if value > today:
        return "future"
    if value < EARLIEST:
        return "before_1900"
    return None


def before_consent(value: date | None, consent: date | None) -> bool:
    """An assessment bound to a visit, or an AE onset, dated before the subject's first consent
    (medical history, disease history, prior therapy and con-med start dates are exempt)."""
    return value is not None and consent is not None and value < consent
