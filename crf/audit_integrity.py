"""Verification of the audit hash chains (issue 21), and the alert to study admins on a break.

The alert follows the safety-alert path: recorded in the transaction that finds the break, sent by
an outbox message (`crf.tasks.audit_break_alert`), so a broken chain is never reported silently."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from crf import auditchain
from crf.dbroles import history_tables
from crf.models import AuditVerification
from crf.outbox import enqueue
from study.models import Membership
from study.roles import Role

logger = logging.getLogger(__name__)
ALERT_TASK = "crf.tasks.audit_break_alert"

BreakHook = Callable[..., None]
_break_hooks: list[BreakHook] = []


def on_chain_break(func: BreakHook) -> BreakHook:
    """Register what else must happen when a verification finds a break, called in the
    verification's transaction as `hook(verification=AuditVerification)` — the in-app safety
    alert to study admins (`adverse_events.services.alerts`). A lower layer's declared hook, so
    crf never imports upward (DESIGN §3)."""
    _break_hooks.append(func)
    return func


def verify_and_alert() -> auditchain.Result:
    """Walk every chain; on a break, queue the e-mail to the study admins and raise the in-app
    alert (the registered hooks) in the same transaction as the verification record."""
    with transaction.atomic():
        result = auditchain.verify(tables=history_tables())
        if not result.ok:
            latest = AuditVerification.objects.order_by("-pk").first()
            logger.critical("audit chain broken: %s", result.first_break)
            enqueue(task_name=ALERT_TASK, verification_id=latest.pk if latest else None)
            if latest is not None:
                for hook in _break_hooks:
                    hook(verification=latest)
    return result


def study_admin_emails() -> list[str]:
    return sorted(
        set(
            Membership.objects.filter(role=Role.STUDY_ADMIN, ended_at__isnull=True, user__is_active=True)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def send_break_alert(*, verification_id: int) -> int:
    """E-mail every active study admin (English and Chinese in one message); returns recipients."""
    verification = AuditVerification.objects.get(pk=verification_id)
    recipients = study_admin_emails()
    if not recipients:
        logger.critical("audit chain broken and no study admin has an e-mail: %s", verification.first_break)
        return 0
    parts = []
    for language in ("en", "zh-hans"):
        with translation.override(language):
            subject = _("Audit trail integrity check failed")
            parts.append(
                _("The nightly audit trail verification at %(time)s UTC found a broken chain: %(detail)s")
                % {"time": f"{verification.started_at:%Y-%m-%d %H:%M}", "detail": verification.first_break}
            )
    send_mail(f"[TrialSite] {subject}", "\n\n".join(parts), settings.DEFAULT_FROM_EMAIL, recipients)
    return len(recipients)
