"""An infused subject for the safety forms: consented, screened, enrolled on DL2, lymphodepleted
on 15 March 2026 and infused at 07:30 Asia/Shanghai on 20 March 2026 (day 0), all through the
services; born 1990, so ICE is the default instrument."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import translation

from study.models import VisitDefinition
from subjects.models import Subject
from subjects.services import subject as services
from tests.factories import demo_schedule, identity
from tests.subjects.conftest import ENROLLED, consent, coordinator, enrolled, protocol, screened  # noqa: F401
from tests.subjects.test_treatment_forms import PLANNED, infuse, lymphodeplete

DAY0 = date(2026, 3, 20)
LD_START = date(2026, 3, 15)


def day(n: int) -> date:
    """The calendar date of study day `n` on the Day-0 clock."""
    return DAY0 + timedelta(days=n)


@pytest.fixture(autouse=True)
def _language_restored():
    """Page requests activate the user's language in this thread; leave it as found so later
    tests comparing English messages do not depend on the order they run in."""
    before = translation.get_language()
    yield
    translation.activate(before)


@pytest.fixture
def investigator(users_a):
    return users_a["investigator"]


@pytest.fixture
def infused(screened, coordinator, study):  # noqa: F811
    def _infused(born: date = date(1990, 5, 1)) -> Subject:
        if not VisitDefinition.objects.filter(study=study).exists():  # a second subject: same schedule
            demo_schedule(study)
        subject = services.enrol(
            user=coordinator, subject=screened(), on=ENROLLED, dose_level="DL2", planned_infusion_date=PLANNED
        )
        identity(subject, born=born)
        lymphodeplete(coordinator, subject, start_date=LD_START, end_date=LD_START + timedelta(days=2))
        infuse(coordinator, subject)
        subject.refresh_from_db()
        assert subject.infusion_date == DAY0
        return subject

    return _infused
