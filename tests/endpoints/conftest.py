"""Small studies for the endpoint tables, entered through the services (never by writing rows).

Each `World` is a study with one site (prefix "A"), a coordinator, protocol settings v1 with the
CLINICAL_SPEC defaults and the demo schedule. Tests that compare snapshots use committed
transactions (`transactional_db`): the audit trail dates each event by its transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from adverse_events.models import AdverseEvent
from crf.services import save
from response.models import Relapse
from study.models import Site, Study
from study.roles import Role
from subjects.lifecycle import Event
from subjects.models import CellCollection, Subject
from subjects.services import subject as services
from survival.models import Death, FollowUpContact
from survival.services import record_death, record_follow_up
from tests.conftest import make_user
from tests.factories import demo_schedule, identity, protocol_v1
from tests.subjects.conftest import ASSESSED, CONSENTED, ELIGIBLE, ENROLLED
from tests.subjects.test_treatment_forms import PLANNED, SHANGHAI_0730, infuse, lymphodeplete

DAY0 = date(2026, 3, 20)
LD_START = date(2026, 3, 15)
CUTOFF = date(2026, 6, 30)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


@dataclass
class World:
    study: Study
    site: Site
    coordinator: object
    admin: object
    statistician: object

    def screened(self) -> Subject:
        subject = services.record_consent(
            user=self.coordinator, site=self.site, consent_version="1.0", consent_date=CONSENTED
        )
        services.record_eligibility(
            user=self.coordinator, subject=subject, protocol_version="2.1", assessment_date=ASSESSED, criteria=ELIGIBLE
        )
        return subject

    def enrolled(self, dose_level: str = "DL2") -> Subject:
        subject = services.enrol(
            user=self.coordinator,
            subject=self.screened(),
            on=ENROLLED,
            dose_level=dose_level,
            planned_infusion_date=PLANNED,
        )
        identity(subject)
        return subject

    def infused(self, dose_level: str = "DL2", *, collected: date | None = date(2026, 3, 2), **infusion) -> Subject:
        subject = self.enrolled(dose_level)
        if collected is not None:
            save(
                user=self.coordinator,
                instance=CellCollection(subject=subject, collection_date=collected, source="autologous"),
                expected_version=None,
            )
        lymphodeplete(self.coordinator, subject, start_date=LD_START, end_date=LD_START + timedelta(days=2))
        infuse(self.coordinator, subject, **infusion)
        subject.refresh_from_db()
        assert subject.infusion_date == DAY0
        return subject

    def ae(self, subject: Subject, **values) -> AdverseEvent:
        data = {
            "ctcae_term": "Nausea",
            "grade": 1,
            "onset_date": day(3),
            "relationship_car_t": "possible",
            "relationship_lymphodepletion": "unlikely",
            "action": "treatment",
            "outcome": "recovering",
        }
        data.update(values)
        return save(user=self.coordinator, instance=AdverseEvent(subject=subject, **data), expected_version=None)

    def infused_on(self, day0: date, dose_level: str = "DL2", **infusion) -> Subject:
        """A subject consented, enrolled, lymphodepleted and infused (07:30 at the site) with
        day 0 = `day0`, all through the services."""
        subject = services.record_consent(
            user=self.coordinator, site=self.site, consent_version="1.0", consent_date=day0 - timedelta(days=20)
        )
        services.record_eligibility(
            user=self.coordinator,
            subject=subject,
            protocol_version="2.1",
            assessment_date=day0 - timedelta(days=18),
            criteria=ELIGIBLE,
        )
        subject = services.enrol(
            user=self.coordinator,
            subject=subject,
            on=day0 - timedelta(days=15),
            dose_level=dose_level,
            planned_infusion_date=day0,
        )
        identity(subject)
        lymphodeplete(self.coordinator, subject, start_date=day0 - timedelta(days=5), end_date=day0 - timedelta(days=3))
        start = datetime.combine(day0, time(7, 30), tzinfo=ZoneInfo("Asia/Shanghai"))
        infuse(self.coordinator, subject, infusion_start=start, **infusion)
        subject.refresh_from_db()
        assert subject.infusion_date == day0
        return subject

    def alive(self, subject: Subject, on: date) -> FollowUpContact:
        return record_follow_up(
            user=self.coordinator,
            instance=FollowUpContact(subject=subject, contact_date=on, method="telephone", alive=True),
            expected_version=None,
        )

    def relapse(self, subject: Subject, on: date, **values) -> Relapse:
        data = {"site_marrow": True, "blast_cd7_status": "positive"}
        data.update(values)
        return save(
            user=self.coordinator, instance=Relapse(subject=subject, relapse_date=on, **data), expected_version=None
        )

    def death(self, subject: Subject, on: date, cause: str) -> Death:
        subject.refresh_from_db()
        follow_up_from = subject.infusion_date + timedelta(days=1)
        services.change_status(user=self.coordinator, subject=subject, event=Event.START_FOLLOW_UP, on=follow_up_from)
        return record_death(
            user=self.coordinator,
            instance=Death(subject=subject, death_date=on, primary_cause=cause, autopsy="no"),
            expected_version=None,
        )


THAWED = {"state": "thawed", "thaw_time": SHANGHAI_0730 - timedelta(minutes=30)}


def make_world(code: str) -> World:
    study = Study.objects.create(code=code, title=f"Study {code}", registry_id="NCT05212584", phase="I")
    site = Site.objects.create(study=study, code="01", name="Site", subject_prefix="A", default_language="en")
    protocol_v1(study)
    demo_schedule(study)
    return World(
        study=study,
        site=site,
        coordinator=make_user(f"coordinator_{code}", site=site, role=Role.COORDINATOR),
        admin=make_user(f"admin_{code}", site=site, role=Role.STUDY_ADMIN),
        statistician=make_user(f"statistician_{code}", site=site, role=Role.STATISTICIAN),
    )


def populate(world: World, *, reverse: bool = False) -> dict[str, Subject]:
    """Four subjects: A (DL2, fresh, 0.857×10⁶/kg, apheresis day −18), B (DL2, thawed,
    1.2×10⁶/kg, apheresis day −15, dies of infection on day 20), a screen failure and one enrolled
    but not infused (manufacturing failure). AEs of A and B are entered in `reverse` order too."""
    a = world.infused()
    b = world.infused(collected=date(2026, 3, 5), viable_cells_e6=Decimal("140"), **THAWED)
    failed = world.screened()
    services.change_status(
        user=world.coordinator, subject=failed, event=Event.FAIL_SCREENING, on=date(2026, 3, 4), reason="ANC low"
    )
    not_infused = world.enrolled("DL1")
    services.change_status(
        user=world.coordinator,
        subject=not_infused,
        event=Event.NOT_INFUSED,
        on=date(2026, 3, 12),
        not_infused_reason="manufacturing_failure",
    )
    aes = [
        (a, {"ctcae_term": "Nausea", "grade": 2, "onset_date": day(3)}),
        (a, {"ctcae_term": "Febrile neutropenia", "grade": 3, "onset_date": day(5), "serious_hospitalisation": True}),
        (a, {"ctcae_term": "Nausea", "grade": 1, "onset_date": day(40)}),
        (a, {"ctcae_term": "Vomiting", "grade": 1, "onset_date": LD_START + timedelta(days=1)}),  # during LD
        (a, {"ctcae_term": "Headache", "grade": 2, "onset_date": day(95)}),  # after day 90
        (b, {"ctcae_term": "Nausea", "grade": 1, "onset_date": day(10)}),
        (b, {"ctcae_term": "Sepsis", "grade": 4, "onset_date": day(15), "serious_life_threatening": True}),
    ]
    for subject, values in reversed(aes) if reverse else aes:
        world.ae(subject, **values)
    world.death(b, day(20), "infection")
    return {"a": a, "b": b, "failed": failed, "not_infused": not_infused}


def now() -> datetime:
    return timezone.now().astimezone(UTC)


@pytest.fixture
def world(transactional_db) -> World:
    return make_world("endpoints")
