"""Writes of subject records (STYLE habit 3): keyword-only, atomic, permission-checked, each
inside `audit_context` so the history rows carry user, role, site and reason.

The lifecycle (issue 4 item 2): `record_consent` opens screening with a screening number;
`record_eligibility` records the checklist; `enrol` assigns the subject ID and the dose level;
`change_status` applies the other events of `subjects.lifecycle.TRANSITIONS`. Every refusal is
a ValidationError with a translated message and nothing saved. The consent, re-consent and
eligibility records are saved complete: each service refuses them with a field missing or a
criterion unanswered, so what it saves is the whole form (a later change then needs a reason).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import gettext_noop

from crf.models import EntryStatus
from crf.services import save_form
from study import access
from study.audit_context import audit_context
from study.models import Site
from study.protocol import choices_in_force
from study.roles import Action
from study.system_text import message
from subjects import lifecycle
from subjects.eligibility import unanswered
from subjects.lifecycle import Event, NotInfusedReason, Status
from subjects.models import (
    EligibilityAssessment,
    IdentityRecord,
    InformedConsent,
    SiteSequence,
    Subject,
    first_consent_date,
)
from subjects.services import visits

if TYPE_CHECKING:
    from study.models import User


@transaction.atomic
def save_identity_record(
    *,
    user: User,
    subject: Subject,
    full_name: str,
    date_of_birth: date,
    hospital_number: str = "",
    phone: str = "",
    reason: str = "",
) -> IdentityRecord:
    """Create or change the subject's identity record (DESIGN §4a: roles that both view the
    identity record and edit CRF data). A change to a saved record needs a reason."""
    site = subject.site
    if not (access.can(user, Action.VIEW_IDENTITY, site=site) and access.can(user, Action.EDIT_CRF, site=site)):
        raise PermissionDenied
    reason = reason.strip()
    record = IdentityRecord.objects.select_for_update().filter(subject=subject).first()
    if record is None:
        record = IdentityRecord(subject=subject)
    elif not reason:
        raise ValidationError({"reason": _("Give a reason for changing the identity record.")}, code="reason_required")
    record.full_name = full_name.strip()
    record.date_of_birth = date_of_birth
    record.hospital_number = hospital_number.strip()
    record.phone = phone.strip()
    record.full_clean()
    with audit_context(user=user, site=site, reason=reason):
        if record.pk is None:
            record.save(force_insert=True)
        else:
            record.save(update_fields=["full_name", "date_of_birth", "hospital_number", "phone"])
    return record


# --- numbers -----------------------------------------------------------------------------------


def next_in_sequence(*, site: Site, kind: SiteSequence.Kind) -> int:
    """The next number of the site's sequence, under a row lock held until the transaction ends:
    a concurrent caller waits and gets the following number. A committed number is never handed
    out again; a rolled-back one was never given to anybody."""
    SiteSequence.objects.bulk_create([SiteSequence(site=site, kind=kind, last_value=0)], ignore_conflicts=True)
    sequence = SiteSequence.objects.select_for_update().get(site=site, kind=kind)
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    return sequence.last_value


def _new_number(*, site: Site, kind: SiteSequence.Kind, field: str, template: str) -> str:
    while True:  # skips numbers already taken by records entered before the sequence existed
        number = template.format(prefix=site.subject_prefix, n=next_in_sequence(site=site, kind=kind))
        if not Subject.objects.filter(site=site, **{field: number}).exists():
            return number


SCREENING_NUMBER = "{prefix}-S{n:03d}"
SUBJECT_ID = "{prefix}-{n:03d}"


# --- lifecycle ---------------------------------------------------------------------------------


def _require_editor(user: User, site: Site) -> None:
    if not access.can(user, Action.EDIT_CRF, site=site):
        raise PermissionDenied


def _locked(subject: Subject) -> Subject:
    return Subject.objects.select_for_update().select_related("site", "site__study").get(pk=subject.pk)


def _refuse_transition(subject: Subject, event: Event) -> ValidationError:
    return ValidationError(
        _("Not allowed: “%(action)s” cannot be recorded for a subject whose status is “%(status)s”.")
        % {"status": subject.get_status_display(), "action": lifecycle.EVENT_LABELS[event]},
        code="illegal_transition",
    )


def _check_not_future(subject: Subject, on: date, field: str = "on") -> None:
    """Lifecycle dates cannot lie after today at the subject's site (issue 24)."""
    today = visits.site_today(subject)
    if on > today:
        raise ValidationError(
            {
                field: _("The date %(on)s is in the future (today at the site is %(today)s).")
                % {"on": on.isoformat(), "today": today.isoformat()}
            },
            code="future_date",
        )


