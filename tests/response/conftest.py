"""An infused subject (lymphodepletion from 2026-03-15, day 0 = 2026-03-20 at the site) with a
baseline marrow, through the services; helpers entering response forms through the save path."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from crf.services import save
from response.models import MarrowAssessment, MrdTest
from subjects.services import subject as services
from tests.factories import demo_schedule
from tests.subjects.conftest import ENROLLED, consent, coordinator, protocol, screened  # noqa: F401 (fixtures)
from tests.subjects.test_treatment_forms import infuse, lymphodeplete

DAY0 = date(2026, 3, 20)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


@pytest.fixture
def investigator(users_a):
    return users_a["investigator"]


@pytest.fixture
def infused(screened, coordinator, study):  # noqa: F811 (fixtures imported above)
    """Build an infused subject; optionally with a baseline marrow (blasts 60%, blood 10%)."""

    def _infused(baseline_blasts: str | None = "60"):
        if not study.visit_definitions.exists():
            demo_schedule(study)
        subject = services.enrol(
            user=coordinator, subject=screened(), on=ENROLLED, dose_level="DL2", planned_infusion_date=DAY0
        )
        if baseline_blasts is not None:
            marrow(coordinator, subject, on=date(2026, 3, 12), blasts=baseline_blasts, pb="10", anc="0.3", plt="20")
        lymphodeplete(coordinator, subject)
        infuse(coordinator, subject)
        subject.refresh_from_db()
        assert subject.infusion_date == DAY0
        return subject

    return _infused


def marrow(user, subject, *, on: date, blasts="3", pb="0", anc="1.2", plt="120", transfused=False, **extra):
    ma = MarrowAssessment(
        subject=subject,
        assessment_date=on,
        marrow_blasts_pct=Decimal(blasts),
        peripheral_blasts_pct=Decimal(pb),
        anc=Decimal(anc),
        platelets=Decimal(plt),
        transfused_previous_7_days=transfused,
        **extra,
    )
    return save(user=user, instance=ma, expected_version=None)


def flow_mrd(user, assessment, *, detected=False, level=None, sensitivity="1E-5", cells=4_000_000):
    test = MrdTest(
        subject=assessment.subject,
        assessment=assessment,
        sample_date=assessment.assessment_date,
        method="flow",
        specimen="marrow",
        detected=detected,
        level_pct=None if level is None else Decimal(level),
        sensitivity=Decimal(sensitivity),
        cells_analysed=cells,
        cd7_independent_gating=True,
    )
    return save(user=user, instance=test, expected_version=None)


def reread(ma: MarrowAssessment) -> MarrowAssessment:
    return MarrowAssessment.objects.get(pk=ma.pk)
