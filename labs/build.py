"""Study build, laboratories (issue 27 item 1): the study admin adds a site's laboratories
(several per site) and their reference ranges, each range effective from a date (DESIGN §4a:
study admin only; audited; a reason once the study is live).

A range is never edited in place: a change is a new row of the same band with a later effective
date, and the results it may judge (collected on or after that date, of that laboratory) are
re-derived through `labs.services.record_reference_range` and `crf.rederive` — their flag and
lab-derived CTCAE grade follow the range in force on their collection date.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from labs.models import Laboratory, LabResult, ReferenceRange
from labs.services import record_reference_range
from study.audit_context import audit_context
from study.build import reason_needed, require_admin
from study.models import Site
from study.system_text import message

if TYPE_CHECKING:
    from study.models import User


@transaction.atomic
def save_laboratory(
    *,
    actor: User,
    site: Site,
    laboratory: Laboratory | None,
    code: str,
    name: str,
    name_zh: str,
    active: bool,
    reason: str = "",
) -> Laboratory:
    """Add a laboratory to a site (`laboratory` None) or change one. A code already used at the
    site is a field error; nothing is saved on any error."""
    require_admin(actor, site.study)
    reason = reason_needed(site.study, reason)
    row = laboratory or Laboratory(site=site)
    if laboratory is not None:
        row = Laboratory.objects.select_for_update().get(pk=laboratory.pk, site=site)
    if Laboratory.objects.filter(site=site, code=code.strip()).exclude(pk=row.pk).exists():
        raise ValidationError({"code": _("This site already has a laboratory with this code.")})
    row.code, row.name, row.name_zh, row.active = code.strip(), name.strip(), name_zh.strip(), active
    row.full_clean()
    with audit_context(user=actor, site=site, reason=reason or message(gettext_noop("laboratory added"))):
        row.save()
    return row


@transaction.atomic
def add_reference_range(
    *,
    actor: User,
    laboratory: Laboratory,
    analyte: str,
    unit: str,
    sex: str,
    age_from: int,
    age_to: int | None,
    lln: Decimal | None,
    uln: Decimal | None,
    effective_from: date | None,
    reason: str = "",
) -> tuple[ReferenceRange, list[LabResult]]:
    """A new range (a new band, or a new version of a band from `effective_from`) of the
    laboratory; returns it with the results re-derived to another flag or grade. Refuses
    (ValidationError by field) a unit the analyte is not reported in, LLN above ULN, an empty
    age band, no limit at all, a second row of the same band and date, and — once the study is
    live — a missing reason."""
    site = laboratory.site
    require_admin(actor, site.study)
    errors: dict[str, list[str]] = {}
    try:
        reason = reason_needed(site.study, reason)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if lln is None and uln is None:
        errors.setdefault("lln", []).append(_("Give the LLN, the ULN or both."))
    if age_to is not None and age_to <= age_from:
        errors.setdefault("age_to", []).append(_("The age band is empty: the upper age must be above the lower."))
    same = ReferenceRange.objects.filter(
        laboratory=laboratory, analyte=analyte, sex=sex, age_from=age_from, age_to=age_to, effective_from=effective_from
    )
    if same.exists():
        errors.setdefault("effective_from", []).append(
            _("This band already has a range effective from this date: give the new range a later date.")
        )
    row = ReferenceRange(
        site=site,
        laboratory=laboratory,
        analyte=analyte,
        unit=unit,
        sex=sex,
        age_from=age_from,
        age_to=age_to,
        lln=lln,
        uln=uln,
        effective_from=effective_from,
    )
    try:
        row.full_clean(validate_constraints=False)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if lln is not None and uln is not None and lln > uln:
        errors.setdefault("uln", []).append(_("ULN is below LLN."))
    if errors:
        raise ValidationError(errors)
    changed = record_reference_range(
        user=actor, reference_range=row, reason=reason or message(gettext_noop("reference range added"))
    )
    return row, changed


def ranges_of(laboratory: Laboratory, on: date) -> list[tuple[ReferenceRange, bool]]:
    """The laboratory's ranges, each with whether it is the one in force for its band on `on`
    (the newest of the band effective on or before that date), in page order."""
    rows = list(
        ReferenceRange.objects.filter(laboratory=laboratory).order_by(
            "analyte", "sex", "age_from", "age_to", "effective_from"
        )
    )
    in_force: dict[tuple[object, ...], ReferenceRange] = {}
    for row in rows:
        band = (row.analyte, row.sex, row.age_from, row.age_to)
        if row.effective_from is None or row.effective_from <= on:
            current = in_force.get(band)
            if current is None or (current.effective_from or date.min) <= (row.effective_from or date.min):
                in_force[band] = row
    return [(row, in_force.get((row.analyte, row.sex, row.age_from, row.age_to)) is row) for row in rows]