def _check_date(subject: Subject, on: date) -> None:
    _check_not_future(subject, on)
    if subject.status_date is not None and on < subject.status_date:
        raise ValidationError(
            {
                "on": _("The date %(on)s is before the subject's last status date %(last)s.")
                % {"on": on.isoformat(), "last": subject.status_date.isoformat()}
            },
            code="date_order",
        )


@transaction.atomic
def record_consent(*, user: User, site: Site, consent_version: str, consent_date: date) -> Subject:
    """A new subject: the informed consent opens screening and gives the next screening number."""
    _require_editor(user, site)
    if not consent_version.strip():
        raise ValidationError({"consent_version": _("Give the version of the consent form.")})
    _check_not_future(Subject(site=site), consent_date, "consent_date")
    if (site.active_from is not None and consent_date < site.active_from) or (
        site.active_to is not None and consent_date > site.active_to
    ):
        # the site's activity period (issue 27 item 1, study build): no subject outside it
        raise ValidationError(
            {
                "consent_date": _("Site %(site)s registers subjects from %(start)s to %(end)s only.")
                % {
                    "site": site.code,
                    "start": site.active_from.isoformat() if site.active_from else "—",
                    "end": site.active_to.isoformat() if site.active_to else "—",
                }
            },
            code="site_inactive",
        )
    with audit_context(user=user, site=site):
        subject = Subject(
            site=site,
            status=Status.SCREENING,
            status_date=consent_date,
            screening_number=_new_number(
                site=site, kind=SiteSequence.Kind.SCREENING, field="screening_number", template=SCREENING_NUMBER
            ),
        )
        subject.full_clean()
        subject.save(force_insert=True)
    consent = InformedConsent(
        subject=subject,
        consent_version=consent_version.strip(),
        consent_date=consent_date,
        entry_status=EntryStatus.COMPLETE,
    )
    save_form(user=user, instance=consent, expected_version=None)
    return subject


@transaction.atomic
def record_reconsent(
    *,
    user: User,
    subject: Subject,
    consent_version: str,
    consent_date: date,
    entry_status: str = EntryStatus.COMPLETE,
) -> InformedConsent:
    """Consent on a new version of the consent form: another record; the status stays. Complete
    unless the caller says otherwise (the API keeps its rule for every resource: in progress when
    new unless the client sends complete)."""
    subject = _locked(subject)
    _require_editor(user, subject.site)
    version = consent_version.strip()
    if subject.status not in lifecycle.RECONSENT_ALLOWED:
        raise ValidationError(
            _("A subject whose status is “%(status)s” cannot be re-consented.")
            % {"status": subject.get_status_display()},
            code="illegal_transition",
        )
    if InformedConsent.objects.filter(subject=subject, consent_version=version, entered_in_error=False).exists():
        raise ValidationError(
            {"consent_version": _("Consent on version %(version)s is already recorded.") % {"version": version}},
            code="same_version",
        )
    first = first_consent_date(subject.pk)
    if first is not None and consent_date < first:
        raise ValidationError(
            {
                "consent_date": _("A re-consent cannot be dated before the first consent (%(first)s).")
                % {"first": first.isoformat()}
            }
        )
    consent = InformedConsent(
        subject=subject, consent_version=version, consent_date=consent_date, entry_status=entry_status
    )
    return save_form(user=user, instance=consent, expected_version=None)


