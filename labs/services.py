"""Writes of lab and vital-sign forms: through the one CRF save path (crf.services)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from clinical.units import Panel, UnitNotAllowed, panel_analytes, parts_exceeding_whole, to_standard
from crf import services as crf_services
from crf.models import EntryStatus
from crf.rederive import rederive
from crf.services import StaleVersionError, mark_entered_in_error, save_form
from dbtools.prepared import prepared
from labs.derive import fever_grades
from labs.models import ANALYTE_NAMES, Laboratory, LabResult, ReferenceRange, VitalSigns
from study.audit_context import audit_context
from study.system_text import message

if TYPE_CHECKING:
    from study.models import User
    from subjects.models import Subject, Visit


def record_vital_signs(
    *, user: User, vital_signs: VitalSigns, expected_version: int | None = None, reason: str = ""
) -> VitalSigns:
    return save_form(user=user, instance=vital_signs, expected_version=expected_version, reason=reason)


@dataclass(frozen=True)
class PanelRow:
    """One analyte line of a panel as typed: a value with its unit and the report's LLN/ULN.
    `expected_version` is the version of the saved row the user opened (None for a new row)."""

    analyte: str
    value: Decimal | None
    unit: str
    lln: Decimal | None = None
    uln: Decimal | None = None
    expected_version: int | None = None


class PanelError(ValidationError):
    """Nothing of the panel was saved. `row_errors` maps analyte code → {field: [messages]};
    `collection_errors` maps a collection field (collected_on, reason, …) → messages."""

    def __init__(self, *, row_errors: dict[str, dict[str, list[str]]], collection_errors: dict[str, list[str]]):
        super().__init__(_("Nothing was saved: correct the marked fields."), code="panel")
        self.row_errors = row_errors
        self.collection_errors = collection_errors


COLLECTION_FIELDS = ("collected_on", "collected_time", "visit", "sex", "laboratory", "reason", "version", "__all__")


def collection_results(*, subject: Subject, panel: str, collected_on: date, collected_time: time | None):
    """The saved (not entered-in-error) rows of one collection of one panel, keyed by analyte."""
    rows = LabResult.objects.filter(
        subject=subject, panel=panel, collected_on=collected_on, entered_in_error=False
    ).select_related("subject__site")
    rows = (
        rows.filter(collected_time=collected_time)
        if collected_time is not None
        else rows.filter(collected_time__isnull=True)
    )
    return {row.analyte: row for row in rows}


@transaction.atomic
def record_lab_panel(
    *,
    user: User,
    subject: Subject,
    panel: Panel,
    collected_on: date,
    collected_time: time | None,
    visit: Visit | None,
    sex: str,
    rows: list[PanelRow],
    complete: bool,
    existing: dict[str, LabResult] | None = None,
    reason: str = "",
    laboratory: Laboratory | None = None,
) -> list[LabResult]:
    """Save one sample collection of a panel: every typed analyte becomes (or updates) one
    `LabResult` row through `crf.services.save` (so its dependants, e.g. ICAHT from ANC, are
    re-derived), in one transaction — all or nothing.

    `existing` are the rows of the collection as opened (they move with a changed date/time).
    A row left blank is not created; a saved row left blank is marked entered in error with the
    reason for change (required), never deleted (DESIGN §4 "No hard deletes").
    A part larger than its whole in the same collection (ANC > WBC) is refused on the part.
    `laboratory` is the one that reported the collection (its reference ranges judge the results;
    issue 27 item 1); none given at a site with exactly one laboratory in use means that one.
    Raises PanelError with every field error, or StaleVersionError when any saved row changed
    since it was opened; nothing is saved in either case."""
    existing = existing or {}
    if laboratory is None:
        in_use = list(Laboratory.objects.filter(site_id=subject.site_id, active=True)[:2])
        laboratory = in_use[0] if len(in_use) == 1 else None
    allowed = {a.code for a in panel_analytes(panel)}
    row_errors: dict[str, dict[str, list[str]]] = {}
    collection_errors: dict[str, list[str]] = {}
    saved: list[LabResult] = []

    typed = [row for row in rows if row.value is not None]
    standard: dict[str, Decimal] = {}
    for row in typed:
        if row.analyte not in allowed:
            row_errors.setdefault(row.analyte, {})["analyte"] = [_("This analyte is not part of the chosen panel.")]
            continue
        with contextlib.suppress(UnitNotAllowed):  # a wrong unit is reported by the model's clean on save
            standard[row.analyte] = to_standard(row.value, analyte_code=row.analyte, unit=row.unit)  # type: ignore[arg-type]
    for part, whole in parts_exceeding_whole(standard):
        row_errors.setdefault(part, {})["value"] = [
            _("%(part)s cannot be larger than %(whole)s of the same sample.")
            % {"part": ANALYTE_NAMES[part], "whole": ANALYTE_NAMES[whole]}
        ]
    removed = [row for row in rows if row.value is None and row.analyte in existing]
    if removed and not reason.strip():
        for row in removed:
            row_errors.setdefault(row.analyte, {})["value"] = [
                _("To remove a saved result, give the reason for change: it is then marked entered in error.")
            ]
    if not typed and not removed:
        collection_errors["__all__"] = [_("Enter at least one result.")]

    clash = (
        collection_results(subject=subject, panel=panel.value, collected_on=collected_on, collected_time=collected_time)
        if any(r.analyte not in existing for r in typed)
        else {}
    )
    stale: StaleVersionError | None = None
    for row in typed:
        if row.analyte in row_errors:
            continue
        instance = existing.get(row.analyte)
        if instance is None:
            if row.analyte in clash:
                collection_errors.setdefault("__all__", []).append(
                    _("Results of this panel for this collection date and time are already saved: open them to edit.")
                )
                break
            instance = LabResult(subject=subject, analyte=row.analyte)
        instance.panel = panel.value
        instance.collected_on = collected_on
        instance.collected_time = collected_time
        instance.visit = visit
        instance.sex = sex
        instance.laboratory = laboratory
        instance.value = row.value
        instance.unit = row.unit
        instance.lln = row.lln
        instance.uln = row.uln
        instance.entry_status = EntryStatus.COMPLETE if complete else EntryStatus.IN_PROGRESS
        try:
            with transaction.atomic():
                saved.append(
                    crf_services.save(
                        user=user,
                        instance=instance,
                        expected_version=row.expected_version if instance.pk else None,
                        reason=reason,
                    )
                )
        except StaleVersionError as exc:
            stale = stale or exc
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):  # frozen, locked, removed: about the whole collection
                collection_errors.setdefault("__all__", []).extend(
                    m for m in exc.messages if m not in collection_errors.get("__all__", [])
                )
                continue
            for field, messages in exc.message_dict.items():
                if field in COLLECTION_FIELDS:
                    target = collection_errors.setdefault(field, [])
                    target.extend(m for m in messages if m not in target)
                else:
                    row_errors.setdefault(row.analyte, {}).setdefault(field, []).extend(messages)
    if not row_errors and not collection_errors:
        for row in removed:
            try:
                with transaction.atomic():
                    mark_entered_in_error(
                        user=user,
                        instance=existing[row.analyte],
                        expected_version=row.expected_version or 0,
                        reason=reason,
                    )
            except StaleVersionError as exc:
                stale = stale or exc
            except ValidationError as exc:
                row_errors.setdefault(row.analyte, {})["value"] = exc.messages
    if stale is not None:
        raise stale
    if row_errors or collection_errors:
        raise PanelError(row_errors=row_errors, collection_errors=collection_errors)
    return saved


@transaction.atomic
def record_reference_range(*, user: User | None, reference_range: ReferenceRange, reason: str) -> list[LabResult]:
    """Save a site's reference range (new or changed) and re-derive the standard-unit range,
    flag and CTCAE grade of every result it may judge (DESIGN §4: a changed input re-derives its
    dependants, audit reason "re-derived: …"): the site's results of that analyte taking their
    range from a table, collected on or after the range's effective date, of its laboratory (a
    range of the site's own table may judge any laboratory's results). Results carrying the
    report's own LLN/ULN are untouched. Returns the results that changed."""
    reference_range.full_clean()
    with audit_context(user=user, site=reference_range.site, reason=reason):
        reference_range.save()
    audit_reason = message(
        gettext_noop("re-derived: reference range %(analyte)s changed (%(reason)s)"),
        analyte=reference_range.analyte,
        reason=reason,
    )
    results = LabResult.objects.select_for_update(of=("self",)).filter(
        subject__site=reference_range.site,
        analyte=reference_range.analyte,
        entered_in_error=False,
        lln__isnull=True,
        uln__isnull=True,
    )
    if reference_range.effective_from is not None:
        results = results.filter(collected_on__gte=reference_range.effective_from)
    if reference_range.laboratory_id is not None:
        results = results.filter(laboratory_id=reference_range.laboratory_id)
    results = results.select_related("subject__site", "subject__identity").order_by("subject_id", "pk")
    by_subject: dict[int, list[LabResult]] = {}
    for result in results:
        by_subject.setdefault(result.subject_id, []).append(result)
    changed_rows: list[LabResult] = []
    for forms in by_subject.values():
        # crf.rederive: a frozen result keeps its values (with a query saying why), a locked one
        # that would change refuses the range change naming it; edit checks run on the others.
        changed_rows.extend(rederive(forms=forms, reason=audit_reason, user=user, subject=forms[0].subject))
    changed_rows.sort(key=lambda row: row.pk)
    return changed_rows  # type: ignore[return-value]


