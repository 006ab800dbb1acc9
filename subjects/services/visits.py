"""Visits on the Day-0 clock (issue 4 item 3; DESIGN §4 "Dates and the Day-0 clock").

A subject's visits are instantiated from the study's schedule at enrolment. Enrolment-anchored
visits hang on the enrolment date; infusion-anchored ones on the planned infusion date until
the first infusion, then on its site-local calendar date (`Subject.day0`). Re-anchoring moves
planned dates only: visit dates entered stay, and their window check runs again. Event-driven
visits have no planned date. Due and overdue are computed from the window (`Visit.state`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from clinical import dates as clinical_dates
from clinical.schedule import local_date, planned_date
from crf import checks, locks
from crf.rederive import setting_consumer
from study import access
from study.audit_context import audit_context
from study.models import VisitDefinition, VisitSchedule
from study.roles import Action
from study.system_text import message
from subjects.assessments import refresh_subject
from subjects.models import Subject, Visit

if TYPE_CHECKING:
    from study.models import User


def site_today(subject: Subject, now: datetime | None = None) -> date:
    """Today's calendar date at the subject's site."""
    return local_date(now or timezone.now(), subject.site.time_zone)


def today_at_site(*, subject: Subject) -> date:
    """`crf.hooks.site_today`, the "today" of crf's date checks: `site_today`, looked up when
    called, so the one seam every clinical-date check reads stays `site_today` (tests set it)."""
    return site_today(subject)


def planned_for(
    definition: VisitDefinition, *, enrolled_on: date | None, day0: date | None, day: int | None = None
) -> date | None:
    """The planned date of one time point (on `day`, default the definition's), or None while
    its anchor is unknown."""
    day = definition.day if day is None else day
    if day is None:
        return None
    if definition.anchor == VisitDefinition.Anchor.ENROLMENT:
        anchor = enrolled_on
    elif definition.anchor == VisitDefinition.Anchor.INFUSION:
        anchor = day0
    else:
        return None
    return None if anchor is None else planned_date(anchor, day)


@dataclass(frozen=True)
class Timing:
    """A visit's planned date and window under the schedule version that governs it (None: as
    the definition was set up, before any version)."""

    planned: date | None
    window_before: int
    window_after: int
    version: int | None


def schedule_versions(study_id: int) -> list[VisitSchedule]:
    """The study's visit schedule versions, newest first (one query)."""
    return list(VisitSchedule.objects.filter(study_id=study_id).order_by("-effective_from", "-version"))


def timing_for(
    definition: VisitDefinition,
    *,
    enrolled_on: date | None,
    day0: date | None,
    versions: list[VisitSchedule],
) -> Timing:
    """The timing in force for one visit (issue 27 item 1; CLINICAL_SPEC §7 "every time point is
    a setting"): the newest version (`versions` newest first) whose effective date is on or
    before the visit's planned date under that version; before every version, the definition as
    set up. A visit with no planned date yet (anchor unknown) takes the newest version holding it."""
    for version in versions:
        entry = (version.visits or {}).get(definition.code)
        if entry is None:
            continue
        planned = planned_for(definition, enrolled_on=enrolled_on, day0=day0, day=entry.get("day"))
        if planned is None or planned >= version.effective_from:
            return Timing(planned, int(entry["window_before"]), int(entry["window_after"]), version.version)
    planned = planned_for(definition, enrolled_on=enrolled_on, day0=day0)
    return Timing(planned, definition.window_before, definition.window_after, None)


@transaction.atomic
def schedule_visits(*, user: User, subject: Subject, reason: str) -> list[Visit]:
    """Create the subject's missing visits and set every planned date from its anchor.

    Called by the services that move an anchor (enrolment, planned infusion date, first
    infusion), which have checked the user's permission. Visit dates entered stay; visits whose
    planned date moved get their window check again (an out-of-window query opens or closes)."""
    definitions = list(VisitDefinition.objects.filter(study_id=subject.site.study_id))
    versions = schedule_versions(subject.site.study_id)
    with audit_context(user=user, site=subject.site, reason=reason):
        # New visits are written with their timing (one audited insert each, not an insert and
        # an update); visits that existed already are retimed below.
        Visit.objects.bulk_create([_timed_visit(subject, d, versions) for d in definitions], ignore_conflicts=True)
        visits = list(Visit.objects.filter(subject=subject).select_related("definition", "subject__site"))
        retime_visits(subject=subject, visits=visits, versions=versions)
        refresh_subject(subject)
    return visits


TIMING_FIELDS = ("planned_date", "window_before", "window_after", "schedule_version")


def _timed_visit(subject: Subject, definition: VisitDefinition, versions: list[VisitSchedule]) -> Visit:
    """An unsaved visit of `definition` with the planned date and window `retime_visits` gives it."""
    timing = timing_for(definition, enrolled_on=subject.enrolled_on, day0=subject.day0, versions=versions)
    values = (timing.planned, timing.window_before, timing.window_after, timing.version)
    return Visit(subject=subject, definition=definition, **dict(zip(TIMING_FIELDS, values, strict=True)))


