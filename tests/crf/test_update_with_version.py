"""`crf.rederive.update_with_version` (issue 22): the statement compiled once per model, fields,
NULLs and compare-and-set is the statement `QuerySet.update` sends, byte for byte, with the
values prepared as the compiler prepares them (JSON, NULL, date-times), and the compare-and-set
still refuses a stale version."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from adverse_events.models import IcahtDerivation
from crf.rederive import _UPDATE_SQL, update_with_version

pytestmark = pytest.mark.req("ISSUE-22")


def _orm_statement(pk: int, expected: int | None, values: dict) -> str:
    """The SQL `QuerySet.update` sends for the same update (rolled back)."""
    rows = IcahtDerivation.objects.filter(pk=pk)
    if expected is not None:
        rows = rows.filter(version=expected)
    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        rows.update(**values, version=F("version") + 1)
        transaction.set_rollback(True)
    return next(q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE"))


def _statement(pk: int, expected: int | None, values: dict) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        count = update_with_version(IcahtDerivation, pk=pk, expected_version=expected, **values)
    return count, next(q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE"))


def test_the_compiled_update_is_the_orm_s_statement_and_keeps_compare_and_set(vs):
    row = IcahtDerivation.objects.create(
        subject=vs.subject, derived_at=datetime(2026, 3, 1, tzinfo=UTC), inputs=[], criteria="EHA-EBMT-2023"
    )
    cases = [
        # (expected version, values): NULLs and JSON change the statement's shape between calls
        (None, {"early_grade": 2, "late_grade": None, "inputs": [{"anc": "0.4", "day": 3}], "criteria": "A"}),
        (None, {"early_grade": 3, "late_grade": None, "inputs": [{"anc": "0.1", "day": 5}], "criteria": "B"}),
        (None, {"early_grade": None, "late_grade": 1, "inputs": [], "criteria": "C"}),
        (4, {"early_grade": 4, "late_confirming_days": [40, 47], "derived_at": datetime(2026, 3, 9, tzinfo=UTC)}),
        (5, {"early_grade": 1, "late_confirming_days": None, "derived_at": datetime(2026, 3, 10, tzinfo=UTC)}),
    ]
    for expected, values in cases:
        orm = _orm_statement(row.pk, expected, values)
        count, sent = _statement(row.pk, expected, values)
        assert (count, sent) == (1, orm)
    row.refresh_from_db()
    assert (row.version, row.early_grade, row.late_grade, row.late_confirming_days) == (6, 1, 1, None)
    assert (row.inputs, row.criteria, row.derived_at) == ([], "C", datetime(2026, 3, 10, tzinfo=UTC))
    # the same shapes again come from the cache, and a stale version updates nothing
    assert any(key[0] is IcahtDerivation for key in _UPDATE_SQL)
    assert update_with_version(IcahtDerivation, pk=row.pk, expected_version=4, early_grade=2) == 0
    assert update_with_version(IcahtDerivation, pk=row.pk, expected_version=6, early_grade=2) == 1
    row.refresh_from_db()
    assert (row.version, row.early_grade) == (7, 2)


def test_an_expression_goes_through_the_orm(vs):
    row = IcahtDerivation.objects.create(
        subject=vs.subject, derived_at=datetime(2026, 3, 1, tzinfo=UTC), inputs=[], early_grade=1, criteria="A"
    )
    assert update_with_version(IcahtDerivation, pk=row.pk, early_grade=F("early_grade") + 2) == 1
    row.refresh_from_db()
    assert (row.version, row.early_grade) == (2, 3)
