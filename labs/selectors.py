"""Reads of lab results for derivations elsewhere (grading, ICAHT, response): values in each
analyte's standard unit (clinical.units), never the unit as reported."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import F

from labs.models import LabResult

if TYPE_CHECKING:
    from subjects.models import Subject


@dataclass(frozen=True)
class StandardResult:
    """One result in the analyte's standard unit, with the reference range used and its flag."""

    result_id: int
    analyte: str
    collected_on: date
    collected_time: time | None
    value: Decimal
    unit: str
    lln: Decimal | None
    uln: Decimal | None
    flag: str


def latest_results(
    subject: Subject, analyte_codes: Iterable[str], on_or_before: date | None = None
) -> dict[str, StandardResult]:
    """The latest result of each analyte (by collection date, then time — an untimed result
    counts as earlier than a timed one on the same day — then entry order), dated on or before
    `on_or_before` when given; entered-in-error rows never count. Analytes without a result
    are absent from the answer. One query."""
    codes = list(analyte_codes)
    rows = LabResult.objects.filter(subject=subject, analyte__in=codes, entered_in_error=False)
    if on_or_before is not None:
        rows = rows.filter(collected_on__lte=on_or_before)
    # PostgreSQL sorts NULL first in descending order: untimed rows go after timed ones.
    rows = rows.order_by("analyte", "-collected_on", F("collected_time").desc(nulls_last=True), "-pk").distinct(
        "analyte"
    )
    return {
        row.analyte: StandardResult(
            result_id=row.pk,
            analyte=row.analyte,
            collected_on=row.collected_on,
            collected_time=row.collected_time,
            value=row.standard_value,
            unit=row.standard_unit,
            lln=row.standard_lln,
            uln=row.standard_uln,
            flag=row.flag,
        )
        for row in rows
    }