@transaction.atomic
def record_eligibility(
    *,
    user: User,
    subject: Subject,
    protocol_version: str,
    assessment_date: date,
    criteria: dict[str, bool],
    entry_status: str = EntryStatus.COMPLETE,
) -> EligibilityAssessment:
    """The eligibility checklist, while the subject is in screening. Refused when dated before
    the consent (EligibilityAssessment.clean) or when a criterion is unanswered."""
    subject = _locked(subject)
    _require_editor(user, subject.site)
    if subject.status != Status.SCREENING:
        raise ValidationError(
            _("The eligibility checklist is recorded during screening; this subject's status is “%(status)s”.")
            % {"status": subject.get_status_display()},
            code="illegal_transition",
        )
    missing = unanswered(criteria)
    if missing:
        raise ValidationError(
            {"criteria": _("Answer every criterion: %(codes)s.") % {"codes": ", ".join(missing)}}, code="unanswered"
        )
    form = EligibilityAssessment(
        subject=subject,
        protocol_version=protocol_version.strip(),
        assessment_date=assessment_date,
        criteria=criteria,
        entry_status=entry_status,
    )
    return save_form(user=user, instance=form, expected_version=None)


def dose_level_codes(subject: Subject, on: date) -> list[str]:
    """The dose levels of the protocol settings in force on `on`."""
    _row, choices = choices_in_force(subject.site.study_id, on)
    return [level.code for level in choices.dose_levels]


def _check_dose_level(subject: Subject, dose_level: str, on: date) -> None:
    codes = dose_level_codes(subject, on)
    if dose_level not in codes:
        raise ValidationError(
            {"dose_level": _("Choose one of the study's dose levels: %(levels)s.") % {"levels": ", ".join(codes)}},
            code="dose_level",
        )


@transaction.atomic
def enrol(
    *, user: User, subject: Subject, on: date, dose_level: str, planned_infusion_date: date | None = None
) -> Subject:
    """Screening → enrolled: the next subject ID of the site and the assigned dose level.
    Needs an eligibility checklist showing the subject eligible, dated on or before `on`.
    The subject's visits are instantiated from the schedule, the infusion-anchored ones on
    `planned_infusion_date` when given (subjects.services.visits)."""
    subject = _locked(subject)
    _require_editor(user, subject.site)
    if (subject.status, Event.ENROL) not in lifecycle.TRANSITIONS:
        raise _refuse_transition(subject, Event.ENROL)
    _check_date(subject, on)
    latest = (
        EligibilityAssessment.objects.filter(subject=subject, entered_in_error=False)
        .order_by("-assessment_date", "-pk")
        .first()
    )
    if latest is None or not latest.eligible:
        raise ValidationError(
            _("Enrolment needs an eligibility checklist showing the subject eligible."), code="not_eligible"
        )
    if on < latest.assessment_date:
        raise ValidationError(
            {
                "on": _("The enrolment date cannot be before the eligibility assessment (%(date)s).")
                % {"date": latest.assessment_date.isoformat()}
            }
        )
    _check_dose_level(subject, dose_level, on)
    if planned_infusion_date is not None and planned_infusion_date < on:
        raise ValidationError(
            {
                "planned_infusion_date": _("The planned infusion date cannot be before enrolment (%(date)s).")
                % {"date": on.isoformat()}
            }
        )
    subject.subject_id = _new_number(
        site=subject.site, kind=SiteSequence.Kind.SUBJECT, field="subject_id", template=SUBJECT_ID
    )
    subject.status = lifecycle.next_status(subject.status, Event.ENROL)
    subject.status_date = subject.enrolled_on = on
    subject.dose_level = dose_level
    subject.planned_infusion_date = planned_infusion_date
    subject.full_clean()
    with audit_context(user=user, site=subject.site, reason=message(gettext_noop("Enrolment"))):
        subject.save(
            update_fields=["subject_id", "status", "status_date", "enrolled_on", "dose_level", "planned_infusion_date"]
        )
    visits.schedule_visits(user=user, subject=subject, reason=message(gettext_noop("Enrolment")))
    return subject


