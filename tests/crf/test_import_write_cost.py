"""The CSV import's write path (issue 22): the rows of a file that imports are saved without a
savepoint each (one for the whole pass), yet every row keeps what a single save writes — its
history row with the import's context, and that row's audit-chain link — and a file whose rows
fail inside their save is still reported row by row and field by field."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crf import auditchain, csvfiles
from crf.imports import import_forms
from crf.models import AuditChainLink, ImportRecord
from crf.registry import crf_models
from labs.models import VitalSigns, VitalSignsEvent
from labs.services import record_vital_signs

pytestmark = pytest.mark.req("ISSUE-22")

HEADER = "subject,assessment_date,assessment_time,temperature_c,systolic_bp,diastolic_bp,heart_rate,oxygen_device\n"
TABLE = "labs_vitalsignsevent"


@pytest.fixture(autouse=True)
def heads_dir(settings, tmp_path):
    settings.AUDIT_HEADS_DIR = tmp_path / "audit-heads"
    return settings.AUDIT_HEADS_DIR


@pytest.fixture
def coordinator(users_a):  # the importer
    return users_a["coordinator"]


def run(user, text: str, **kwargs):
    csv_file = csvfiles.read_csv(text.encode(), file_name="vitals.csv", encoding="")
    return import_forms(user=user, model=crf_models()["VS"], csv_file=csv_file, channel="command", **kwargs)


def rows(count: int, *, first_day: int = 2) -> str:
    """`count` unremarkable vital-signs rows of subject A, a few a day from March `first_day`."""
    return "".join(
        f"A-001,2026-03-{first_day + i // 4:02d},{6 + 4 * (i % 4):02d}:00,37.{i % 10},{110 + i},70,80,room_air\n"
        for i in range(count)
    )


def savepoints(ctx: CaptureQueriesContext) -> int:
    return sum('SAVEPOINT "' in q["sql"] and "RELEASE" not in q["sql"] for q in ctx.captured_queries)


def test_every_imported_row_has_its_history_row_and_chain_link_as_a_single_save(crf_ready, coordinator):
    single = record_vital_signs(
        user=coordinator,
        vital_signs=VitalSigns(subject=crf_ready, assessment_date=date(2026, 3, 1), systolic_bp=120, diastolic_bp=80),
    )
    single_link = AuditChainLink.objects.get(
        table_name=TABLE, event_id=VitalSignsEvent.objects.get(pgh_obj_id=single.pk).pgh_id
    )
    links_before = AuditChainLink.objects.filter(table_name=TABLE).count()
    result = run(coordinator, HEADER + rows(24))
    assert result.outcome == "imported", result.errors
    saved = {entry["row"]: entry["id"] for entry in result.created}
    assert sorted(saved) == list(range(2, 26))
    record = ImportRecord.objects.get()
    events = list(VitalSignsEvent.objects.filter(pgh_obj_id__in=saved.values()).order_by("pgh_id"))
    assert len(events) == 24  # one history row a row: its insert, nothing else
    assert {event.pgh_label for event in events} == {"insert"}
    by_form = {event.pgh_obj_id: event for event in events}
    for number, pk in saved.items():
        event = by_form[pk]
        form = VitalSigns.objects.get(pk=pk)
        assert (event.temperature_c, event.systolic_bp, event.version) == (form.temperature_c, form.systolic_bp, 1)
        assert event.pgh_context["import_row"] == number
        assert event.pgh_context["import_record"] == record.pk
        assert event.pgh_context["reason"] == "CSV import: vitals.csv"
    # one chain link a history row, in order, each on the one before, with a single save's columns
    links = list(AuditChainLink.objects.filter(table_name=TABLE).order_by("seq"))
    new = links[links_before:]
    assert [link.event_id for link in new] == [event.pgh_id for event in events]
    assert [link.seq for link in new] == list(range(links[links_before - 1].seq + 1, links[-1].seq + 1))
    assert all(link.prev_hash == before.hash for before, link in zip(links[links_before - 1 :], new, strict=False))
    assert {tuple(link.columns) for link in new} == {tuple(single_link.columns)}
    verified = auditchain.verify(tables=[TABLE])
    assert verified.ok, verified.breaks


def test_a_file_that_imports_takes_no_savepoint_per_row(crf_ready, coordinator):
    with CaptureQueriesContext(connection) as few:
        assert run(coordinator, HEADER + rows(3)).outcome == "imported"
    with CaptureQueriesContext(connection) as many:
        assert run(coordinator, HEADER + rows(30, first_day=10)).outcome == "imported"
    assert savepoints(few) == savepoints(many) == 2  # the import and its pass: not one a row
    assert VitalSigns.objects.count() == 33


def test_a_row_refused_inside_its_save_is_reported_row_by_row_with_the_others(crf_ready, coordinator, save_vs):
    """Row 3 is stale (refused by the save, after rows 2 having written): the file is checked
    again with a savepoint per row, so row 4's field error and row 5's date are reported as
    well, and nothing is saved."""
    stale = save_vs(subject=crf_ready)
    save_vs(stale, heart_rate=70)  # version 2 now
    text = (
        "subject,id,version,assessment_date,temperature_c,systolic_bp,diastolic_bp,reason\n"
        "A-001,,,2026-03-04,37.1,118,72,\n"
        f"A-001,{stale.pk},1,,38.1,,,transcription\n"
        "A-001,,,2026-03-05,47.5,118,72,\n"
        "A-001,,,2099-03-05,37.0,118,72,\n"
    )
    result = run(coordinator, text)
    assert result.outcome == "rejected"
    assert [(e.row, e.field) for e in result.errors] == [(3, "version"), (4, "temperature_c"), (5, "assessment_date")]
    assert "version 2" in result.errors[0].message
    assert VitalSigns.objects.count() == 1
    stale.refresh_from_db()
    assert (stale.version, stale.temperature_c) == (2, None)
    assert ImportRecord.objects.get().errors[1]["value"] == "47.5"


def test_a_dry_run_reports_a_save_refusal_and_saves_nothing(crf_ready, coordinator):
    result = run(coordinator, HEADER + rows(2) + "A-001,2099-01-01,08:00,37.0,110,70,80,room_air\n", dry_run=True)
    assert [(e.row, e.field) for e in result.errors] == [(4, "assessment_date")]
    assert VitalSigns.objects.count() == 0
    assert result.errors[0].value == "2099-01-01"  # the cell as written
