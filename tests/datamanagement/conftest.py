"""Fixtures of the CRF core tests (a saved vital-signs form through the one save path), reused;
the notification tests' coordinator and visits (issue 31)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from study.models import VisitDefinition
from subjects.models import Subject, Visit
from tests.crf.conftest import crf_ready, data_lock, save_vs, vs  # noqa: F401

#: 23:30 UTC on 10 March is 07:30 on 11 March in Shanghai (the sites' zone): the digest hour has
#: come there, and "tomorrow" at the site is 12 March.
NOW = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
SITE_TODAY = date(2026, 3, 11)
TOMORROW = date(2026, 3, 12)


@pytest.fixture
def zh_coordinator(users_a):
    """Site A's coordinator reads Chinese (their own choice; the site's default is English)."""
    coordinator = users_a["coordinator"]
    coordinator.language = "zh-hans"
    coordinator.save(update_fields=["language"])
    return coordinator


@pytest.fixture
def visits(study, subject_a, subject_b):
    """Subject A (site A) and B (site B), infused: a visit planned tomorrow at the site, one whose
    window closed yesterday (overdue), one done, one planned next week."""
    Subject.objects.filter(pk__in=[subject_a.pk, subject_b.pk]).update(status="infused", dose_level="DL1")

    def definition(code: str, order: int, day: int) -> VisitDefinition:
        return VisitDefinition.objects.create(
            study=study,
            code=code,
            name=f"Day {day}",
            name_zh=f"第 {day} 天",
            anchor="infusion",
            day=day,
            window_before=1,
            window_after=1,
            order=order,
        )

    d7, d8, d9, d14 = definition("D7", 7, 7), definition("D8", 8, 8), definition("D9", 9, 9), definition("D14", 14, 14)
    return {
        "due": Visit.objects.create(subject=subject_a, definition=d9, planned_date=TOMORROW),
        "overdue": Visit.objects.create(subject=subject_a, definition=d7, planned_date=SITE_TODAY - timedelta(days=2)),
        "done": Visit.objects.create(
            subject=subject_a, definition=d8, planned_date=SITE_TODAY - timedelta(days=3), visit_date=date(2026, 3, 8)
        ),
        "later": Visit.objects.create(subject=subject_a, definition=d14, planned_date=SITE_TODAY + timedelta(days=5)),
        "b_due": Visit.objects.create(subject=subject_b, definition=d9, planned_date=TOMORROW),
    }