@transaction.atomic
def change_dose_level(*, user: User, subject: Subject, dose_level: str, reason: str) -> Subject:
    """Change the assigned dose level of an enrolled subject: a reason is required (audited)."""
    subject = _locked(subject)
    _require_editor(user, subject.site)
    reason = reason.strip()
    if not subject.dose_level or subject.enrolled_on is None:
        raise ValidationError(_("Only an enrolled subject has a dose level to change."), code="not_enrolled")
    if not reason:
        raise ValidationError({"reason": _("Give a reason for changing the dose level.")}, code="reason_required")
    if dose_level == subject.dose_level:
        raise ValidationError({"dose_level": _("This is already the subject's dose level.")}, code="unchanged")
    _check_dose_level(subject, dose_level, subject.enrolled_on)
    subject.dose_level = dose_level
    with audit_context(user=user, site=subject.site, reason=reason):
        subject.save(update_fields=["dose_level"])
    from subjects.services.treatment import rederive_infusions  # treatment builds on these services

    rederive_infusions(
        user=user,
        subject=subject,
        reason=message(gettext_noop("re-derived: dose level changed (%(reason)s)"), reason=reason),
    )
    return subject


@transaction.atomic
def change_status(
    *,
    user: User,
    subject: Subject,
    event: Event,
    on: date,
    reason: str = "",
    not_infused_reason: str = "",
    survival_follow_up: bool | None = None,
) -> Subject:
    """Apply one lifecycle event other than enrolment (use `enrol`). Screen failure and
    withdrawal need a reason; withdrawal also whether survival follow-up continues; "not infused"
    a reason from NotInfusedReason; death after withdrawal only while survival follow-up continues."""
    subject = _locked(subject)
    _require_editor(user, subject.site)
    event = Event(event)
    if event == Event.ENROL or (subject.status, event) not in lifecycle.TRANSITIONS:
        raise _refuse_transition(subject, event)
    if event == Event.DIE and subject.status == Status.WITHDRAWN and not subject.survival_follow_up:
        raise ValidationError(
            _("This subject withdrew without survival follow-up: a death cannot be recorded in the study."),
            code="illegal_transition",
        )
    _check_date(subject, on)
    reason = reason.strip()
    changes: dict[str, Any] = {"status": lifecycle.next_status(subject.status, event), "status_date": on}
    if event in (Event.FAIL_SCREENING, Event.WITHDRAW):
        if not reason:
            raise ValidationError({"reason": _("Give the reason.")}, code="reason_required")
        changes["status_reason"] = reason
    if event == Event.WITHDRAW:
        if survival_follow_up is None:
            raise ValidationError(
                {"survival_follow_up": _("Say whether survival follow-up continues.")}, code="required"
            )
        changes["survival_follow_up"] = survival_follow_up
    if event == Event.NOT_INFUSED:
        if not_infused_reason not in NotInfusedReason.values:
            raise ValidationError({"not_infused_reason": _("Choose why the subject was not infused.")}, code="required")
        changes["not_infused_reason"] = not_infused_reason
        changes["status_reason"] = reason
    for name, value in changes.items():
        setattr(subject, name, value)
    subject.full_clean()
    with audit_context(user=user, site=subject.site, reason=reason or str(lifecycle.EVENT_LABELS[event])):
        subject.save(update_fields=list(changes))
    return subject


def _revert_status(*, user: User, subject: Subject, undone: Status, reason: str) -> Subject:
    """Give the subject back the status and status date it had just before `undone`, read from
    its own audit trail (the pghistory rows of Subject); the write carries `reason`. The
    lifecycle table has no backward steps because real events are final: this corrects a
    record entered in error, it is not a lifecycle event."""
    subject = _locked(subject)
    _require_editor(user, subject.site)
    if subject.status != undone:
        return subject
    history = subject.events.order_by("-pgh_id").values("status", "status_date")  # type: ignore[attr-defined]
    before = next((row for row in history if row["status"] != undone), None)
    if before is None:
        raise ValidationError(
            _("The status before “%(status)s” cannot be found in this subject's history: contact the data manager.")
            % {"status": subject.get_status_display()},
            code="no_previous_status",
        )
    subject.status = before["status"]
    subject.status_date = before["status_date"]
    with audit_context(user=user, site=subject.site, reason=reason):
        subject.save(update_fields=["status", "status_date"])
    return subject


