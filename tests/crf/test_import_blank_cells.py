"""CSV import updates (issue 21): a blank cell leaves the stored value unchanged (it used to clear
it, and unlinked a visit); `<clear>` clears it, as the template's `#` row says; the dry run lists
every value the import would clear; a NUL character is refused with its row."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crf import csvfiles
from crf.imports import CLEAR_MARKER, template_csv
from crf.registry import crf_models
from labs.models import VitalSigns
from tests.crf.test_import import run

pytestmark = pytest.mark.req("ISSUE-21")

HEADER = "subject,visit,id,version,systolic_bp,heart_rate,reason\n"


@pytest.fixture
def coordinator(users_a):
    return users_a["coordinator"]


@pytest.fixture
def linked_vs(crf_ready, save_vs, study):
    from subjects.models import Visit
    from tests.factories import demo_schedule

    definitions = {d.code: d for d in demo_schedule(study)}
    visit = Visit.objects.create(subject=crf_ready, definition=definitions["D1"])
    vs = save_vs(subject=crf_ready, heart_rate=72)
    VitalSigns.objects.filter(pk=vs.pk).update(visit=visit)
    return VitalSigns.objects.get(pk=vs.pk)


def test_blank_cells_keep_the_stored_values_and_the_visit(linked_vs, coordinator):
    result = run(coordinator, HEADER + f"A-001,,{linked_vs.pk},1,,75,late entry corrected\n")
    assert result.outcome == "imported", result.errors
    linked_vs.refresh_from_db()
    assert (linked_vs.visit.definition.code, linked_vs.systolic_bp, linked_vs.heart_rate) == ("D1", 120, 75)
    assert result.cleared == []


def test_the_clear_marker_clears_and_the_dry_run_lists_it(linked_vs, coordinator):
    text = HEADER + f"A-001,{CLEAR_MARKER},{linked_vs.pk},1,,{CLEAR_MARKER},wrong form\n"
    checked = run(coordinator, text, dry_run=True)
    assert checked.outcome == "checked", checked.errors
    assert [(c["row"], c["column"], c["value"]) for c in checked.cleared] == [
        (2, "heart_rate", "72"),
        (2, "visit", str(linked_vs.visit)),
    ]
    linked_vs.refresh_from_db()
    assert (linked_vs.heart_rate, linked_vs.visit_id is not None) == (72, True)
    result = run(coordinator, text)
    assert result.outcome == "imported", result.errors
    linked_vs.refresh_from_db()
    assert (linked_vs.heart_rate, linked_vs.visit_id, linked_vs.systolic_bp) == (None, None, 120)


def test_the_template_documents_the_clear_marker(db):
    doc_row = template_csv(crf_models()["VS"]).decode("utf-8-sig").splitlines()[1]
    assert doc_row.startswith("# ")
    assert "write <clear> to clear it" in doc_row


def test_a_nul_character_in_a_cell_is_refused_with_its_row():
    raw = b"subject,systolic_bp\nA-001,120\nA-002,1\x0020\n"
    with pytest.raises(csvfiles.UnreadableFile, match="Row 3 contains a NUL character"):
        csvfiles.read_csv(raw, file_name="vitals.csv")


def test_a_new_form_treats_the_marker_as_blank(crf_ready, coordinator):
    text = "subject,assessment_date,systolic_bp,heart_rate\n" + f"A-001,2026-03-02,120,{CLEAR_MARKER}\n"
    result = run(coordinator, text)
    assert result.outcome == "imported", result.errors
    assert VitalSigns.objects.get().heart_rate is None
    assert Decimal(VitalSigns.objects.get().systolic_bp) == 120
