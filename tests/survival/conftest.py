from datetime import date

import pytest

from tests.response.conftest import infused, investigator  # noqa: F401 (fixtures)
from tests.subjects.conftest import consent, coordinator, protocol, screened  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _site_today_after_the_worked_examples(monkeypatch):
    """CLINICAL_SPEC §8's worked examples follow subjects to day 500 after a fixed day 0
    (2026-03-20), so their deaths and contacts lie after the real today, and lifecycle dates in
    the future are refused (issue 24). The site's today is read through one seam,
    `subjects.services.visits.site_today`: here it is a day after the last example date."""
    monkeypatch.setattr("subjects.services.visits.site_today", lambda subject, now=None: date(2028, 1, 1))