@transaction.atomic
def revert_death(*, user: User, subject: Subject, reason: str) -> Subject:
    """The death form was entered in error (DESIGN §4 "No hard deletes"; CLINICAL_SPEC §6: a
    death is the death form): the subject goes back to the status and status date it had just
    before "died", audited "death entered in error: <reason>"."""
    return _revert_status(
        user=user,
        subject=subject,
        undone=Status.DIED,
        reason=message(gettext_noop("death entered in error: %(reason)s"), reason=reason),
    )


@transaction.atomic
def correct_death_date(*, user: User, subject: Subject, on: date, reason: str = "") -> Subject:
    """The death form's date was corrected: the "died" status date moves with it (CLINICAL_SPEC
    §6: a death is the death form), audited "death date corrected: <old> → <new>". Not before
    the status date the subject had before "died" (a ValidationError on `on`). Issue 30."""
    subject = _locked(subject)
    _require_editor(user, subject.site)
    if subject.status != Status.DIED or subject.status_date == on:
        return subject
    history = subject.events.order_by("-pgh_id").values("status", "status_date")  # type: ignore[attr-defined]
    before = next((row for row in history if row["status"] != Status.DIED), None)
    if before is not None and before["status_date"] is not None and on < before["status_date"]:
        raise ValidationError(
            {
                "on": _("The date %(on)s is before the subject's last status date %(last)s.")
                % {"on": on.isoformat(), "last": before["status_date"].isoformat()}
            },
            code="date_order",
        )
    old = subject.status_date
    subject.status_date = on
    note = _("death date corrected: %(old)s → %(new)s") % {
        "old": old.isoformat() if old else "–",
        "new": on.isoformat(),
    }
    with audit_context(user=user, site=subject.site, reason=f"{note}; {reason}" if reason else note):
        subject.save(update_fields=["status_date"])
    return subject


@transaction.atomic
def revert_infusion(*, user: User, subject: Subject, reason: str) -> Subject:
    """The subject's only infusion was entered in error (CLINICAL_SPEC §7: day 0 is the first
    infusion; without one there is none): an "infused" subject goes back to its status before
    the infusion (lymphodepleted), audited "infusion entered in error: <reason>"."""
    return _revert_status(
        user=user,
        subject=subject,
        undone=Status.INFUSED,
        reason=message(gettext_noop("infusion entered in error: %(reason)s"), reason=reason),
    )


def consent_date_moves_screening(*, user: User, saved: InformedConsent, previous: InformedConsent | None) -> None:
    """Correcting the first consent's date moves "Screening since" with it (issue 24 item 2):
    screening opens on the first consent, so a subject still in screening whose status date was
    that consent's date takes the corrected date (audited, with the form's change)."""
    if previous is None or previous.consent_date == saved.consent_date:
        return
    subject = _locked(saved.subject)
    if subject.status != Status.SCREENING or subject.status_date != previous.consent_date:
        return
    first = first_consent_date(subject.pk)
    if first is None or first == subject.status_date:
        return
    subject.status_date = first
    with audit_context(
        user=user, site=subject.site, reason=message(gettext_noop("re-derived: consent date corrected"))
    ):
        subject.save(update_fields=["status_date"])


#: Statuses whose date is the date of a form: corrected on that form, not here.
DATE_FROM_FORM = {
    Status.SCREENING: _lazy("Screening opens on the first consent: correct the consent form's date."),
    Status.INFUSED: _lazy("Day 0 is the first infusion: correct the infusion form's start."),
    Status.DIED: _lazy("The date of death is on the death form: correct it there."),
}


