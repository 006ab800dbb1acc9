"""Statements compiled once per process (dbtools.prepared, issue 22): the same rows as the queryset
they were compiled from, whatever the ids given; refused where the SQL's shape would not hold;
prepared on the server once per connection."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinical.protocol import ProtocolChoices
from dbtools.prepared import Prepared, ServerSQL, insert, prepared
from study.models import Membership, ProtocolSettings
from tests.factories import protocol_v1

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


def test_select_related_is_built_as_the_orm_builds_it_and_a_placeholder_not_in_the_sql_is_refused():
    types = Prepared(lambda pk: ContentType.objects.filter(pk=pk).select_related("x"), ("pk",))
    with pytest.raises(FieldError):  # an unknown relation: the ORM's own refusal
        types.objects(pk=1)
    unused = Prepared(lambda pk: ContentType.objects.all(), ("pk",))
    with pytest.raises(ValueError, match="placeholder"):
        unused.objects(pk=1)


def _fields(record):
    return {f.attname: getattr(record, f.attname) for f in type(record)._meta.concrete_fields}


def test_instances_built_from_the_row_equal_the_orms_with_converted_values_and_joined_records(study, users_a):
    """A JSON field goes through its converter; `select_related` attaches the joined site and
    study (no further query to read them); a nullable foreign key left empty is None."""
    settings = protocol_v1(study)
    got = Prepared(lambda pk: ProtocolSettings.objects.filter(pk=pk), ("pk",)).objects(pk=settings.pk)
    assert [_fields(row) for row in got] == [_fields(ProtocolSettings.objects.get(pk=settings.pk))]
    assert got[0].values == ProtocolChoices().to_json() and got[0]._state.adding is False

    user = users_a["coordinator"]
    joined = Prepared(
        lambda user_id: Membership.objects.filter(user_id=user_id).select_related("site__study", "ended_by"),
        ("user_id",),
    )
    memberships = joined.objects(user_id=user.pk)
    expected = list(Membership.objects.filter(user=user).select_related("site__study"))
    assert [_fields(m) for m in memberships] == [_fields(m) for m in expected]
    assert len(memberships) == 1
    with CaptureQueriesContext(connection) as ctx:
        assert memberships[0].site.code == expected[0].site.code
        assert memberships[0].site.study.code == study.code
        assert memberships[0].ended_by is None
    assert len(ctx) == 0


def test_a_text_placeholder_compares_the_text_given():
    by_label = Prepared(
        lambda app_label: ContentType.objects.filter(app_label=app_label).order_by("pk"), (), texts=("app_label",)
    )
    for label in ("crf", "study", "no such app"):
        assert [t.pk for t in by_label.objects(app_label=label)] == list(
            ContentType.objects.filter(app_label=label).order_by("pk").values_list("pk", flat=True)
        )
    assert by_label.objects(app_label="crf")


def test_insert_writes_the_row_save_would_and_sets_the_new_id(study):
    """dbtools.prepared.insert: the compiled INSERT gives the instance its id and the stored row
    holds what `save(force_insert=True)` would store (a JSON value included)."""
    at = timezone.now()
    row = ProtocolSettings(
        study=study, version=7, effective_from=date(2021, 2, 3), values={"a": [1, "二"]}, reason="r", created_at=at
    )
    insert(row)
    assert row.pk is not None and row._state.adding is False
    stored = ProtocolSettings.objects.get(pk=row.pk)
    assert (
        stored.study_id,
        stored.version,
        stored.effective_from,
        stored.values,
        stored.reason,
        stored.created_at,
    ) == (
        study.pk,
        7,
        date(2021, 2, 3),
        {"a": [1, "二"]},
        "r",
        at,
    )


def test_a_statement_is_prepared_on_the_server_once_per_connection_and_outlives_a_rollback():
    """Issue 22, seventh pass: the first use on a connection sends PREPARE with its EXECUTE (one
    statement), later uses EXECUTE only; a PREPARE sent in a transaction rolled back is still
    there (PostgreSQL does not roll it back); the rows are the queryset's, a text with a quote
    and a percent sign included, and a constant with a percent sign is quoted right."""
    pks = list(ContentType.objects.order_by("pk").values_list("pk", flat=True))
    after = Prepared(
        lambda app_id: ContentType.objects.filter(pk__gt=app_id).exclude(model__contains="50%'s").order_by("pk"),
        ("app_id",),
    )
    with transaction.atomic():
        with CaptureQueriesContext(connection) as first:
            assert [t.pk for t in after.objects(app_id=pks[2])] == pks[3:]
        transaction.set_rollback(True)
    assert len(first) == 1
    assert first[0]["sql"].startswith(f"PREPARE {after._name} (bigint) AS ")
    assert f"; EXECUTE {after._name} ({pks[2]})" in first[0]["sql"]
    assert 'FROM "django_content_type"' in first[0]["sql"]  # the compiled SQL as a comment, for the log
    with CaptureQueriesContext(connection) as later:
        assert [t.pk for t in after.objects(app_id=pks[-2])] == pks[-1:]
    assert [q["sql"].split(" /* ")[0] for q in later] == [f"EXECUTE {after._name} ({pks[-2]})"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = %s", [after._name])
        assert cursor.fetchone()[0] == 1

    by_label = Prepared(
        lambda app_label: ContentType.objects.filter(app_label=app_label).order_by("pk"), (), texts=("app_label",)
    )
    assert by_label.objects(app_label="it's 50%") == []
    assert [t.pk for t in by_label.objects(app_label="crf")] == list(
        ContentType.objects.filter(app_label="crf").order_by("pk").values_list("pk", flat=True)
    )


def test_sql_written_by_hand_is_prepared_on_the_server_with_typed_and_array_parameters():
    """Issue 22, ninth pass (`ServerSQL`, the visits' state's read of the forms near a visit):
    the typed parameters (an id, arrays of ids, texts and dates, empty ones too) are given at
    each run, every other parameter is written in once (a quote and a percent sign included);
    the first run sends PREPARE with its EXECUTE, later ones EXECUTE only; the rows are what the
    same SQL gives run plainly."""
    sql = (
        "SELECT id, model FROM django_content_type WHERE (id > %s AND model <> %s AND (id = ANY(%s::integer[]) "
        "OR app_label = ANY(%s::text[]))) OR %s::date = ANY(%s::date[]) ORDER BY id"
    )
    template = [0, "50%'s", None, None, None, None]
    statement = ServerSQL(sql, template, [(0, "bigint"), (2, "integer[]"), (3, "text[]"), (4, "date"), (5, "date[]")])
    pks = list(ContentType.objects.order_by("pk").values_list("pk", flat=True))
    cases = [
        [pks[1], [pks[2], pks[3]], ["crf"], date(2026, 1, 1), []],
        [pks[0], [], [], date(2026, 1, 1), [date(2025, 1, 1)]],
        [pks[0], [], ["it's 50%"], date(2026, 1, 2), [date(2026, 1, 2)]],
    ]
    with CaptureQueriesContext(connection) as ctx, connection.cursor() as cursor:
        for args in cases:
            statement.execute(cursor, "default", args)
            found = cursor.fetchall()
            params = [args[0], template[1], *args[1:]]
            cursor.execute(sql, params)
            assert found == cursor.fetchall()
    ours = [q["sql"] for q in ctx.captured_queries if statement._name in q["sql"]]
    assert ours[0].startswith(f"PREPARE {statement._name} (bigint, integer[], text[], date, date[]) AS ")
    assert [q.split(" (")[0] for q in ours[1:]] == [f"EXECUTE {statement._name}"] * 2
