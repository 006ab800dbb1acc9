"""Small builders for tests (no factory library: the models are few and explicit)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.utils import timezone

from clinical.protocol import ProtocolChoices
from labs.models import VitalSigns
from labs.services import record_vital_signs
from study.models import ProtocolSettings, Study, VisitDefinition
from subjects.models import IdentityRecord, Subject


def protocol_v1(study: Study, *, effective_from: date = date(2020, 1, 1)) -> ProtocolSettings:
    return ProtocolSettings.objects.create(
        study=study,
        version=1,
        effective_from=effective_from,
        values=ProtocolChoices().to_json(),
        reason="CLINICAL_SPEC defaults",
        created_at=timezone.now(),
    )


def identity(subject: Subject, *, born: date = date(1990, 5, 1)) -> IdentityRecord:
    return IdentityRecord.objects.create(
        subject=subject, full_name="张三", date_of_birth=born, hospital_number="H001", phone="13800000000"
    )


def vital_signs(user, subject: Subject, **values) -> VitalSigns:
    defaults = {"assessment_date": date(2026, 3, 2), "temperature_c": Decimal("37.0"), "systolic_bp": 120}
    defaults.update(values)
    return record_vital_signs(user=user, vital_signs=VitalSigns(subject=subject, **defaults))


def demo_schedule(study: Study) -> list[VisitDefinition]:
    """The demo study's 26 time points (CLINICAL_SPEC §7) on `study`."""
    from demo.definition import assessment_matrix, schedule
    from study.models import AssessmentSchedule

    # with the §7.1 schedule of assessments, as the demo loader does (issue 24)
    AssessmentSchedule.objects.create(
        study=study,
        version=1,
        effective_from=date(2020, 1, 1),
        matrix=assessment_matrix(),
        reason="CLINICAL_SPEC §7.1",
        created_at=timezone.now(),
    )
    return VisitDefinition.objects.bulk_create(
        [VisitDefinition(study=study, order=i, **row) for i, row in enumerate(schedule(), start=1)]
    )
