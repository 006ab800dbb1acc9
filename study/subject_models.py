"""The subject models, for the apps below `subjects/` (issue 23; DESIGN §3).

Subjects, their visits, identity records, eligibility assessments and informed consents live in
`subjects/`, a layer above `study/`, `crf/` and `datamanagement/`, yet the visibility gate
(`study.access`), the form core (`crf/`) and data management read their rows. Importing
`subjects.models` from below would point an import up the house, so these apps name the models
as Django names the user model (`AUTH_USER_MODEL`, `get_user_model()`): a setting holds each
model's "app_label.ModelName"

    TRIALSITE_SUBJECT_MODEL = "subjects.Subject"
    TRIALSITE_VISIT_MODEL = "subjects.Visit"
    TRIALSITE_IDENTITY_MODEL = "subjects.IdentityRecord"
    TRIALSITE_ELIGIBILITY_MODEL = "subjects.EligibilityAssessment"
    TRIALSITE_CONSENT_MODEL = "subjects.InformedConsent"

(constants in `trialsite/settings.py`, not environment variables), a foreign key from below
declares its target with the setting (`models.ForeignKey(settings.TRIALSITE_SUBJECT_MODEL, …)`),
and code below reads the model class through this module, its one accessor:
`subject_model()`, `visit_model()`, `identity_model()`, `eligibility_model()`, `consent_model()`.
No other module below `subjects/` looks a subject model up (no `apps.get_model("subjects", …)`).

Like `get_user_model()`, each accessor resolves the setting in Django's app registry when called
(the models are loaded by then: call it in a function, not at import), and a setting that names
no installed model raises `ImproperlyConfigured`. Only the rows and their fields come through
here; behaviour of `subjects/` that a lower app needs (the site's today, the consent check…) is a
declared hook (`crf/hooks.py`, `datamanagement/hooks.py`).
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model

#: The settings naming the subject models, each "app_label.ModelName".
SETTINGS = (
    "TRIALSITE_SUBJECT_MODEL",
    "TRIALSITE_VISIT_MODEL",
    "TRIALSITE_IDENTITY_MODEL",
    "TRIALSITE_ELIGIBILITY_MODEL",
    "TRIALSITE_CONSENT_MODEL",
)


def _model(setting: str) -> type[Model]:
    label = getattr(settings, setting)
    try:
        return apps.get_model(label, require_ready=False)
    except ValueError:
        raise ImproperlyConfigured(f"{setting} must be of the form 'app_label.model_name', not {label!r}") from None
    except LookupError:
        raise ImproperlyConfigured(f"{setting} refers to model {label!r}, which is not installed") from None


def subject_model() -> type[Model]:
    """The subject (settings.TRIALSITE_SUBJECT_MODEL): site, status, subject and screening ids."""
    return _model("TRIALSITE_SUBJECT_MODEL")


def visit_model() -> type[Model]:
    """A subject's visit (settings.TRIALSITE_VISIT_MODEL): definition, planned and actual dates."""
    return _model("TRIALSITE_VISIT_MODEL")


def identity_model() -> type[Model]:
    """A subject's identity record (settings.TRIALSITE_IDENTITY_MODEL): masked without the right."""
    return _model("TRIALSITE_IDENTITY_MODEL")


def eligibility_model() -> type[Model]:
    """An eligibility assessment form (settings.TRIALSITE_ELIGIBILITY_MODEL)."""
    return _model("TRIALSITE_ELIGIBILITY_MODEL")


def consent_model() -> type[Model]:
    """An informed consent form (settings.TRIALSITE_CONSENT_MODEL)."""
    return _model("TRIALSITE_CONSENT_MODEL")
