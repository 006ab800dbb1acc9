"""The one accessor of the subject models below subjects/ (study/subject_models.py, issue 23):
each returns the model its setting names, as get_user_model() returns AUTH_USER_MODEL's, and the
foreign keys from below point at the configured models."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from crf.models import DataLock, Query
from crf.registry import crf_models
from datamanagement.models import Notice, Signature
from study import subject_models
from study.access import subjects_visible_to
from subjects.models import EligibilityAssessment, IdentityRecord, InformedConsent, Subject, Visit


def test_each_accessor_returns_the_model_its_setting_names(settings):
    assert settings.TRIALSITE_SUBJECT_MODEL == "subjects.Subject"
    assert subject_models.subject_model() is Subject
    assert subject_models.visit_model() is Visit
    assert subject_models.identity_model() is IdentityRecord
    assert subject_models.eligibility_model() is EligibilityAssessment
    assert subject_models.consent_model() is InformedConsent
    settings.TRIALSITE_VISIT_MODEL = "subjects.Subject"  # read when called, as get_user_model()
    assert subject_models.visit_model() is Subject


@pytest.mark.parametrize(
    "label, error", [("subjects", "must be of the form"), ("subjects.NoSuchModel", "which is not installed")]
)
def test_a_setting_that_names_no_installed_model_is_refused(settings, label, error):
    settings.TRIALSITE_SUBJECT_MODEL = label
    with pytest.raises(ImproperlyConfigured, match=rf"^TRIALSITE_SUBJECT_MODEL .*{error}"):
        subject_models.subject_model()


def test_the_foreign_keys_from_below_point_at_the_configured_models():
    subject, visit = subject_models.subject_model(), subject_models.visit_model()
    forms = crf_models().values()
    assert forms
    for form in forms:  # every case report form's subject and visit (crf.models.CrfInstance)
        assert form._meta.get_field("subject").related_model is subject
        assert form._meta.get_field("visit").related_model is visit
    for model in (Query, DataLock, Signature, Notice):
        assert model._meta.get_field("subject").related_model is subject
    assert Signature._meta.get_field("visit").related_model is visit


def test_the_visibility_gate_reads_the_configured_subject_model(db, users_a):
    assert subjects_visible_to(users_a["coordinator"]).model is Subject
