"""Edit check "dated before consent" (issue 21, `clinical.dates.before_consent`): an assessment
bound to a visit, or an AE onset, dated before the subject's first informed consent raises a query
on that date. Medical history, disease history, prior therapy and con-med start dates describe the
time before the study and are exempt, as is the consent form itself."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Min
from django.utils.translation import gettext_lazy as _

from clinical.dates import before_consent
from crf.checks import edit_check
from crf.models import CrfInstance
from crf.registry import crf_models

CODE = "DATE-BEFORE-CONSENT"
MESSAGE = _("This date is before the subject's informed consent. Please check it.")
#: forms whose dates lie before the study by nature (CLINICAL_SPEC baseline history), and consent
EXEMPT = {"IC", "MH", "DH", "PT", "CM"}
#: forms checked whether or not they name a visit
ALWAYS = {"AE"}


def first_consent(instance: CrfInstance) -> Any:
    consent = crf_models()["IC"]
    found = consent._default_manager.filter(subject_id=instance.subject_id, entered_in_error=False)
    return found.aggregate(first=Min("consent_date"))["first"]


def _rule(code: str, field: str) -> Any:
    def fires(instance: CrfInstance) -> bool:
        if code not in ALWAYS and instance.visit_id is None:
            return False
        value = getattr(instance, field, None)
        return value is not None and before_consent(value, first_consent(instance))

    return fires


def register() -> None:
    """Called once from CrfConfig.ready, when every form model is loaded."""
    for code, model in sorted(crf_models().items()):
        field = model.clinical_date_field
        if code in EXEMPT or not field or field.endswith("_imputed"):
            continue
        if type(model._meta.get_field(field)) is not models.DateField:
            continue  # a datetime (infusion start) follows its date field
        edit_check(model, code=CODE, field=field, message=MESSAGE)(_rule(code, field))
