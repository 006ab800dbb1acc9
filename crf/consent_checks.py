"""The "procedure before consent" edit check (issue 4 item 2, `subjects.checks`) extended to every
form (issue 21): an assessment bound to a visit, or an AE onset, dated before the subject's first
informed consent raises the same PROC-BEFORE-CONSENT query on that date (the rule is subjects/' own, reached
through the hook `crf.hooks.procedure_before_consent`). Forms whose declaration lists
the check themselves (vital signs, demographics, performance status, lymphodepletion, infusion, cell
collection, bridging) keep their own rule. Medical history, disease history, prior therapy and
con-med start dates describe the time before the study and are exempt, as is the consent form;
a form flagged as standard of care is exempt as on the forms that have the flag."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from crf import hooks
from crf.checks import EditCheck, edit_check
from crf.models import CrfInstance

CODE = "PROC-BEFORE-CONSENT"
#: the query's text, here and on the forms of subjects/ that register the rule themselves
PROCEDURE_BEFORE_CONSENT = _(
    "Procedure before consent: this protocol procedure is dated before the subject's informed consent. "
    "Check the date, or mark the form as history / standard of care."
)
#: forms whose dates lie before the study by nature (CLINICAL_SPEC baseline history), and consent
EXEMPT = {"IC", "MH", "DH", "PT", "CM"}
#: forms checked whether or not they name a visit
ALWAYS = {"AE"}


def _rule(code: str, field: str) -> Any:
    def fires(form: CrfInstance) -> bool:
        if code not in ALWAYS and form.visit_id is None:
            return False
        exempt = bool(getattr(form, "standard_of_care", False))
        return hooks.procedure_before_consent(form=form, on=getattr(form, field, None), exempt=exempt)

    return fires


def implied(model: type[models.Model], declared: tuple[EditCheck, ...]) -> tuple[EditCheck, ...]:
    """The check a form's declaration implies (crf.declarations.FormDeclaration.edit_checks):
    none for an exempt form, a form that lists the rule itself, or one without a plain date."""
    if not issubclass(model, CrfInstance) or not model.crf_code or model.crf_code in EXEMPT:
        return ()
    code, field = model.crf_code, model.clinical_date_field
    if not field or any(c.code == CODE for c in declared):
        return ()
    if type(model._meta.get_field(field)) is not models.DateField:
        return ()  # imputed dates of partial history dates, and datetimes, are not checked here
    return (edit_check(code=CODE, field=field, message=PROCEDURE_BEFORE_CONSENT)(_rule(code, field)),)
