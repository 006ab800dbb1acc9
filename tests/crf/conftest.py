"""Fixtures for the CRF core tests: protocol settings in force, a saved vital-signs form, and
small helpers to save it again through the one save path."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from crf.models import DataLock
from labs.models import VitalSigns
from labs.services import record_vital_signs
from tests.factories import identity, protocol_v1


@pytest.fixture
def crf_ready(study, subject_a):
    """Protocol settings (needed by the vital-signs derivation) and an identity record."""
    protocol_v1(study)
    identity(subject_a)
    return subject_a


@pytest.fixture
def save_vs(users_a):
    """Save vital signs through labs.services: a new form from values, or changes to a saved one
    (expected version = its current version; a reason whenever one is given)."""

    def _save(form: VitalSigns | None = None, *, subject=None, user=None, reason: str = "", **values) -> VitalSigns:
        user = user or users_a["coordinator"]
        if form is None:
            fields = {"assessment_date": date(2026, 3, 2), "systolic_bp": 120, "diastolic_bp": 80, **values}
            return record_vital_signs(user=user, vital_signs=VitalSigns(subject=subject, **fields))
        form = VitalSigns.objects.get(pk=form.pk)
        for name, value in values.items():
            setattr(form, name, value)
        return record_vital_signs(user=user, vital_signs=form, expected_version=form.version, reason=reason)

    return _save


@pytest.fixture
def vs(crf_ready, save_vs):
    """A saved, unremarkable vital-signs form of subject A (no edit check fires)."""
    return save_vs(subject=crf_ready)


@pytest.fixture
def data_lock(study, users_a):
    """Set a freeze or lock directly (the data-management pages come later)."""

    def _lock(kind: str, *, subject=None, form: VitalSigns | None = None) -> DataLock:
        from django.contrib.contenttypes.models import ContentType

        scope: dict[str, object] = {}
        if form is not None:
            scope = {
                "subject": form.subject,
                "content_type": ContentType.objects.get_for_model(VitalSigns),
                "object_id": form.pk,
            }
        elif subject is not None:
            scope = {"subject": subject}
        return DataLock.objects.create(
            kind=kind,
            study=study,
            reason=f"{kind} for the test",
            set_by=users_a["data_manager"],
            set_at=timezone.now(),
            **scope,
        )

    return _lock
