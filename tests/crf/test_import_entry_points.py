"""The three ways into the CSV import (issue 6 item 3): the page (upload → preview → confirm →
result, in Chinese and English), the API endpoint (201 / 400 with the report), and the
management command (its report and exit code, run as a real process)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crf.models import ImportRecord, ImportUpload
from labs.models import VitalSigns, VitalSignsEvent
from tests.conftest import PROJECT_DIR, subprocess_env
from tests.crf.test_outbox import database_url_for_children

pytestmark = pytest.mark.req("ISSUE-6")

VS_ROWS = "subject,assessment_date,temperature_c,systolic_bp\nA-001,2026-03-02,37.2,120\nA-001,2026-03-03,36.8,118\n"
BAD_ROWS = "subject,assessment_date,temperature_c,systolic_bp\nA-001,2026-03-02,37.2,120\nA-001,2026-03-03,51,118\n"


@pytest.fixture
def coordinator(users_a):
    return users_a["coordinator"]


# --- the page ---------------------------------------------------------------------------------


def _upload(client, text: bytes, *, code: str = "VS", name: str = "vitals.csv", encoding: str = ""):
    return client.post(
        "/subjects/import/",
        {"crf_code": code, "file": SimpleUploadedFile(name, text, content_type="text/csv"), "encoding": encoding},
    )


def test_page_flow_upload_preview_confirm_result_in_chinese(crf_ready, coordinator, login):
    coordinator.language = "zh-hans"
    coordinator.save()
    client = login(coordinator)
    listing = client.get("/subjects/")
    assert b'href="/subjects/import/"' in listing.content
    raw = "subject,assessment_date,temperature_c,systolic_bp,oxygen_device\nA-001,2026-03-02,37.2,120,鼻导管\n"
    response = _upload(client, raw.encode("gb18030"), name="生命体征.csv")
    assert response.status_code == 302
    preview = client.get(response["Location"])
    page = preview.content.decode()
    assert "GB18030" in page and "检测" in page  # encoding shown as detected
    assert "鼻导管" in page  # the first rows, decoded
    assert "导入 1 行" in page
    assert VitalSigns.objects.count() == 0  # the preview checked and saved nothing
    pending = ImportUpload.objects.get()
    done = client.post(
        f"/subjects/import/{pending.pk}/confirm/",
        {"encoding": "gb18030", "sha256": preview.context["csv_file"].sha256},
    )
    assert done.status_code == 302
    result = client.get(done["Location"])
    assert "已导入" in result.content.decode()
    vs = VitalSigns.objects.get()
    assert (vs.oxygen_device, vs.temperature_c) == ("nasal_cannula", Decimal("37.2"))
    record = ImportRecord.objects.get()
    assert (record.channel, record.outcome, record.encoding, record.file_name) == (
        "page",
        "imported",
        "gb18030",
        "生命体征.csv",
    )
    assert not ImportUpload.objects.exists()
    assert VitalSignsEvent.objects.get(pgh_obj_id=vs.pk).pgh_context["import_record"] == record.pk


def test_preview_reports_errors_offers_no_confirm_and_the_report_download_is_neutralised(crf_ready, coordinator, login):
    coordinator.language = "en"
    coordinator.save()
    client = login(coordinator)
    response = _upload(client, b"subject,assessment_date,temperature_c\nA-001,2026-03-02,=1+1\n")
    preview = client.get(response["Location"])
    page = preview.content.decode()
    assert "1 problem found" in page
    assert "/confirm/" not in page
    report = client.get(f"{response['Location']}errors.csv")
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert rows[1][:3] == ["2", "temperature_c", "'=1+1"]


def test_user_overrides_the_encoding(crf_ready, coordinator, login):
    client = login(coordinator)
    raw = b"subject,assessment_date,temperature_c,systolic_bp\nA-001,2026-03-02,37.2,120\n"
    response = _upload(client, raw, encoding="gb18030")
    preview = client.get(response["Location"])
    assert preview.context["csv_file"].encoding == "gb18030"
    assert preview.context["csv_file"].detected is False
    reread = client.get(response["Location"], {"encoding": "utf-8-sig"})
    assert reread.context["csv_file"].encoding == "utf-8-sig"


def test_a_confirmed_file_must_be_the_previewed_one(crf_ready, coordinator, login):
    client = login(coordinator)
    response = _upload(client, VS_ROWS.encode())
    pending = ImportUpload.objects.get()
    done = client.post(f"/subjects/import/{pending.pk}/confirm/", {"encoding": "", "sha256": "0" * 64})
    assert done["Location"] == f"/subjects/import/{pending.pk}/"
    assert VitalSigns.objects.count() == 0
    assert response.status_code == 302


@pytest.mark.parametrize("role", ["monitor", "data_manager", "statistician", "study_admin"])
def test_the_page_is_refused_to_roles_that_may_not_edit_crf_data(crf_ready, users_a, login, role):
    client = login(users_a[role])
    assert client.get("/subjects/import/").status_code == 403
    assert client.get("/subjects/import/templates/VS.csv").status_code == 403


def test_another_users_upload_and_record_are_not_found(crf_ready, coordinator, users_a, login):
    client = login(coordinator)
    _upload(client, VS_ROWS.encode())
    pending = ImportUpload.objects.get()
    client.logout()
    other = login(users_a["investigator"])
    assert other.get(f"/subjects/import/{pending.pk}/").status_code == 404
    assert other.post(f"/subjects/import/{pending.pk}/confirm/", {"sha256": "x"}).status_code == 404


def test_template_download_and_columns_page(crf_ready, coordinator, login):
    client = login(coordinator)
    response = client.get("/subjects/import/templates/VS.csv")
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0][:4] == ["subject", "visit", "id", "version"]
    assert "missing__temperature_c" in lines[0]
    assert lines[1][0].startswith("# ")
    page = client.get("/subjects/import/templates/VS/")
    assert b"missing__temperature_c" in page.content


# --- the API ------------------------------------------------------------------------------------


def _post(client, token: str, text: bytes, *, code: str = "VS", **extra):
    return client.post(
        f"/api/v1/imports/{code}/",
        {"file": SimpleUploadedFile("vitals.csv", text, content_type="text/csv"), **extra},
        HTTP_AUTHORIZATION=f"Token {token}",
    )


def test_api_creates_and_answers_201_with_the_ids(crf_ready, coordinator, api_token, client):
    token = api_token(coordinator)
    response = _post(client, token, VS_ROWS.encode())
    assert response.status_code == 201, response.content
    body = response.json()
    ids = list(VitalSigns.objects.order_by("assessment_date").values_list("pk", flat=True))
    assert [entry["id"] for entry in body["created"]] == ids
    assert [entry["row"] for entry in body["created"]] == [2, 3]
    assert (body["outcome"], body["rows"], body["encoding"]) == ("imported", 2, "utf-8")
    assert ImportRecord.objects.get(pk=body["import"]).channel == "api"


def test_api_answers_400_with_the_report_and_saves_nothing(crf_ready, coordinator, api_token, client):
    response = _post(client, api_token(coordinator), BAD_ROWS.encode())
    assert response.status_code == 400
    assert [(e["row"], e["field"], e["value"]) for e in response.json()["errors"]] == [(3, "temperature_c", "51")]
    assert VitalSigns.objects.count() == 0


def test_api_site_isolation_and_permissions(crf_ready, coordinator, users_a, subject_b, api_token, client):
    text = b"subject,assessment_date,systolic_bp\nB-001,2026-03-02,120\n"
    response = _post(client, api_token(coordinator), text)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "subject"
    assert _post(client, api_token(users_a["monitor"]), VS_ROWS.encode()).status_code == 403
    assert _post(client, api_token(coordinator), VS_ROWS.encode(), code="NOPE").status_code == 404
    assert client.post("/api/v1/imports/VS/", {}).status_code in (401, 403)
    assert VitalSigns.objects.count() == 0


def test_api_dry_run_and_wrong_encoding(crf_ready, coordinator, api_token, client):
    token = api_token(coordinator)
    checked = _post(client, token, VS_ROWS.encode(), dry_run="true")
    assert (checked.status_code, checked.json()["outcome"]) == (200, "checked")
    unreadable = _post(client, token, "subject\n张三\n".encode("gb18030"), encoding="utf-8")
    assert unreadable.status_code == 400
    assert "UTF-8" in unreadable.json()["file"][0]
    assert VitalSigns.objects.count() == 0


# --- the management command (a real process, its real exit code) --------------------------------


@pytest.fixture
def committed(transactional_db, study, site_a, users_a):
    from subjects.models import Subject
    from tests.factories import identity, protocol_v1

    protocol_v1(study)
    subject = Subject.objects.create(site=site_a, subject_id="A-001")
    identity(subject)
    return subject


def _command(tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "vitals.csv"
    path.write_bytes(text.encode("utf-8"))
    env = subprocess_env(DATABASE_URL=database_url_for_children(), DB_CONN_MAX_AGE="0")
    return subprocess.run(
        [sys.executable, "manage.py", "import_csv", "VS", str(path), "--user", "coordinator_a", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_command_exits_1_with_the_report_and_0_when_imported(committed, tmp_path):
    failed = _command(tmp_path, BAD_ROWS)
    assert failed.returncode == 1, failed.stderr
    assert "row 3, temperature_c:" in failed.stdout
    assert "UTF-8" in failed.stdout and "2 rows" in failed.stdout
    assert VitalSigns.objects.count() == 0
    checked = _command(tmp_path, VS_ROWS, "--dry-run")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert VitalSigns.objects.count() == 0
    done = _command(tmp_path, VS_ROWS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 created" in done.stdout
    assert VitalSigns.objects.count() == 2
    assert list(ImportRecord.objects.order_by("pk").values_list("outcome", "channel")) == [
        ("rejected", "command"),
        ("checked", "command"),
        ("imported", "command"),
    ]