@transaction.atomic
def correct_status_date(*, user: User, subject: Subject, on: date, reason: str) -> Subject:
    """Correct the date of the subject's current status, with a reason (issue 24 item 2). The
    date stays after the status before it (from the subject's audit trail) and not in the
    future; an enrolment date moves `enrolled_on` and re-plans the enrolment-anchored visits."""
    subject = _locked(subject)
    _require_editor(user, subject.site)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason for the correction.")}, code="reason_required")
    status = Status(subject.status)
    if status in DATE_FROM_FORM:
        raise ValidationError({"on": str(DATE_FROM_FORM[status])}, code="date_from_form")
    _check_not_future(subject, on)
    history = subject.events.order_by("-pgh_id").values("status", "status_date")  # type: ignore[attr-defined]
    before = next((row for row in history if row["status"] != status), None)
    floor = before["status_date"] if before is not None else first_consent_date(subject.pk)
    if floor is not None and on < floor:
        raise ValidationError(
            {
                "on": _("The date %(on)s is before the subject's previous status date %(last)s.")
                % {"on": on.isoformat(), "last": floor.isoformat()}
            },
            code="date_order",
        )
    fields = ["status_date"]
    subject.status_date = on
    if status == Status.ENROLLED:
        latest = (
            EligibilityAssessment.objects.filter(subject=subject, entered_in_error=False)
            .order_by("-assessment_date")
            .first()
        )
        if latest is not None and on < latest.assessment_date:
            raise ValidationError(
                {
                    "on": _("The enrolment date cannot be before the eligibility assessment (%(date)s).")
                    % {"date": latest.assessment_date.isoformat()}
                }
            )
        subject.enrolled_on = on
        fields.append("enrolled_on")
    audit_reason = _("status date corrected: %(reason)s") % {"reason": reason}
    with audit_context(user=user, site=subject.site, reason=audit_reason):
        subject.save(update_fields=fields)
    if status == Status.ENROLLED:
        visits.schedule_visits(
            user=user, subject=subject, reason=message(gettext_noop("re-derived: enrolment date corrected"))
        )
    return subject


#: Statuses a lifecycle step records directly (no form behind them): one recorded in error can be
#: undone (issue 24 item 2). The others follow a form (consent, lymphodepletion, infusion,
#: death: mark that form entered in error) or create the subject's ID and visits (enrolment:
#: correct its date or dose level).
UNDOABLE = {
    Status.SCREEN_FAILED,
    Status.NOT_INFUSED,
    Status.WITHDRAWN,
    Status.FOLLOW_UP,
    Status.COMPLETED,
    Status.LOST_TO_FOLLOW_UP,
}

#: the fields a lifecycle step sets beside the status, given back as they were before it
_STEP_FIELDS = ("status", "status_date", "status_reason", "not_infused_reason", "survival_follow_up")


@transaction.atomic
def undo_status_in_error(*, user: User, subject: Subject, reason: str) -> Subject:
    """A status recorded in error is undone (issue 24 item 2): the subject gets back the status,
    status date and step details it had before, read from its own audit trail, audited "status
    recorded in error: <reason>". Not a lifecycle event (real events are final); the wrong
    status stays visible in the record history."""
    subject = _locked(subject)
    _require_editor(user, subject.site)
    reason = reason.strip()
    if not reason:
        raise ValidationError(
            {"reason": _("Give the reason the status was recorded in error.")}, code="reason_required"
        )
    status = Status(subject.status)
    if status not in UNDOABLE:
        raise ValidationError(
            {
                "reason": _("“%(status)s” cannot be undone here: correct the form or the date that recorded it.")
                % {"status": subject.get_status_display()}
            },
            code="not_undoable",
        )
    history = subject.events.order_by("-pgh_id").values(*_STEP_FIELDS)  # type: ignore[attr-defined]
    before = next((row for row in history if row["status"] != status), None)
    if before is None:
        raise ValidationError(
            {
                "reason": _(
                    "The status before “%(status)s” cannot be found in this subject's history: "
                    "contact the data manager."
                )
                % {"status": subject.get_status_display()}
            },
            code="no_previous_status",
        )
    for name in _STEP_FIELDS:
        setattr(subject, name, before[name])
    subject.full_clean()
    with audit_context(
        user=user, site=subject.site, reason=_("status recorded in error: %(reason)s") % {"reason": reason}
    ):
        subject.save(update_fields=list(_STEP_FIELDS))
    return subject
