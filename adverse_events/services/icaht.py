"""ICAHT kept in step with the lab results (CLINICAL_SPEC §4.1; DESIGN §4 "derived values").

`rederive_icaht` reads the subject's ANC results in the standard unit (×10⁹/L, labs), puts them
on the Day-0 clock, grades them with clinical.icaht and stores the result with its inputs and
criteria in the subject's one `IcahtDerivation` row, under the audit reason given. A lab result
for ANC saved, corrected or entered in error re-derives it (a dependant of the lab result's declaration) with the
reason "re-derived: …". Only ANC is read: lymphocyte counts (universal lymphopenia after
lymphodepletion) are not ICAHT.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from adverse_events.models import IcahtDerivation
from clinical import icaht as icaht_rules
from clinical.schedule import study_day
from crf.models import CrfInstance
from crf.rederive import update_with_version
from crf.services import atomic_save
from dbtools.prepared import Prepared
from labs.models import LabResult
from response.models import Relapse
from study.audit_context import audit_context
from study.system_text import message
from subjects.models import Subject

if TYPE_CHECKING:
    from study.models import User

ANC = "ANC"


class AncResult(NamedTuple):
    """What ICAHT reads of an ANC result (its id, date and value in ×10⁹/L)."""

    pk: int
    collected_on: date
    standard_value: Decimal | None


def anc_series(subject: Subject) -> list[tuple[AncResult, int]]:
    """The subject's ANC results (not entered in error) with their study day, in date order."""
    day0 = subject.infusion_date
    if day0 is None:
        return []
    rows = map(AncResult._make, _anc_rows.rows(subject_id=subject.pk))
    return [(row, study_day(row.collected_on, day0)) for row in rows if row.standard_value is not None]


#: the reads of an ICAHT re-derivation, compiled once (dbtools.prepared; issue 22, seventh pass:
#: compiling them was a fifth of an ANC result's save). The ANC results as the three values read
#: (issue 22, session 16: whole results, their JSON fields parsed, were half the re-derivation)
_anc_rows = Prepared(
    lambda subject_id: (
        LabResult.objects.filter(subject_id=subject_id, analyte=ANC, entered_in_error=False)
        .order_by("collected_on", F("collected_time").asc(nulls_first=True), "pk")
        .values_list("pk", "collected_on", "standard_value")
    ),
    ("subject_id",),
)
_locked_derivation = Prepared(
    lambda subject_id: IcahtDerivation.objects.select_for_update().filter(subject_id=subject_id).order_by("pk")[:1],
    ("subject_id",),
)
_derivation = Prepared(lambda pk: IcahtDerivation.objects.filter(pk=pk), ("pk",))
#: the relapse dates (their MIN as `aggregate(Min(…))` gives it, taken in Python)
_relapse_dates = Prepared(
    lambda subject_id: (
        Relapse.objects.filter(subject_id=subject_id, entered_in_error=False).order_by().values_list("relapse_date")
    ),
    ("subject_id",),
)


def icaht_of(*, subject: Subject) -> IcahtDerivation | None:
    """subjects.hooks.icaht_of: the subject's derived ICAHT (§4.1), None before any ANC result."""
    return IcahtDerivation.objects.filter(subject=subject).first()


def first_relapse_day(subject: Subject) -> int | None:
    """Study day of the first recorded relapse: late ICAHT values from then on are "explained by
    relapse" (§4.1)."""
    day0 = subject.infusion_date
    first = min((day for (day,) in _relapse_dates.rows(subject_id=subject.pk) if day is not None), default=None)
    return None if first is None or day0 is None else study_day(first, day0)


@atomic_save
def rederive_icaht(*, user: User | None, subject: Subject, reason: str) -> IcahtDerivation | None:
    """Grade early and late ICAHT from the stored ANC results and store the result (created the
    first time, updated when it changes; unchanged results are not rewritten). None while the
    subject has no infusion (no Day-0 clock) and no stored result."""
    series = anc_series(subject)
    found = _locked_derivation.objects(subject_id=subject.pk)
    existing = found[0] if found else None
    if subject.infusion_date is None and existing is None:
        return None
    values = [icaht_rules.AncValue(day, row.standard_value) for row, day in series]
    relapse_day = first_relapse_day(subject)
    early = icaht_rules.early_icaht(values)
    late = icaht_rules.late_icaht(values, relapse_day=relapse_day)
    fields = {
        "early_grade": early.grade,
        "early_run_first_day": early.run_500.first if early.run_500 else None,
        "early_run_last_day": early.run_500.last if early.run_500 else None,
        "profound_run_first_day": early.run_100.first if early.run_100 else None,
        "profound_run_last_day": early.run_100.last if early.run_100 else None,
        "late_grade": late.grade,
        "late_confirming_days": list(late.confirming_days) if late.confirming_days else None,
        "relapse_day": relapse_day,
        "inputs": [
            {
                "result": row.pk,
                "date": row.collected_on.isoformat(),
                "day": day,
                "anc": format(row.standard_value.normalize(), "f"),
            }
            for row, day in series
        ],
        "criteria": early.criteria,
    }
    with audit_context(user=user, site=subject.site, reason=reason):
        if existing is None:
            return IcahtDerivation.objects.create(subject=subject, derived_at=timezone.now(), **fields)
        if all(getattr(existing, name) == value for name, value in fields.items()):
            return existing
        update_with_version(IcahtDerivation, pk=existing.pk, **fields, derived_at=timezone.now())
    return _derivation.objects(pk=existing.pk)[0]


def _anc_changed(*, user: User, saved: CrfInstance, previous: CrfInstance | None) -> None:
    """An ANC result saved, corrected (value, unit, date, or analyte) or entered in error
    re-derives the subject's ICAHT (§4.1) with the reason "re-derived: …"."""
    touched = [row for row in (previous, saved) if row is not None and getattr(row, "analyte", "") == ANC]
    if not touched:
        return
    row = saved
    if saved.entered_in_error:
        change = message(gettext_noop("entered in error"))
    elif previous is None:
        change = message(gettext_noop("recorded"))
    else:
        change = message(gettext_noop("corrected"))
    what = message(
        gettext_noop("ANC of %(date)s %(change)s"),
        date=row.collected_on.isoformat(),  # type: ignore[attr-defined]
        change=change,
    )
    rederive_icaht(user=user, subject=saved.subject, reason=message(gettext_noop("re-derived: %(what)s"), what=what))


def _icaht_input_changed(*, user: User, saved: CrfInstance, previous: CrfInstance | None) -> None:
    """A relapse (late values from then on are "explained by relapse", §4.1) or an infusion (the
    Day-0 clock the ANC days hang on) saved or entered in error re-derives the subject's ICAHT."""
    subject = Subject.objects.select_related("site").get(pk=saved.subject_id)
    if not IcahtDerivation.objects.filter(subject=subject).exists() and not anc_series(subject):
        return
    what = message(
        gettext_noop("%(form)s %(change)s"),
        form=saved._meta.verbose_name,  # lazy: stored by its code, read in the reader's language
        change=message(gettext_noop("entered in error") if saved.entered_in_error else gettext_noop("saved")),
    )
    rederive_icaht(user=user, subject=subject, reason=message(gettext_noop("re-derived: %(what)s"), what=what))