def retime_visits(*, subject: Subject, visits: list[Visit], versions: list[VisitSchedule]) -> list[Visit]:
    """Set each visit's planned date and window from the schedule version in force for it, inside
    the caller's audit context; visits whose window moved get their window check again (an
    out-of-window query opens or closes). Returns the visits that changed."""
    moved = []
    for visit in visits:
        timing = timing_for(visit.definition, enrolled_on=subject.enrolled_on, day0=subject.day0, versions=versions)
        values = (timing.planned, timing.window_before, timing.window_after, timing.version)
        if values != tuple(getattr(visit, name) for name in TIMING_FIELDS):
            for name, value in zip(TIMING_FIELDS, values, strict=True):
                setattr(visit, name, value)
            moved.append(visit)
    if moved:
        Visit.objects.bulk_update(moved, list(TIMING_FIELDS))
    for visit in moved:
        if visit.visit_date is not None:
            checks.run_edit_checks(visit)
    return moved


@setting_consumer("visit_schedule", source=VisitSchedule, dependants=(Visit,))
def rederive_for_visit_schedule(*, version: VisitSchedule, user: User | None) -> list[Visit]:
    """A new visit schedule version re-derives the planned dates and windows of the study's
    visits it governs (and so their due/overdue state and out-of-window queries), subject by
    subject, audited "re-derived: visit schedule vN effective …"; each subject's expected forms
    are refreshed. Called through crf.rederive.rederive_for_setting. Returns the visits changed."""
    reason = message(
        gettext_noop("re-derived: visit schedule v%(version)s effective %(date)s"),
        version=version.version,
        date=version.effective_from,
    )
    versions = schedule_versions(version.study_id)
    definitions = list(VisitDefinition.objects.filter(study_id=version.study_id))
    changed: list[Visit] = []
    subjects = Subject.objects.filter(site__study_id=version.study_id).select_related("site").order_by("pk")
    for subject in subjects:
        if not Visit.objects.filter(subject=subject).exists():
            continue  # not scheduled yet: enrolment will
        with audit_context(user=user, site=subject.site, reason=reason):
            Visit.objects.bulk_create([_timed_visit(subject, d, versions) for d in definitions], ignore_conflicts=True)
            visits = list(Visit.objects.filter(subject=subject).select_related("definition", "subject__site"))
            moved = retime_visits(subject=subject, visits=visits, versions=versions)
            refresh_subject(subject)  # the expected forms may have changed with the version
        changed.extend(moved)
    return changed


def _require_editor(user: User, subject: Subject) -> None:
    if not access.can(user, Action.EDIT_CRF, site=subject.site):
        raise PermissionDenied


#: Statuses in which the planned infusion date may still be set or moved.
BEFORE_INFUSION = ("enrolled", "lymphodepleted")


@transaction.atomic
def set_planned_infusion_date(*, user: User, subject: Subject, on: date, reason: str = "") -> Subject:
    """Plan (or move) the infusion before it happens; the infusion-anchored visits follow.
    Moving a date already planned needs a reason."""
    subject = Subject.objects.select_for_update().select_related("site").get(pk=subject.pk)
    _require_editor(user, subject)
    reason = reason.strip()
    if subject.status not in BEFORE_INFUSION or subject.infusion_date is not None:
        raise ValidationError(
            _("The planned infusion date can be set only after enrolment and before the infusion."),
            code="illegal_transition",
        )
    if subject.enrolled_on is not None and on < subject.enrolled_on:
        raise ValidationError(
            {
                "planned_infusion_date": _("The planned infusion date cannot be before enrolment (%(date)s).")
                % {"date": subject.enrolled_on.isoformat()}
            }
        )
    if subject.planned_infusion_date == on:
        return subject
    if subject.planned_infusion_date is not None and not reason:
        raise ValidationError({"reason": _("Give a reason for moving the planned infusion date.")})
    subject.planned_infusion_date = on
    with audit_context(user=user, site=subject.site, reason=reason or _("Infusion planned")):
        subject.save(update_fields=["planned_infusion_date"])
    schedule_visits(user=user, subject=subject, reason=message(gettext_noop("re-derived: planned infusion date")))
    return subject


@transaction.atomic
def record_visit_date(*, user: User, visit: Visit, visit_date: date | None, reason: str = "") -> Visit:
    """The date a visit took place. Outside its window it is saved and raises a query; a date
    already recorded changes only with a reason."""
    visit = Visit.objects.select_for_update().select_related("definition", "subject__site").get(pk=visit.pk)
    _require_editor(user, visit.subject)
    reason = reason.strip()
    if visit.visit_date == visit_date:
        return visit
    locks.assert_data_writable(visit)  # a freeze or lock over the subject or study (DESIGN §4)
    if visit.visit_date is not None and not reason:
        raise ValidationError({"reason": _("Give a reason for changing the visit date.")}, code="reason_required")
    if visit_date is not None:
        # A visit date is a recorded event (issue 21, clinical.dates): not after the site's today.
        today = site_today(visit.subject)
        if clinical_dates.implausible(visit_date, today=today) == "future":
            raise ValidationError(
                {
                    "visit_date": _("This date is in the future (today at the site is %(today)s).")
                    % {"today": today.isoformat()}
                },
                code="future_date",
            )
        if clinical_dates.implausible(visit_date, today=today) == "before_1900":
            raise ValidationError({"visit_date": _("This date is before 1900: check it.")}, code="before_1900")
    visit.visit_date = visit_date
    with audit_context(user=user, site=visit.subject.site, reason=reason):
        visit.save(update_fields=["visit_date"])
        checks.run_edit_checks(visit)
    return visit
