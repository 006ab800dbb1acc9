"""Edit checks every protocol-procedure form shares (issue 4 item 2). A form module registers
them on its own model with `crf.checks.edit_check`; they raise queries and refuse nothing."""

from __future__ import annotations

from datetime import date

from django.utils.translation import gettext_lazy as _

from crf.models import CrfInstance
from subjects.models import first_consent_date

PROCEDURE_BEFORE_CONSENT = _(
    "Procedure before consent: this protocol procedure is dated before the subject's informed consent. "
    "Check the date, or mark the form as history / standard of care."
)


def procedure_before_consent(form: CrfInstance, *, on: date | None, exempt: bool) -> bool:
    """Fires when a protocol procedure is dated before the first consent. History forms and
    standard-of-care results (`exempt`) never fire; nor do forms of subjects without consent."""
    if exempt or on is None:
        return False
    consented = first_consent_date(form.subject_id)
    return consented is not None and on < consented
