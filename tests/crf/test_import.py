"""CSV import per form (issue 6 item 3): all or nothing with a report per row and field, the
encodings Excel writes (UTF-8 with BOM, GB18030), formula-looking cells kept as text and
neutralised whenever we write CSV, updates only with a reason and the version opened, and the
visibility gate (DESIGN §4a: create/edit CRF data)."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from crf import csvfiles
from crf.imports import columns, error_report_csv, import_forms, template_csv
from crf.models import EntryStatus, ImportRecord
from crf.registry import crf_models
from labs.models import VitalSigns, VitalSignsEvent

pytestmark = pytest.mark.req("ISSUE-6")

VS_HEADER = "subject,assessment_date,temperature_c,systolic_bp,diastolic_bp,heart_rate,oxygen_device,entry_status\n"


def run(user, text: str | bytes, *, code: str = "VS", name: str = "vitals.csv", encoding: str = "", **kwargs):
    raw = text.encode("utf-8") if isinstance(text, str) else text
    csv_file = csvfiles.read_csv(raw, file_name=name, encoding=encoding)
    return import_forms(user=user, model=crf_models()[code], csv_file=csv_file, channel="command", **kwargs)


@pytest.fixture
def coordinator(users_a):
    return users_a["coordinator"]


def test_one_bad_row_saves_nothing_and_is_reported_by_row_and_field(crf_ready, coordinator):
    text = VS_HEADER + (
        "A-001,2026-03-02,37.2,120,80,88,room_air,complete\n"
        "A-001,2026-03-03,47.5,118,76,90,room_air,\n"  # 47.5 °C: physiologically impossible
        "A-001,2026-03-04,36.9,-,75,86,nasal_cannula,\n"  # "-" is not a number
    )
    result = run(coordinator, text)
    assert result.outcome == "rejected"
    assert [(e.row, e.field) for e in result.errors] == [(3, "temperature_c"), (4, "systolic_bp")]
    assert "45" in result.errors[0].message
    assert VitalSigns.objects.count() == 0
    record = ImportRecord.objects.get()
    assert (record.outcome, record.rows, record.created) == ("rejected", 3, 0)
    assert record.errors[0] == {
        "row": 3,
        "field": "temperature_c",
        "value": "47.5",
        "message": result.errors[0].message,
    }


def test_a_good_file_imports_every_row_through_the_save_service(crf_ready, coordinator):
    text = VS_HEADER + (
        "A-001,2026-03-02,37.2,120,80,88,Room air,complete\nA-001,2026/3/3,38.4,85,50,120,nasal_cannula,in_progress\n"
    )
    result = run(coordinator, text)
    assert result.outcome == "imported", result.errors
    first, second = VitalSigns.objects.order_by("assessment_date")
    assert (first.entry_status, first.oxygen_device, first.version) == (EntryStatus.COMPLETE, "room_air", 1)
    assert second.assessment_date == date(2026, 3, 3)
    assert second.hypotension is True  # derived by the save service (CLINICAL_SPEC §1.2 h: SBP < 90)
    assert [entry["row"] for entry in result.created] == [2, 3]
    record = ImportRecord.objects.get()
    assert (record.outcome, record.created, record.updated, record.encoding) == ("imported", 2, 0, "utf-8")
    context = VitalSignsEvent.objects.get(pgh_obj_id=second.pk).pgh_context
    assert context["import_file"] == "vitals.csv"
    assert context["import_sha256"] == record.sha256
    assert context["import_record"] == record.pk
    assert context["import_row"] == 3
    assert context["reason"] == "CSV import: vitals.csv"


def test_gb18030_file_with_chinese_text_imports(crf_ready, coordinator, enrolled_subject):
    text = (
        "subject,other_agent,other_agent_mg_m2,fludarabine_mg_m2,bsa_m2,start_date\n"
        f"{enrolled_subject.subject_id},依托泊苷,100,30,1.62,2026-03-15\n"
    )
    raw = text.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    result = run(coordinator, raw, code="LD", name="清淋.csv")
    assert result.outcome == "imported", result.errors
    assert result.record.encoding == "gb18030"
    from subjects.models import Lymphodepletion

    form = Lymphodepletion.objects.get()
    assert form.other_agent == "依托泊苷"
    assert form.bsa_m2 == Decimal("1.62")
    enrolled_subject.refresh_from_db()
    assert enrolled_subject.status == "lymphodepleted"  # the form's own service ran


def test_utf8_with_bom_is_detected_and_the_bom_is_not_part_of_the_first_column(crf_ready, coordinator):
    raw = ("\ufeff" + VS_HEADER + "A-001,2026-03-02,37.2,120,80,88,room_air,\n").encode("utf-8")
    csv_file = csvfiles.read_csv(raw, file_name="bom.csv")
    assert (csv_file.encoding, csv_file.header[0]) == ("utf-8-sig", "subject")
    result = run(coordinator, raw)
    assert result.outcome == "imported", result.errors
    assert VitalSigns.objects.count() == 1


def test_semicolon_and_tab_files_are_read(crf_ready, coordinator):
    text = VS_HEADER.replace(",", "\t") + "A-001\t2026-03-02\t37.2\t120\t80\t88\troom_air\t\n"
    assert csvfiles.read_csv(text.encode(), file_name="t.csv").delimiter == "\t"
    assert run(coordinator, text).outcome == "imported"


def test_wrong_encoding_chosen_by_the_user_is_a_message_not_a_crash():
    raw = "subject,other_agent\nA-001,依托泊苷\n".encode("gb18030")
    with pytest.raises(csvfiles.UnreadableFile, match="not valid UTF-8"):
        csvfiles.read_csv(raw, file_name="x.csv", encoding="utf-8")


def test_formula_cells_are_stored_as_text(crf_ready, coordinator, enrolled_subject):
    text = (
        "subject,other_agent,other_agent_mg_m2,bsa_m2,start_date\n"
        f'{enrolled_subject.subject_id},"=HYPERLINK(""http://x"")",10,1.5,2026-03-15\n'
    )
    result = run(coordinator, text, code="LD")
    assert result.outcome == "imported", result.errors
    from subjects.models import Lymphodepletion

    assert Lymphodepletion.objects.get().other_agent == '=HYPERLINK("http://x")'


@pytest.mark.parametrize("cell", ["+86", "@SUM(A1)", "-1+1"])
def test_formula_looking_text_is_kept_verbatim(crf_ready, coordinator, enrolled_subject, cell):
    header = "subject,other_agent,other_agent_mg_m2,bsa_m2,start_date\n"
    text = header + f"{enrolled_subject.subject_id},{cell},10,1.5,2026-03-15\n"
    assert run(coordinator, text, code="LD").outcome == "imported"
    from subjects.models import Lymphodepletion

    assert Lymphodepletion.objects.get().other_agent == cell


def test_error_report_and_template_neutralise_formula_cells(crf_ready, coordinator):
    text = VS_HEADER + "A-001,2026-03-02,=1+1,@x,-5,+3,room_air,\n"
    result = run(coordinator, text)
    report = error_report_csv(result.errors).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(report)))
    assert rows[0] == ["row", "column", "value", "message"]
    assert {(row[1], row[2]) for row in rows[1:]} == {
        ("temperature_c", "'=1+1"),
        ("systolic_bp", "'@x"),
        ("diastolic_bp", "'-5"),
        ("heart_rate", "'+3"),
    }
    assert csvfiles.neutralised("=1+1") == "'=1+1"
    assert csvfiles.neutralised("\t=1") == "'\t=1"
    assert csvfiles.neutralised("-5") == "'-5"
    assert csvfiles.neutralised("A-001") == "A-001"
    written = csvfiles.write_csv([["=cmd|' /C calc'!A0", "@SUM(1)", "ok"]]).decode("utf-8-sig")
    assert written == "'=cmd|' /C calc'!A0,'@SUM(1),ok\r\n"


@pytest.mark.parametrize("code", sorted(crf_models()))
def test_every_form_has_a_template_whose_header_the_importer_accepts(code, db):
    model = crf_models()[code]
    raw = template_csv(model)
    assert raw.startswith(b"\xef\xbb\xbf")
    read = csvfiles.read_csv(raw, file_name="t.csv")
    assert read.header == columns(model)
    assert read.rows == []  # the documentation row starts with "#" and is skipped
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(lines) == 2 and lines[1][0].startswith("# ")
    for cell in lines[1]:
        assert not cell.startswith(csvfiles.FORMULA_PREFIXES)


def test_unknown_and_missing_columns_are_reported_on_row_1(crf_ready, coordinator):
    result = run(coordinator, "assessment_date,shoe_size\n2026-03-02,42\n")
    assert {(e.row, e.field) for e in result.errors} == {(1, "shoe_size"), (1, "subject")}


def test_not_done_codes_and_labels(crf_ready, coordinator):
    header = "subject,assessment_date,temperature_c,missing__temperature_c,spo2,missing__spo2\n"
    text = header + "A-001,2026-03-02,,ND,,unknown\n"
    result = run(coordinator, text)
    assert result.outcome == "imported", result.errors
    assert VitalSigns.objects.get().missing == {"temperature_c": "ND", "spo2": "UNK"}


# --- updates -------------------------------------------------------------------------------------


UPDATE_HEADER = "subject,id,version,temperature_c,reason\n"


def test_an_update_needs_a_reason_and_changes_only_the_given_columns(vs, coordinator):
    result = run(coordinator, UPDATE_HEADER + f"A-001,{vs.pk},1,38.1,\n")
    assert [(e.row, e.field) for e in result.errors] == [(2, "reason")]
    vs.refresh_from_db()
    assert (vs.temperature_c, vs.version) == (None, 1)
    result = run(coordinator, UPDATE_HEADER + f"A-001,{vs.pk},1,38.1,抄录错误\n")
    assert result.outcome == "imported", result.errors
    vs.refresh_from_db()
    assert (vs.temperature_c, vs.systolic_bp, vs.version) == (Decimal("38.1"), 120, 2)
    assert [entry["id"] for entry in result.updated] == [vs.pk]
    update = VitalSignsEvent.objects.filter(pgh_obj_id=vs.pk, pgh_label="update").get()
    assert update.pgh_context["reason"] == "抄录错误"


def test_a_stale_version_is_a_row_error(vs, coordinator, save_vs):
    save_vs(vs, heart_rate=70)  # someone saved version 2 meanwhile
    result = run(coordinator, UPDATE_HEADER + f"A-001,{vs.pk},1,38.1,correction\n")
    assert [(e.row, e.field) for e in result.errors] == [(2, "version")]
    assert "version 2" in result.errors[0].message
    vs.refresh_from_db()
    assert vs.temperature_c is None


def test_a_locked_form_is_a_row_error(vs, coordinator, data_lock):
    data_lock("lock", form=vs)
    result = run(coordinator, UPDATE_HEADER + f"A-001,{vs.pk},1,38.1,correction\n")
    assert [(e.row, e.field) for e in result.errors] == [(2, "")]
    assert "locked" in result.errors[0].message


def test_new_consents_are_refused_but_saved_ones_can_be_corrected(coordinator, site_a, study):
    from subjects.models import InformedConsent
    from subjects.services import subject as services
    from tests.factories import protocol_v1

    protocol_v1(study)
    subject = services.record_consent(
        user=coordinator, site=site_a, consent_version="1.0", consent_date=date(2026, 3, 1)
    )
    consent = InformedConsent.objects.get(subject=subject)
    new = run(
        coordinator, f"subject,consent_version,consent_date\n{subject.screening_number},2.0,2026-03-04\n", code="IC"
    )
    assert [(e.row, e.field) for e in new.errors] == [(2, "id")]
    fixed = run(
        coordinator,
        f"subject,id,version,consent_date,reason\n{subject.screening_number},{consent.pk},1,2026-02-28,wrong date\n",
        code="IC",
    )
    assert fixed.outcome == "imported", fixed.errors
    consent.refresh_from_db()
    assert consent.consent_date == date(2026, 2, 28)


# --- the gate -------------------------------------------------------------------------------------


def test_a_subject_at_another_site_is_not_found(crf_ready, coordinator, subject_b):
    result = run(coordinator, VS_HEADER + "B-001,2026-03-02,37.2,120,80,88,room_air,\n")
    assert [(e.row, e.field) for e in result.errors] == [(2, "subject")]
    assert "not found" in result.errors[0].message
    assert VitalSigns.objects.count() == 0


@pytest.mark.parametrize("role", ["monitor", "data_manager", "statistician", "study_admin"])
def test_roles_that_may_not_edit_crf_data_import_nothing(crf_ready, users_a, role):
    result = run(users_a[role], VS_HEADER + "A-001,2026-03-02,37.2,120,80,88,room_air,\n")
    assert result.outcome == "rejected"
    assert VitalSigns.objects.count() == 0


def test_dry_run_checks_and_saves_nothing(crf_ready, coordinator):
    result = run(coordinator, VS_HEADER + "A-001,2026-03-02,37.2,120,80,88,room_air,\n", dry_run=True)
    assert (result.outcome, len(result.created)) == ("checked", 1)
    assert VitalSigns.objects.count() == 0
    assert ImportRecord.objects.get().outcome == "checked"


@pytest.fixture
def enrolled_subject(coordinator, site_a, crf_ready):
    """A subject brought to "enrolled" through the lifecycle services (lymphodepletion needs it)."""
    from subjects.services import subject as services
    from tests.subjects.conftest import ELIGIBLE

    subject = services.record_consent(
        user=coordinator, site=site_a, consent_version="1.0", consent_date=date(2026, 3, 1)
    )
    services.record_eligibility(
        user=coordinator, subject=subject, protocol_version="2.1", assessment_date=date(2026, 3, 3), criteria=ELIGIBLE
    )
    return services.enrol(user=coordinator, subject=subject, on=date(2026, 3, 5), dose_level="DL1")


@pytest.mark.parametrize("code", sorted(crf_models()))
def test_every_form_reports_a_row_with_only_the_subject_without_crashing(code, crf_ready, coordinator):
    """Generic over the registry: a form added later is imported with no code of its own; a row
    that lacks what the form needs is a row error, never an exception."""
    result = run(coordinator, "subject\nA-001\n", code=code)
    assert result.outcome == "rejected"
    assert result.errors and {e.row for e in result.errors} == {2}
    assert crf_models()[code].objects.count() == 0


def test_visit_codes_name_the_subjects_visit(crf_ready, coordinator, study):
    from subjects.models import Visit
    from tests.factories import demo_schedule

    definitions = {d.code: d for d in demo_schedule(study)}
    visit = Visit.objects.create(subject=crf_ready, definition=definitions["D1"])
    text = "subject,visit,assessment_date,systolic_bp\nA-001,d1,2026-03-02,120\nA-001,D7,2026-03-08,118\n"
    result = run(coordinator, text)
    assert [(e.row, e.field) for e in result.errors] == [(3, "visit")]  # no D7 visit instantiated
    result = run(coordinator, text.rsplit("A-001,D7", 1)[0])
    assert result.outcome == "imported", result.errors
    assert VitalSigns.objects.get().visit_id == visit.pk


def test_lymphodepletion_then_infusion_with_site_local_times(crf_ready, coordinator, enrolled_subject):
    """Instants are written in the site's time (Asia/Shanghai) and stored in UTC; the Day-0
    clock follows the site-local date (DESIGN §4 "Dates and the Day-0 clock")."""
    from datetime import UTC, datetime

    from subjects.models import Infusion

    sid = enrolled_subject.subject_id
    ld = "subject,fludarabine_mg_m2,cyclophosphamide_mg_m2,bsa_m2,start_date,end_date\n"
    ld += f"{sid},30,300,1.8,2026-03-15,2026-03-17\n"
    assert run(coordinator, ld, code="LD").outcome == "imported"
    infusion = (
        "subject,product_id,lot_number,source,state,thaw_time,bag_id,bag_matches_subject,checked_by_first,"
        "checked_by_second,infusion_start,infusion_end,volume_ml,viable_cells_e6,car_positive_pct,weight_kg\n"
        f"{sid},CD7-0001,L2603,自体,复苏（冻存）,2026-03-20 07:05,BAG-1,是,护士刘,王医生,"
        "2026/3/20 7:30,2026-03-20 07:45,50,100,60,70\n"
    )
    result = run(coordinator, infusion.encode("gb18030"), code="INF")
    assert result.outcome == "imported", result.errors
    saved = Infusion.objects.get()
    assert saved.infusion_start == datetime(2026, 3, 19, 23, 30, tzinfo=UTC)
    assert (saved.state, saved.checked_by_first, saved.infusion_date) == ("thawed", "护士刘", date(2026, 3, 20))
    enrolled_subject.refresh_from_db()
    assert (enrolled_subject.status, enrolled_subject.infusion_date) == ("infused", date(2026, 3, 20))


def test_a_failing_row_takes_back_the_rows_before_it_with_their_lifecycle_steps(
    crf_ready, coordinator, enrolled_subject
):
    """Row 2 infuses the subject (status "infused", visits re-anchored); row 3 names the same
    person twice in the chain-of-identity check: nothing of row 2 stays."""
    from subjects.models import Infusion, Lymphodepletion

    sid = enrolled_subject.subject_id
    ld = f"subject,fludarabine_mg_m2,bsa_m2,start_date\n{sid},30,1.8,2026-03-15\n"
    assert run(coordinator, ld, code="LD").outcome == "imported"
    header = (
        "subject,product_id,lot_number,source,state,bag_id,bag_matches_subject,checked_by_first,"
        "checked_by_second,infusion_start,volume_ml,viable_cells_e6,car_positive_pct,weight_kg\n"
    )
    rows = (
        f"{sid},CD7-0001,L1,autologous,fresh,BAG-1,yes,Liu,Wang,2026-03-20 07:30,50,100,60,70\n"
        f"{sid},CD7-0001,L1,autologous,fresh,BAG-2,yes,Liu,liu ,2026-03-21 07:30,50,100,60,70\n"
    )
    result = run(coordinator, header + rows, code="INF")
    assert [(e.row, e.field) for e in result.errors] == [(3, "checked_by_second")]
    assert Infusion.objects.count() == 0
    assert Lymphodepletion.objects.count() == 1
    enrolled_subject.refresh_from_db()
    assert enrolled_subject.status == "lymphodepleted"  # row 2's lifecycle step was rolled back too
