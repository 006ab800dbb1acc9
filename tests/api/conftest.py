"""Fixtures for the REST API tests: token clients per role, subjects brought to a status through
the lifecycle services, and a valid create payload for every CRF resource.

`payload_for(resource)` gives the hand-written example of a known form, else one generated from
the model's fields, so a form another engineer declares with an `api_resource` is exercised by
every parametrised test without touching this file; if the generated payload is refused, the
tests fail with the 400 body, which says which example to add to EXAMPLES."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.test import Client
from knox.models import AuthToken

from crf.api import crf_resources
from crf.services import SYSTEM_FIELDS
from subjects.lifecycle import Event
from subjects.models import Subject
from subjects.services import subject as services
from tests.conftest import make_user
from tests.factories import demo_schedule, protocol_v1

CONSENTED = date(2026, 3, 1)
ASSESSED = date(2026, 3, 3)
ENROLLED = date(2026, 3, 5)
LYMPHODEPLETED = date(2026, 3, 10)
INFUSED = date(2026, 3, 15)
ELIGIBLE = {"IN1": True, "IN2": True, "IN3": True, "IN4": True, "EX1": False, "EX2": False, "EX3": False, "EX4": False}


@dataclass(frozen=True)
class Example:
    """A create payload (without `subject`) and the subject status the form needs."""

    payload: dict[str, Any]
    status: str = "lymphodepleted"
    #: a field and a value the model's validators refuse (400 with that field)
    refused: dict[str, Any] = field(default_factory=dict)
    #: records the form needs first (a date of birth, a parent form): (subject, user) → extra payload
    prepare: Callable[[Subject, Any], dict[str, Any]] | None = None

    def payload_for(self, subject: Subject, user: Any) -> dict[str, Any]:
        extra = self.prepare(subject, user) if self.prepare else {}
        return {"subject": subject.pk, **self.payload, **extra}


def _date_of_birth(subject: Subject, user: Any) -> dict[str, Any]:
    services.save_identity_record(user=user, subject=subject, full_name="王五", date_of_birth=date(1990, 5, 1))
    return {}


def _day0(subject: Subject, user: Any) -> dict[str, Any]:
    """CRS and ICANS grades hang on the Day-0 clock: the infusion is planned."""
    from subjects.services import visits

    visits.set_planned_infusion_date(user=user, subject=subject, on=INFUSED)
    return {}


def _marrow_assessment(subject: Subject, user: Any) -> dict[str, Any]:
    from crf.services import save
    from response.models import MarrowAssessment

    marrow = MarrowAssessment(
        subject=subject,
        assessment_date=date(2026, 4, 12),
        marrow_blasts_pct=Decimal("2"),
        peripheral_blasts_pct=Decimal("0"),
        anc=Decimal("1.5"),
        platelets=Decimal("120"),
    )
    return {"assessment": save(user=user, instance=marrow, expected_version=None).pk}


EXAMPLES: dict[str, Example] = {
    "consents": Example({"consent_version": "2.0", "consent_date": "2026-03-08"}),
    "eligibility": Example(
        {"protocol_version": "2.1", "assessment_date": "2026-03-03", "criteria": ELIGIBLE}, status="screening"
    ),
    "lymphodepletions": Example(
        {
            "fludarabine_mg_m2": "30.00",
            "cyclophosphamide_mg_m2": "300.00",
            "bsa_m2": "1.80",
            "start_date": "2026-03-10",
        },
        refused={"bsa_m2": "9.00"},
    ),
    "infusions": Example(
        {
            "product_id": "CD7-0001",
            "lot_number": "L2603",
            "source": "autologous",
            "state": "fresh",
            "bag_id": "BAG-1",
            "bag_matches_subject": True,
            "checked_by_first": "Nurse Liu",
            "checked_by_second": "Dr Wang",
            "infusion_start": "2026-03-15T01:30:00Z",
            "volume_ml": "50.0",
            "viable_cells_e6": "100.000",
            "car_positive_pct": "60.00",
            "weight_kg": "70.00",
        },
        refused={"car_positive_pct": "101.00"},
    ),
    "concomitant-medications": Example(
        {
            "medication_name": "对乙酰氨基酚 paracetamol",
            "atc_code": "N02BE01",
            "dose": "500",
            "dose_unit": "mg",
            "route": "oral",
            "start_date": "2026-03-16",
            "ongoing": True,
            "indication": "fever",
            "category": "antipyretic",
        },
        refused={"atc_code": "not-an-atc"},
    ),
    "demographics": Example(
        {"assessment_date": "2026-03-03", "age_years": 35, "sex": "M", "weight_kg": "70.0", "height_cm": "175.0"},
        refused={"sex": "X"},
    ),
    "performance-status": Example(
        {"assessment_date": "2026-03-03", "scale": "ecog", "score": 1},
        refused={"score": 7},
        prepare=_date_of_birth,
    ),
    "disease-history": Example(
        {
            "diagnosis": "t_all",
            "diagnosis_date": "2024-05",
            "blast_cd7_pct": "95.0",
            "disease_status": "relapsed",
            "prior_lines": 3,
            "cns_status": "CNS1",
        },
        refused={"diagnosis_date": "2024-13"},
    ),
    "prior-therapies": Example(
        {
            "line_number": 1,
            "therapy_type": "chemotherapy",
            "regimen": "VDLP 诱导",
            "start_date": "2024-06",
            "best_response": "CR",
        },
        refused={"start_date": "06/2024"},
    ),
    "mrd-tests": Example(
        {
            "sample_date": "2026-04-12",
            "method": "flow",
            "detected": False,
            "sensitivity": "0.0001",
            "cells_analysed": 1000000,
            "cd7_independent_gating": True,
        },
        refused={"method": "pcr"},
        status="infused",
        prepare=_marrow_assessment,
    ),
    "relapses": Example(
        {"relapse_date": "2026-06-01", "site_marrow": True, "blast_cd7_status": "negative"},
        refused={"blast_cd7_status": "absent"},
        status="infused",
    ),
    "subsequent-therapies": Example(
        {
            "therapy_type": "hsct",
            "start_date": "2026-05-20",
            "consolidative": True,
            "donor": "matched_sibling",
            "conditioning": "TBI/Cy",
        },
        refused={"donor": "cousin"},
        status="infused",
    ),
    "adverse-events": Example(
        {
            "ctcae_term": "Nausea",
            "grade": 2,
            "onset_date": "2026-03-16",
            "relationship_car_t": "possible",
            "relationship_lymphodepletion": "probable",
            "outcome": "recovering",
        },
        refused={"grade": 4},  # CTCAE v5.0 Nausea has grades 1-3 only
        status="infused",
    ),
    "crs-assessments": Example(
        {"assessment_date": "2026-03-16", "tmax_c": "38.6", "oxygen_device": "room_air"},
        refused={"tmax_c": "47.0"},
        prepare=_day0,
    ),
    "icans-assessments": Example(
        {
            "assessment_date": "2026-03-17",
            "instrument": "ice",
            "ice_orientation": 4,
            "ice_naming": 3,
            "ice_following_commands": 1,
            "ice_writing": 1,
            "ice_counting_backwards": 1,
        },
        refused={"ice_orientation": 5},
        prepare=_day0,
    ),
    "iec-hs-assessments": Example(
        {
            "assessment_date": "2026-03-24",
            "present": True,
            "onset_date": "2026-03-22",
            "ferritin_peak": "38000",
            "fibrinogen_nadir": "1.1",
            "marrow_haemophagocytosis": "not_done",
            "treatments": ["anakinra", "corticosteroids"],
            "grade": 2,
        },
        refused={"grade": 6},
        status="infused",
    ),
    "gvhd-stagings": Example(
        {
            "assessment_date": "2026-04-20",
            "weight_kg": "62.0",
            "skin_bsa_pct": "30",
            "bilirubin": "52",
            "bilirubin_unit": "umol/L",
        },
        refused={"skin_bsa_pct": "101"},
        status="infused",
    ),
    "infections": Example(
        {
            "onset_date": "2026-03-27",
            "organism_type": "bacterial",
            "organism": "Klebsiella pneumoniae",
            "infection_site": "lung",
            "ctcae_term": "Lung infection",
            "grade": 3,
        },
        refused={"grade": 1},  # CTCAE v5.0 Lung infection has no grade 1
        status="infused",
    ),
    "hospital-stays": Example(
        {
            "kind": "icu",
            "admission_date": "2026-03-19",
            "discharge_date": "2026-03-22",
            "admission_reason": "CRS grade 3",
        },
        refused={"discharge_date": "2026-03-18"},
        status="infused",
    ),
    "vital-signs": Example(
        {"assessment_date": "2026-03-12", "temperature_c": "37.0", "systolic_bp": 120, "heart_rate": 80},
        refused={"temperature_c": "50.0"},
    ),
}


def _generated_value(f: models.Field) -> Any:  # type: ignore[type-arg]
    """A plausible value for one required field, within its validators and choices."""
    if f.choices:
        return f.choices[0][0]
    low = next((v.limit_value for v in f.validators if isinstance(v, MinValueValidator)), None)
    high = next((v.limit_value for v in f.validators if isinstance(v, MaxValueValidator)), None)
    if isinstance(f, models.BooleanField):
        return False
    if isinstance(f, models.DateTimeField):
        return "2026-03-16T02:00:00Z"
    if isinstance(f, models.DateField):
        return "2026-03-16"
    if isinstance(f, models.TimeField):
        return "08:00"
    if isinstance(f, models.DecimalField | models.FloatField | models.IntegerField):
        value = low if low is not None else (high if high is not None and high < 1 else 1)
        return str(Decimal(str(value))) if isinstance(f, models.DecimalField) else value
    if isinstance(f, models.JSONField):
        return {}
    if isinstance(f, models.ForeignKey):
        return None
    return "test"


def generated_example(model: type[models.Model]) -> Example:
    payload = {}
    for f in model._meta.concrete_fields:
        if f.name in SYSTEM_FIELDS or f.primary_key or not f.editable or f.name in ("visit", "entry_status", "missing"):
            continue
        if f.blank or f.has_default():
            continue
        payload[f.name] = _generated_value(f)
    return Example(payload, status="infused")


def example_for(resource: str) -> Example:
    return EXAMPLES.get(resource) or generated_example(crf_resources()[resource])


RESOURCES = list(crf_resources())


def token_client(user) -> Client:  # type: ignore[no-untyped-def]
    """A client sending a real knox token (hashed in the database, with its expiry)."""
    _token, plain = AuthToken.objects.create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {plain}")


def send(client: Client, method: str, url: str, body: dict[str, Any] | None = None, **headers: str):  # type: ignore[no-untyped-def]
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    call = getattr(client, method.lower())
    if body is None:
        return call(url, **extra)
    return call(url, data=json.dumps(body), content_type="application/json", **extra)


@pytest.fixture
def protocol(study):
    return protocol_v1(study)


@pytest.fixture
def schedule(study):
    return demo_schedule(study)


@pytest.fixture
def coordinator(users_a):
    return users_a["coordinator"]


@pytest.fixture
def coordinator_b(site_b):
    return make_user("coordinator_b", site=site_b, role="coordinator")


@pytest.fixture
def subject_at(protocol, schedule):
    """A subject at `site` brought to `status` by the lifecycle services, as `user`."""

    def _at(status: str, *, user, site) -> Subject:  # type: ignore[no-untyped-def]
        subject = services.record_consent(user=user, site=site, consent_version="1.0", consent_date=CONSENTED)
        if status == "screening":
            return subject
        services.record_eligibility(
            user=user, subject=subject, protocol_version="2.1", assessment_date=ASSESSED, criteria=ELIGIBLE
        )
        subject = services.enrol(user=user, subject=subject, on=ENROLLED, dose_level="DL1")
        if status in ("lymphodepleted", "infused"):
            subject = services.change_status(user=user, subject=subject, event=Event.LYMPHODEPLETE, on=LYMPHODEPLETED)
        if status == "infused":
            subject = services.change_status(user=user, subject=subject, event=Event.INFUSE, on=INFUSED)
        assert subject.status == status
        return subject

    return _at


@pytest.fixture
def created(subject_at):
    """POST a resource's example for a fresh subject: (client, subject, response)."""

    def _created(resource: str, *, user, site):  # type: ignore[no-untyped-def]
        example = example_for(resource)
        subject = subject_at(example.status, user=user, site=site)
        client = token_client(user)
        response = send(client, "POST", f"/api/v1/{resource}/", example.payload_for(subject, user))
        assert response.status_code == 201, (resource, response.content[:1000])
        return client, subject, response

    return _created
