"""Audit review page and exports (issue 26 item 4; DESIGN §4a "audit search and export"): the
page filters and pages the trail for monitors, data managers and study admins; the filtered
trail exports as CSV and as CDISC ODM 1.3.2 (validated against the ODM 1.3.2 schema); identity
values only to roles that may view the identity record."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import odmlib
import pytest
from lxml import etree

from datamanagement import signatures
from tests.conftest import PASSWORD

pytestmark = pytest.mark.req("ISSUE-26")

ODM_XSD = Path(odmlib.__file__).parent / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


@pytest.fixture
def trail(vs, save_vs, users_a, rf):
    """Subject A: identity record (张三), vital signs entered then corrected with a reason, and a
    casebook signature."""
    save_vs(vs, systolic_bp=135, reason="transcription error")
    request = rf.post("/")
    request.session = {}
    signatures.sign(
        request=request,
        user=users_a["investigator"],
        subject=vs.subject,
        scope="casebook",
        meaning="reviewed_approved",
        username="investigator_a",
        password=PASSWORD,
    )
    return vs


@pytest.mark.parametrize(
    ("role", "status"),
    [("coordinator", 403), ("investigator", 403), ("monitor", 200), ("data_manager", 200), ("statistician", 403)],
)
def test_who_may_review(trail, users_a, client, login, role, status):
    login(users_a[role])
    assert client.get("/data/audit/").status_code == status
    assert client.get("/data/audit/export.csv").status_code == status


def test_the_page_filters_and_pages(trail, users_a, client, login):
    login(users_a["data_manager"])
    page = client.get("/data/audit/?subject_id=A-001&form=VS&field=systolic_bp").content.decode()
    assert "transcription error" in page and "120 mmHg → 135 mmHg" in page  # the display layer: value with unit
    assert page.count("<tr>") == 3  # header + the correction + the insert
    updates = client.get("/data/audit/?subject_id=A-001&action=update&username=coordinator_a").content.decode()
    assert "transcription error" in updates and "Record created</td>" not in updates
    bad = client.get("/data/audit/?subject_id=ZZZ&date_from=2026-02-30").content.decode()
    assert "No such subject among those you may see." in bad and "Give a date as YYYY-MM-DD." in bad
    first = client.get("/data/audit/?subject_id=A-001").content.decode()
    assert "page=2" not in first  # fewer than 50 events: no next page


def _csv(client, query=""):
    response = client.get(f"/data/audit/export.csv{query}")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_export_masks_identity_values_for_a_data_manager(trail, users_a, client, login):
    login(users_a["data_manager"])
    rows = _csv(client, "?subject_id=A-001")
    (correction,) = [r for r in rows if r["reason"] == "transcription error"]
    assert (correction["field"], correction["old"], correction["new"]) == ("systolic_bp", "120", "135")
    assert correction["subject_id"] == "A-001" and correction["username"] == "coordinator_a"
    names = [r for r in rows if r["model"] == "subjects.IdentityRecord" and r["field"] == "full_name"]
    assert [r["new"] for r in names] == ["•••"]
    client.logout()
    login(users_a["monitor"])
    assert "张三" in [r["new"] for r in _csv(client, "?subject_id=A-001") if r["field"] == "full_name"]


def test_odm_export_validates_against_the_odm_1_3_2_schema(trail, users_a, client, login):
    login(users_a["data_manager"])
    response = client.get("/data/audit/export.xml?subject_id=A-001")
    assert response.status_code == 200
    document = etree.fromstring(response.content)
    schema = etree.XMLSchema(etree.parse(str(ODM_XSD)))
    assert schema.validate(document), schema.error_log
    assert document.get("ODMVersion") == "1.3.2" and document.get("FileType") == "Transactional"
    (item,) = document.xpath("//odm:ItemData[@ItemOID='I.VS.systolic_bp'][@TransactionType='Update']", namespaces=NS)
    assert item.get("Value") == "135"
    assert item.findtext("odm:AuditRecord/odm:ReasonForChange", namespaces=NS) == "transcription error"
    user_oid = item.find("odm:AuditRecord/odm:UserRef", NS).get("UserOID")
    assert document.xpath(f"//odm:AdminData/odm:User[@OID='{user_oid}']/odm:LoginName/text()", namespaces=NS) == [
        "coordinator_a"
    ]
    # rows written outside any audit context (the test's factories) point to the "no site" location
    assert document.xpath("//odm:Location/@OID", namespaces=NS) == ["LOC.01", "LOC.NONE"]
    (signature,) = document.xpath("//odm:SubjectData/odm:Signature", namespaces=NS)
    assert signature.find("odm:SignatureRef", NS).get("SignatureOID") == "SD.reviewed_approved"
    assert "张三" not in response.content.decode()


def test_a_record_is_named_by_its_type_never_by_a_python_repr(trail, users_a, client, login):
    """A notification has a `crf_code` column: the page named it by the column's descriptor
    ("<django.db.models.query_utils.DeferredAttribute object at 0x…> #1") and the CSV's form
    column held the same; other non-CRF records showed their model label ("datamanagement.…")."""
    from django.utils import timezone

    from datamanagement.models import Notice

    notice = Notice.objects.create(
        user=users_a["coordinator"],
        kind="visit_overdue",
        delivery="digest",
        subject=trail.subject,
        crf_code="VS",
        url="/subjects/",
        created_at=timezone.now(),
    )
    login(users_a["data_manager"])
    for language, name in (("en", "notification"), ("zh-hans", "通知")):
        users_a["data_manager"].language = language
        users_a["data_manager"].save(update_fields=["language"])
        page = client.get("/data/audit/?subject_id=A-001").content.decode()
        assert "object at 0x" not in page
        assert f'/history/datamanagement.Notice/{notice.pk}/">{name} #{notice.pk}</a>' in page
        assert "VS · " in page  # a CRF record keeps its form code beside its name
    forms = {(r["model"], r["form"]) for r in _csv(client, "?subject_id=A-001")}
    assert ("datamanagement.Notice", "") in forms and ("labs.VitalSigns", "VS") in forms


def test_a_change_is_named_by_its_field_in_the_readers_language(trail, users_a, client, login):
    """The bilingual walk (2026-12-07): the changes column showed stored column names only
    (`systolic_bp`, `mail_id`); now the field's name in the reader's language, the column name
    beside it small (the field filter takes it)."""
    login(users_a["data_manager"])
    for language, label in (("en", "systolic BP (mmHg)"), ("zh-hans", "收缩压（mmHg）")):
        users_a["data_manager"].language = language
        users_a["data_manager"].save(update_fields=["language"])
        page = client.get("/data/audit/?subject_id=A-001&form=VS&field=systolic_bp").content.decode()
        assert f"{label} <small><code>systolic_bp</code></small>:" in page