def rederive_fever_course(*, user: User, saved: VitalSigns, previous: VitalSigns | None) -> None:
    """A vital-signs record saved, corrected or entered in error re-derives the fever grade of
    the subject's other readings above 40.0 °C: their grade 3 or 4 depends on how long the
    temperature stayed above 40.0 °C, which the neighbouring readings bound (CLINICAL_SPEC §3).
    In a batch of saves (the CSV import) once per subject, at the batch's end (issue 22)."""
    fields = ("temperature_c", "assessment_date", "assessment_time", "entered_in_error")
    if previous is not None and all(getattr(previous, f) == getattr(saved, f) for f in fields):
        return
    if crf_services.defer_to_batch_end(("fever course", saved.subject_id), _fever_courses, (user, saved)):
        return
    _fever_courses([(user, saved)])


@prepared("subject_id", "saved_id")
def _high_readings(subject_id: int, saved_id: int) -> QuerySet[VitalSigns]:
    return VitalSigns.objects.filter(
        subject_id=subject_id, entered_in_error=False, temperature_c__gt=Decimal("40.0")
    ).exclude(pk=saved_id)


def _fever_courses(writes: list[tuple[User, VitalSigns]]) -> None:
    """The fever grades of one subject's readings above 40.0 °C after these writes, from one
    read of the subject's readings (not one per reading above 40.0 °C)."""
    user, saved = writes[-1]  # derived at its own save from the readings as they are now
    high = _high_readings.objects(subject_id=saved.subject_id, saved_id=saved.pk)
    if not high:
        return
    for form in high:
        form.subject = saved.subject  # read with the save (its site too)
    grades = fever_grades(high)
    dates = sorted({form.assessment_date.isoformat() for _user, form in writes})
    rederive(
        forms=high,
        reason=message(
            gettext_noop("re-derived: vital signs of %(date)s changed the fever's duration"),
            date=", ".join(dates),
        ),
        user=user,
        values=lambda form: {"fever_grade": grades[form.pk]},
        subject=saved.subject,
    )
