"""The snapshot reader at scale (issue 30 item 6): the reads stream and share repeated values,
and the input digest is hashed in pieces; none of it may change a row, its JSON or the digest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from adverse_events.models import AdverseEvent
from clinical.protocol import ProtocolChoices
from endpoints import services, snapshot, tables
from subjects.models import Infusion
from tests.endpoints.conftest import CUTOFF, day, now, populate
from tests.endpoints.test_input_digest import v1_by_hand

pytestmark = pytest.mark.req("ISSUE-30")


def test_shared_values_are_only_values_written_the_same_way():
    shared = snapshot.Shared()
    first, second = "".join(["grade", "_3"]), "".join(["grade_", "3"])
    assert first is not second
    assert shared(first) is first
    assert shared(second) is first
    one, one_again = Decimal("1.0"), Decimal("1.0")
    assert shared(one) is one
    assert shared(one_again) is one
    # Equal, but written "1.00": kept apart, so its JSON and the digest do not change.
    two_places = shared(Decimal("1.00"))
    assert (str(two_places), str(shared(Decimal("1.0")))) == ("1.00", "1.0")
    # The same instant in two time zones: equal, written differently, kept apart.
    utc = datetime(2026, 3, 20, 0, 0, tzinfo=UTC)
    shanghai = datetime(2026, 3, 20, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    assert utc == shanghai
    assert shared(utc).isoformat() == "2026-03-20T00:00:00+00:00"
    assert shared(shanghai).isoformat() == "2026-03-20T08:00:00+08:00"
    on = date(2026, 3, 20)
    assert shared(date(2026, 3, 20)) == on
    assert shared(on) is shared(date(2026, 3, 20))
    # Mutable JSON values are never shared.
    course = [{"grade": 2, "from": "2026-03-21"}]
    assert shared(course) is course
    assert shared([{"grade": 2, "from": "2026-03-21"}]) is not course


def test_the_digest_in_pieces_is_the_digest_of_the_whole_document():
    """More rows than one piece (`DIGEST_CHUNK_ROWS`): the pieces join to the canonical JSON."""
    rows = [
        {"id": n, "subject_id": n % 7, "onset_date": date(2026, 1, 1) + timedelta(days=n % 40), "pct": Decimal("0.10")}
        for n in range(1, 2 * services.DIGEST_CHUNK_ROWS + 38)
    ]
    data = tables.CutData(
        cutoff=date(2026, 6, 30),
        subjects=[{"id": 1, "status": "follow_up", "screening_number": "中-01"}],
        subject_history=[],
        consents=[],
        collections=[],
        infusions=[],
        adverse_events=rows,
        deaths=[],
        mrd_tests=rows[:3],
    )
    choices = ProtocolChoices()
    expected = v1_by_hand(data, choices, 4)
    assert services.input_digest(cutoff=data.cutoff, choices=choices, version=4, data=data, scheme="v1") == expected


def test_snapshot_rows_share_repeated_values_and_keep_their_columns(world):
    subjects = populate(world)
    world.ae(subjects["b"], ctcae_term="Diarrhea", grade=2, onset_date=day(12))
    data, _version, _digest = services.load_cut(world.study, cutoff=CUTOFF, at=now())
    aes = data.adverse_events
    assert [row["id"] for row in aes] == sorted(row["id"] for row in aes)
    # The columns the tables use (services.AE_COLUMNS) and `entered_in_error`, in the model's
    # order, the key, then the grade at the snapshot.
    assert list(aes[0]) == [
        *("subject_id", "entered_in_error", "ctcae_term", "verbatim", "grade", "onset_date", "grade_course"),
        *("relationship_lymphodepletion", "soc", "serious", "collection_period", "id", "grade_at_snapshot"),
    ]
    # Read for a scheme v1 digest (a run computed before v2), the rows have every column it covered.
    full, _version, _digest = services.load_cut(world.study, cutoff=CUTOFF, at=now(), digest_scheme="v1")
    names = snapshot._field_names(AdverseEvent)
    assert len(names) > 30
    assert list(full.adverse_events[0]) == [*names, "id", "grade_at_snapshot"]
    assert [{key: row[key] for key in aes[0]} for row in full.adverse_events] == aes
    after_infusion = [row["collection_period"] for row in aes if row["collection_period"] == "after_infusion"]
    assert len(after_infusion) >= 2
    assert all(value is after_infusion[0] for value in after_infusion)
    history = data.subject_history
    assert list(history[0]) == ["pgh_label", "status", "status_date", "not_infused_reason", "id"]
    assert list(full.subject_history[0]) == ["pgh_label", *snapshot._field_names(type(subjects["a"])), "id"]
    assert [{key: row[key] for key in history[0]} for row in full.subject_history] == history
    enrolled = [version["status"] for version in history if version["status"] == "enrolled"]
    assert len(enrolled) >= 3
    assert all(value is enrolled[0] for value in enrolled)


def test_any_of_filters_by_one_array_of_keys(world):
    subjects = populate(world)
    at = now()
    a, b = subjects["a"], subjects["b"]
    everyone = snapshot.rows_as_of(AdverseEvent, at, where=snapshot.any_of("subject_id", [a.pk, b.pk]))
    only_a = snapshot.rows_as_of(AdverseEvent, at, where=snapshot.any_of("subject_id", [a.pk]))
    assert everyone == snapshot.rows_as_of(AdverseEvent, at, subject_id__in=[a.pk, b.pk])
    assert only_a == [row for row in everyone if row["subject_id"] == a.pk]
    assert 0 < len(only_a) < len(everyone)
    assert snapshot.rows_as_of(AdverseEvent, at, where=snapshot.any_of("subject_id", [])) == []
    history = snapshot.history_as_of(type(a), at, where=snapshot.any_of("pgh_obj_id", [b.pk]))
    assert history == snapshot.history_as_of(type(a), at, pgh_obj_id__in=[b.pk])
    assert {version["id"] for version in history} == {b.pk}


def test_decimals_named_are_read_as_their_text(world):
    """`text` (issue 29 item 7, the export's LB and VS): a decimal field read as the server's
    text of it instead of a Decimal; every other value, the rows and their order unchanged."""
    populate(world)
    at = now()
    as_decimals = snapshot.rows_as_of(Infusion, at)
    as_text = snapshot.rows_as_of(Infusion, at, text=("viable_cells_e6",))
    assert len(as_text) == len(as_decimals) == 2
    assert [row["viable_cells_e6"] for row in as_text] == [str(row["viable_cells_e6"]) for row in as_decimals]
    assert "140.000" in [row["viable_cells_e6"] for row in as_text]
    assert [{**row, "viable_cells_e6": None} for row in as_text] == [
        {**row, "viable_cells_e6": None} for row in as_decimals
    ]
    assert list(as_text[0]) == list(as_decimals[0])
    with pytest.raises(ValueError, match=r"not decimal fields of InfusionEvent: \['infusion_date'\]"):
        snapshot.rows_as_of(Infusion, at, text=("viable_cells_e6", "infusion_date"))


@pytest.mark.req("ISSUE-29")
def test_columns_as_of_are_the_rows_as_of_a_column_at_a_time(world):
    """`columns_as_of` (issue 29 item 7, the export's LB and VS read by column): the same objects
    in the same order with the same values as `rows_as_of`, one list per field; an object entered
    in error left out as there, and the fields asked for (with `id`) the keys."""
    populate(world)
    before = now()
    wrong = AdverseEvent.objects.order_by("pk").first()
    AdverseEvent.objects.filter(pk=wrong.pk).update(entered_in_error=True, error_reason="wrong subject")
    at = now()
    for moment in (before, at):
        rows = snapshot.rows_as_of(AdverseEvent, moment)
        columns = snapshot.columns_as_of(AdverseEvent, moment)
        assert list(columns) == list(rows[0])
        assert [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)] == rows
    assert wrong.pk in snapshot.columns_as_of(AdverseEvent, before)["id"]
    kept = snapshot.columns_as_of(AdverseEvent, at, fields=["subject_id", "ctcae_term"])
    assert sorted(kept) == ["ctcae_term", "entered_in_error", "id", "subject_id"] and list(kept)[-1] == "id"
    assert wrong.pk not in kept["id"] and len(kept["id"]) == len(snapshot.columns_as_of(AdverseEvent, before)["id"]) - 1
    assert kept["id"] == sorted(kept["id"])
