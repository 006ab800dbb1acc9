"""Enrolment against the dose-escalation state (CLINICAL_SPEC §3.1; issue 24 item 2).

Before enrolling at a level the page shows that level's DLT decision and its candidates awaiting
adjudication. Enrolling at a level whose decision is "above MTD" (or "stop and review", which
the endpoint engine adds) or while a candidate at that level awaits adjudication needs an
investigator's explicit acknowledgement: an investigator of the site enrols with it; anyone else's
enrolment stays pending (`EnrolmentAcknowledgement`) until an investigator of the site
acknowledges it under their own account. Audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from clinical.escalation import Decision
from study import access
from study.access import subjects_visible_to
from study.audit_context import audit_context
from study.roles import Action, Role
from study.system_text import Message, message
from subjects import hooks
from subjects.lifecycle import Status
from subjects.models import EnrolmentAcknowledgement, SiteSequence, Subject
from subjects.services import subject as services

if TYPE_CHECKING:
    from study.models import User

#: decisions after which enrolling at the level needs the acknowledgement (§3.1)
NEEDS_ACKNOWLEDGEMENT = ("above_mtd", "stop_review", "expansion_stop")


@dataclass
class LevelSafety:
    """What the enrolment page shows of one dose level."""

    dose_level: str
    decision: str = ""
    decision_label: str = ""
    decision_changed_at: Any = None
    #: (subject ID or "another site", criterion label, onset study day) of candidates awaiting
    awaiting: list[tuple[str, str, int]] = field(default_factory=list)
    #: system messages (code + parameters, issue 25): shown in each reader's language
    needs: list[Message] = field(default_factory=list)


def level_safety(*, user: User, subject: Subject, dose_level: str) -> LevelSafety:
    """The level's DLT decision (as the DLT monitor last recorded it) and its candidates awaiting
    adjudication (the DLT monitor's, through `subjects.hooks.dose_level_dlt`); `needs` says why
    an acknowledgement is required (empty: none)."""
    found = LevelSafety(dose_level=dose_level)
    dlt = hooks.dose_level_dlt(study=subject.site.study, dose_level=dose_level)
    if dlt.decision:
        found.decision = dlt.decision
        found.decision_label = _decision_label(dlt.decision)
        found.decision_changed_at = dlt.decision_changed_at
    visible = set(subjects_visible_to(user).values_list("pk", flat=True))
    for candidate in dlt.awaiting:
        who = candidate.subject_id if candidate.subject_pk in visible else _("another site")
        found.awaiting.append((who, candidate.criterion, candidate.onset_day))
    if found.decision in NEEDS_ACKNOWLEDGEMENT:
        found.needs.append(
            message(
                gettext_noop("the decision at %(level)s is “%(decision)s”"),
                level=dose_level,
                decision=_decision_label(found.decision, lazy=True),
            )
        )
    if found.awaiting:
        found.needs.append(
            message(
                gettext_noop("candidate DLTs awaiting adjudication at %(level)s: %(n)s"),
                n=len(found.awaiting),
                level=dose_level,
            )
        )
    return found


def _decision_label(value: str, *, lazy: bool = False) -> Any:
    """The decision's label in the reader's language (`lazy`: translated when shown, so a
    system message stores its code, issue 25)."""
    labels = {
        Decision.ESCALATE.value: gettext_lazy("escalate"),
        Decision.EXPAND.value: gettext_lazy("expand to 6"),
        Decision.ABOVE_MTD.value: gettext_lazy("above the MTD"),
        Decision.MTD.value: gettext_lazy("MTD"),
        Decision.ENROLLING.value: gettext_lazy("enrolling"),
    }
    label = labels.get(value, value)
    return label if lazy else str(label)


def _joined(needs: list[Message]) -> Message:
    """The reasons for the acknowledgement as one message ("a; b")."""
    why = needs[0]
    for need in needs[1:]:
        why = message(gettext_noop("%(earlier)s; %(later)s"), earlier=why, later=need)
    return why


def _why_of(row: EnrolmentAcknowledgement) -> Message | str:
    return Message(row.why_code, row.why_params) if row.why_code else row.why


def next_subject_id(subject: Subject) -> str:
    """The subject ID enrolment would give now (shown on the confirmation; the number itself is
    handed out under a row lock when the enrolment is saved)."""
    sequence = SiteSequence.objects.filter(site=subject.site, kind=SiteSequence.Kind.SUBJECT).first()
    return services.SUBJECT_ID.format(
        prefix=subject.site.subject_prefix, n=(sequence.last_value if sequence else 0) + 1
    )


def is_site_investigator(user: User, subject: Subject) -> bool:
    return Role.INVESTIGATOR.value in access.roles_at(user, subject.site)


@transaction.atomic
def enrol_or_request(
    *,
    user: User,
    subject: Subject,
    on: date,
    dose_level: str,
    planned_infusion_date: date | None,
    acknowledged: bool = False,
) -> tuple[Subject, EnrolmentAcknowledgement | None]:
    """Enrol now, or — when §3.1 asks for an acknowledgement the user cannot give (not an
    investigator of the site, or did not tick it) — record the enrolment as pending. The
    pending row is refused when the enrolment itself would be refused."""
    if not access.can(user, Action.EDIT_CRF, site=subject.site):
        raise PermissionDenied
    safety = level_safety(user=user, subject=subject, dose_level=dose_level)
    if not safety.needs:
        return services.enrol(
            user=user, subject=subject, on=on, dose_level=dose_level, planned_infusion_date=planned_infusion_date
        ), None
    why = _joined(safety.needs)
    stored_why = {"why": str(why), "why_code": why.code, "why_params": why.params}
    now = timezone.now()
    if acknowledged and is_site_investigator(user, subject):
        enrolled = services.enrol(
            user=user, subject=subject, on=on, dose_level=dose_level, planned_infusion_date=planned_infusion_date
        )
        reason = message(gettext_noop("Enrolment acknowledged: %(why)s"), why=why)
        with audit_context(user=user, site=subject.site, reason=reason):
            row = EnrolmentAcknowledgement.objects.create(
                subject=enrolled,
                dose_level=dose_level,
                enrolment_date=on,
                planned_infusion_date=planned_infusion_date,
                **stored_why,
                requested_by=user,
                requested_at=now,
                acknowledged_by=user,
                acknowledged_at=now,
            )
        return enrolled, row
    # check the enrolment would be accepted, without keeping it
    sid = transaction.savepoint()
    try:
        services.enrol(
            user=user, subject=subject, on=on, dose_level=dose_level, planned_infusion_date=planned_infusion_date
        )
    finally:
        transaction.savepoint_rollback(sid)
    if EnrolmentAcknowledgement.objects.filter(subject=subject, acknowledged_at__isnull=True).exists():
        raise ValidationError(_("An enrolment of this subject already awaits an investigator's acknowledgement."))
    reason = message(gettext_noop("Enrolment pending acknowledgement: %(why)s"), why=why)
    with audit_context(user=user, site=subject.site, reason=reason):
        row = EnrolmentAcknowledgement.objects.create(
            subject=subject,
            dose_level=dose_level,
            enrolment_date=on,
            planned_infusion_date=planned_infusion_date,
            **stored_why,
            requested_by=user,
            requested_at=now,
        )
    return subject, row


def pending_for(subject: Subject) -> EnrolmentAcknowledgement | None:
    return EnrolmentAcknowledgement.objects.filter(subject=subject, acknowledged_at__isnull=True).first()


@transaction.atomic
def acknowledge(*, user: User, subject: Subject) -> Subject:
    """An investigator of the site acknowledges the pending enrolment under their own account:
    the subject is enrolled as it was requested (audited with both names)."""
    if not is_site_investigator(user, subject):
        raise PermissionDenied
    row = (
        EnrolmentAcknowledgement.objects.select_for_update()
        .filter(subject=subject, acknowledged_at__isnull=True)
        .first()
    )
    if row is None or subject.status != Status.SCREENING:
        raise ValidationError(_("No enrolment of this subject awaits an acknowledgement."), code="nothing_pending")
    enrolled = services.enrol(
        user=user,
        subject=subject,
        on=row.enrolment_date,
        dose_level=row.dose_level,
        planned_infusion_date=row.planned_infusion_date,
    )
    reason = message(gettext_noop("Enrolment acknowledged: %(why)s"), why=_why_of(row))
    with audit_context(user=user, site=subject.site, reason=reason):
        row.acknowledged_by = user
        row.acknowledged_at = timezone.now()
        row.save(update_fields=["acknowledged_by", "acknowledged_at"])
    return enrolled
