"""A small study for the exports, entered through the services (tests/endpoints' world plus the
forms SDTM needs: demographics, a Chinese con-med, medical history, vital signs, a lab panel and
a CRS course whose system-owned AE carries the ASTCT grade), with SENTINEL identity values planted
on the identity records: they must never appear in any exported byte."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

import pytest

from adverse_events.models import CrsAssessment
from clinical.units import Panel
from crf.services import save
from labs.models import VitalSigns
from labs.services import PanelRow, record_lab_panel, record_vital_signs
from subjects.models import ConcomitantMedication, Demographics, IdentityRecord, MedicalHistory
from tests.endpoints.conftest import CUTOFF, DAY0, LD_START, World, day, make_world, populate

SENTINEL_NAME = "Zhang Sentinelname"
SENTINEL_NAME_ZH = "张哨兵"
SENTINEL_HOSPITAL_NUMBER = "HN-SENTINEL-48213"
SENTINEL_PHONE = "13912345678"
SENTINEL_BIRTH_DATE = date(1979, 8, 13)
#: every way the birth date could leak: ISO, compact, SAS DATE9., Chinese and US orders
SENTINEL_BYTES = [
    SENTINEL_NAME.encode(),
    SENTINEL_NAME_ZH.encode(),
    SENTINEL_HOSPITAL_NUMBER.encode(),
    SENTINEL_PHONE.encode(),
    b"1979-08-13",
    b"19790813",
    b"13AUG1979",
    b"08/13/1979",
    "1979年8月13日".encode(),
]

__all__ = ["CUTOFF", "DAY0", "LD_START", "SENTINEL_BYTES", "World", "day"]


@pytest.fixture
def world(transactional_db) -> World:
    return make_world("trial7")


def plant_sentinels(subject) -> None:
    IdentityRecord.objects.filter(subject=subject).update(
        full_name=SENTINEL_NAME,
        date_of_birth=SENTINEL_BIRTH_DATE,
        hospital_number=SENTINEL_HOSPITAL_NUMBER,
        phone=SENTINEL_PHONE,
    )


def populate_for_export(world: World) -> dict:
    subjects = populate(world)
    a, b = subjects["a"], subjects["b"]
    plant_sentinels(a)
    IdentityRecord.objects.filter(subject=b).update(full_name=SENTINEL_NAME_ZH)
    user = world.coordinator
    for subject, sex in ((a, "M"), (b, "F")):
        save(
            user=user,
            instance=Demographics(
                subject=subject,
                assessment_date=date(2026, 3, 1),
                sex=sex,
                weight_kg=Decimal("60.0"),
                height_cm=Decimal("170.0"),
            ),
            expected_version=None,
        )
    save(
        user=user,
        instance=ConcomitantMedication(
            subject=a,
            medication_name="对乙酰氨基酚 paracetamol",
            category="antipyretic",
            dose=Decimal("500"),
            dose_unit="mg",
            route="oral",
            start_date=day(2),
            stop_date=day(4),
            indication="发热",
        ),
        expected_version=None,
    )
    save(
        user=user,
        instance=MedicalHistory(subject=a, condition="高血压 hypertension", onset_date="2019-06", ongoing=True),
        expected_version=None,
    )
    record_vital_signs(
        user=user,
        vital_signs=VitalSigns(
            subject=a,
            assessment_date=day(-1),
            temperature_c=Decimal("36.8"),
            systolic_bp=118,
            diastolic_bp=76,
            heart_rate=80,
            spo2=98,
        ),
    )
    record_lab_panel(
        user=user,
        subject=a,
        panel=Panel.CBC,
        collected_on=day(-1),
        collected_time=time(7, 0),
        visit=None,
        sex="M",
        rows=[PanelRow("ANC", Decimal("0.4"), "10^9/L"), PanelRow("PLT", Decimal("45"), "10^9/L")],
        complete=True,
    )
    save(
        user=user,
        instance=CrsAssessment(
            subject=a,
            assessment_date=day(1),
            tmax_c=Decimal("38.6"),
            oxygen_device="room_air",
            entry_status="complete",
        ),
        expected_version=None,
    )
    return subjects


__all__ += ["populate_for_export", "timedelta"]
