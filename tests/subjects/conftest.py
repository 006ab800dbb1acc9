"""Fixtures for the lifecycle tests: protocol settings in force, and subjects brought to a
given status through the services (never by writing the status directly)."""

from __future__ import annotations

from datetime import date

import pytest

from subjects.lifecycle import Event
from subjects.services import subject as services
from tests.factories import demo_schedule, protocol_v1

CONSENTED = date(2026, 3, 1)
ASSESSED = date(2026, 3, 3)
ENROLLED = date(2026, 3, 5)
PLANNED_INFUSION = date(2026, 3, 20)
ELIGIBLE = {"IN1": True, "IN2": True, "IN3": True, "IN4": True, "EX1": False, "EX2": False, "EX3": False, "EX4": False}


@pytest.fixture
def protocol(study):
    return protocol_v1(study)


@pytest.fixture
def coordinator(users_a):
    return users_a["coordinator"]


@pytest.fixture
def consent(coordinator, site_a, protocol):
    def _consent(site=None, user=None, version: str = "1.0", on: date = CONSENTED):
        return services.record_consent(
            user=user or coordinator, site=site or site_a, consent_version=version, consent_date=on
        )

    return _consent


@pytest.fixture
def screened(consent, coordinator):
    """A consented subject with an eligibility checklist showing it eligible."""

    def _screened(site=None, user=None):
        subject = consent(site=site, user=user)
        services.record_eligibility(
            user=user or coordinator,
            subject=subject,
            protocol_version="2.1",
            assessment_date=ASSESSED,
            criteria=ELIGIBLE,
        )
        return subject

    return _screened


@pytest.fixture
def enrolled(screened, coordinator):
    def _enrolled(dose_level: str = "DL1", site=None, user=None):
        subject = screened(site=site, user=user)
        return services.enrol(user=user or coordinator, subject=subject, on=ENROLLED, dose_level=dose_level)

    return _enrolled


#: Events that bring an enrolled subject to a status, with their dates and required details.
PATH = {
    "enrolled": [],
    "lymphodepleted": [(Event.LYMPHODEPLETE, date(2026, 3, 10), {})],
    "infused": [(Event.LYMPHODEPLETE, date(2026, 3, 10), {}), (Event.INFUSE, date(2026, 3, 15), {})],
    "follow_up": [
        (Event.LYMPHODEPLETE, date(2026, 3, 10), {}),
        (Event.INFUSE, date(2026, 3, 15), {}),
        (Event.START_FOLLOW_UP, date(2026, 3, 29), {}),
    ],
}


@pytest.fixture
def at_status(enrolled, coordinator):
    def _at(status: str):
        subject = enrolled()
        for event, on, details in PATH[status]:
            subject = services.change_status(user=coordinator, subject=subject, event=event, on=on, **details)
        assert subject.status == status
        return subject

    return _at


@pytest.fixture
def schedule(study):
    """The demo study's visit schedule (26 visits on the Day-0 clock)."""
    return demo_schedule(study)


@pytest.fixture
def planned(screened, coordinator, schedule):
    """A subject enrolled on DL2 with its infusion planned for PLANNED_INFUSION."""
    return services.enrol(
        user=coordinator, subject=screened(), on=ENROLLED, dose_level="DL2", planned_infusion_date=PLANNED_INFUSION
    )
