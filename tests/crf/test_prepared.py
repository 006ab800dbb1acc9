"""Statements compiled once per process (crf.prepared, issue 22): the same rows as the queryset
they were compiled from, whatever the ids given; refused where the SQL's shape would not hold."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from crf.prepared import Prepared, prepared

pytestmark = [pytest.mark.req("ISSUE-22"), pytest.mark.django_db]


@prepared("app_id")
def _types_after(app_id: int):
    return ContentType.objects.filter(pk__gt=app_id).exclude(pk=app_id + 0).order_by("pk")


def test_a_prepared_statement_gives_the_querysets_rows_for_each_id():
    pks = list(ContentType.objects.order_by("pk").values_list("pk", flat=True))
    for after in (pks[0], pks[3], pks[-1]):
        got = _types_after.objects(app_id=after)
        assert [(t.pk, t.app_label, t.model) for t in got] == list(
            ContentType.objects.filter(pk__gt=after).order_by("pk").values_list("pk", "app_label", "model")
        )
    rows = Prepared(lambda pk: ContentType.objects.filter(pk=pk).values_list("model"), ("pk",)).rows(pk=pks[1])
    assert rows == [(ContentType.objects.get(pk=pks[1]).model,)]


def test_select_related_and_a_placeholder_not_in_the_sql_are_refused():
    joined = Prepared(lambda pk: ContentType.objects.select_related("x").filter(pk=pk), ("pk",))
    with pytest.raises(ValueError, match="select_related"):
        joined.objects(pk=1)
    unused = Prepared(lambda pk: ContentType.objects.all(), ("pk",))
    with pytest.raises(ValueError, match="placeholder"):
        unused.objects(pk=1)
