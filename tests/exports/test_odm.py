"""CDISC ODM 1.3.2 clinical data export (issue 29 item 2): the captured data with their
metadata (in English and Chinese) and audit trail, validated against the ODM 1.3.2 schema
shipped with odmlib, re-read to recreate every form's every field and compared with the
database (round trip), no identity value in any byte, offered as an export format."""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import odmlib
import pytest
from django.core.management import call_command
from lxml import etree

from crf.services import save
from datamanagement import signatures
from exports import odm, services
from exports.models import ExportFile, ExportStatus
from subjects.models import ConcomitantMedication, Subject
from tests.exports.conftest import CUTOFF, SENTINEL_BYTES, populate_for_export

pytestmark = pytest.mark.req("ISSUE-29")

ODM_XSD = Path(odmlib.__file__).parent / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def database_values(subject_ids: set[int]) -> dict[tuple[str, str, int], dict]:
    """Every form of the subjects not entered in error, as the ODM reader keys and types them."""
    keys = dict(Subject.objects.filter(pk__in=subject_ids).values_list("pk", "subject_id"))
    screening = dict(Subject.objects.filter(pk__in=subject_ids).values_list("pk", "screening_number"))
    out = {}
    for code, model in odm.crf_forms():
        names = [f.attname for f in odm.item_fields(model)]
        for row in model.objects.filter(subject_id__in=subject_ids, entered_in_error=False).values(
            "id", "subject_id", *names
        ):
            key = keys[row["subject_id"]] or screening[row["subject_id"]]
            out[(key, code, row["id"])] = {name: row[name] for name in names}
    return out


def assert_round_trip(document: bytes, subject_ids: set[int]) -> int:
    read = odm.read_values(document)
    expected = database_values(subject_ids)
    assert sorted(read) == sorted(expected)
    mismatches = [
        (key, name, read[key][name], value)
        for key, values in expected.items()
        for name, value in values.items()
        if read[key][name] != value
    ]
    assert mismatches == []
    return sum(len(v) for v in expected.values())


def _export(world, formats=("odm",)):
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, dataset_names=["DM"], formats=list(formats)
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    return export


def test_odm_export_validates_round_trips_and_carries_the_audit_trail(world):
    subjects = populate_for_export(world)
    a = subjects["a"]
    cm = ConcomitantMedication.objects.get(subject=a)
    cm.dose = Decimal("650")
    save(user=world.coordinator, instance=cm, expected_version=cm.version, reason="transcription error")
    # an investigator's form signature (recorded directly: re-authentication is tested elsewhere)
    signed = signatures._record(
        user=world.coordinator, subject=a, scope="form", meaning="reviewed_approved", visit=None, form=cm
    )

    export = _export(world)
    file = ExportFile.objects.get(export=export, name=odm.FILE_NAME)
    assert file.fmt == "odm"
    document = bytes(file.content)
    tree = etree.fromstring(document)
    schema = etree.XMLSchema(etree.parse(str(ODM_XSD)))
    assert schema.validate(tree), sorted({e.message for e in schema.error_log})
    for sentinel in SENTINEL_BYTES:  # the identity record is never exported
        assert sentinel not in document
    assert b"IdentityRecord" not in document

    ids = set(Subject.objects.filter(site=world.site).values_list("pk", flat=True))
    assert assert_round_trip(document, ids) > 100

    # metadata: forms, items and codelists from the CRF models, in English and Chinese
    mdv = tree.find("odm:Study/odm:MetaDataVersion", NS)
    question = mdv.find("odm:ItemDef[@OID='I.CM.medication_name']/odm:Question", NS)
    texts = {t.get(LANG): t.text for t in question.iterfind("odm:TranslatedText", NS)}
    assert set(texts) == {"en", "zh"} and texts["en"].lower().startswith("medication")
    assert texts["zh"] != texts["en"]
    assert mdv.find("odm:ItemDef[@OID='I.CM.dose']", NS).get("DataType") == "float"
    route = mdv.find("odm:CodeList[@OID='CL.CM.route']", NS)
    oral = route.find("odm:CodeListItem[@CodedValue='oral']", NS)
    assert {t.get(LANG) for t in oral.iterfind("odm:Decode/odm:TranslatedText", NS)} == {"en", "zh"}
    assert mdv.find("odm:FormDef[@OID='F.CM']/odm:ItemGroupRef", NS).get("ItemGroupOID") == "IG.CM"

    # the audit trail: the dose as first saved, then corrected with its reason
    form = tree.find(f".//odm:FormData[@FormOID='F.CM'][@FormRepeatKey='{cm.pk}']", NS)
    doses = form.findall("odm:ItemGroupData/odm:ItemData[@ItemOID='I.CM.dose']", NS)
    assert [(d.get("TransactionType"), d.get("Value")) for d in doses] == [("Insert", "500.000"), ("Update", "650.000")]
    record = doses[1].find("odm:AuditRecord", NS)
    assert record.findtext("odm:ReasonForChange", namespaces=NS) == "transcription error"
    assert record.find("odm:UserRef", NS).get("UserOID") == f"USR.{world.coordinator.pk}"
    assert record.find("odm:LocationRef", NS).get("LocationOID") == f"LOC.{world.site.code}"
    login = tree.find(f"odm:AdminData/odm:User[@OID='USR.{world.coordinator.pk}']/odm:LoginName", NS)
    assert login.text == world.coordinator.username
    # the signature on the form it covers, its meaning defined in AdminData
    signature = form.find("odm:Signature", NS)
    assert signature.get("ID") == f"SIG.{signed.pk}"
    assert signature.find("odm:SignatureRef", NS).get("SignatureOID") == "SD.reviewed_approved"
    assert tree.find("odm:AdminData/odm:SignatureDef[@OID='SD.reviewed_approved']", NS) is not None


def test_odm_export_round_trips_an_edit_after_the_snapshot_out(world):
    """The file is the data at the snapshot: a change after it is not in the file."""
    from django.utils import timezone

    subjects = populate_for_export(world)
    snapshot = timezone.now()
    cm = ConcomitantMedication.objects.get(subject=subjects["a"])
    cm.dose = Decimal("650")
    save(user=world.coordinator, instance=cm, expected_version=cm.version, reason="transcription error")
    export = services.request_export(
        actor=world.statistician,
        study=world.study,
        cutoff_date=CUTOFF,
        dataset_names=["DM"],
        formats=["odm"],
        snapshot_at=snapshot,
    )
    export = services.compute_export(export_id=export.pk)
    read = odm.read_values(bytes(ExportFile.objects.get(export=export, name=odm.FILE_NAME).content))
    (values,) = [v for k, v in read.items() if k[1] == "CM"]
    assert values["dose"] == Decimal("500")


def test_odm_written_a_subject_at_a_time_is_the_whole_trees_document(world):
    """Issue 29 item 7: the SubjectData are serialised one by one between the head and the tail;
    the file is what lxml writes for the whole tree (parsed and written again: the same bytes),
    whatever the number of subjects read at a time, and without subjects too."""
    from django.utils import timezone

    populate_for_export(world)
    at = timezone.now()
    common = {"study": world.study, "cutoff": CUTOFF, "at": at, "created": at}
    site_ids = [world.site.pk]
    document = odm.clinical_odm(site_ids=site_ids, **common)
    assert document.count(b"<SubjectData ") == Subject.objects.filter(site=world.site).count() == 4
    for chunk in (1, 3):
        out = io.BytesIO()
        odm.write_clinical_odm(out, site_ids=site_ids, chunk=chunk, **common)
        assert out.getvalue() == document
    parser = etree.XMLParser(remove_blank_text=True)
    for written in (document, odm.clinical_odm(site_ids=[], **common)):
        tree = etree.fromstring(written, parser)
        assert etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True) == written
    assert b"<ClinicalData StudyOID" in written and b"<SubjectData" not in written


@pytest.mark.parametrize(
    "value",
    ["plain 1.5", 'a "quoted" <b> & c', "it's", "line\nbreak\ttab\rreturn", "人口学资料 µg/L ≥ 5", "  spaces  ", ""],
)
def test_odm_item_text_is_written_as_lxml_writes_it(value):
    """The ItemData are written as text (issue 29 item 7): each value escaped exactly as lxml
    escapes it in an attribute and in a text node of the document."""
    root = etree.Element(f"{{{odm.NS}}}ODM", nsmap={None: odm.NS})
    item = etree.SubElement(root, f"{{{odm.NS}}}ItemData", {"Value": value})
    etree.SubElement(item, f"{{{odm.NS}}}SourceID").text = value or None
    written = etree.tostring(root, encoding="UTF-8", pretty_print=True).decode()
    assert f'<ItemData Value="{odm._attribute(value)}">' in written
    assert f"<SourceID>{odm._text(value)}</SourceID>" in written if value else "<SourceID/>" in written
    with pytest.raises(ValueError):
        odm._attribute("bell \x07")


def test_odm_is_a_format_of_the_page_api_and_command(world, client, login, tmp_path):
    from rest_framework.test import APIClient

    populate_for_export(world)
    api = APIClient()
    api.force_authenticate(world.statistician)
    response = api.post(
        "/api/v1/exports/",
        {"study": world.study.code, "cutoff_date": CUTOFF.isoformat(), "datasets": ["DM"], "formats": ["odm"]},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert response.json()["formats"] == ["odm"]
    bad = api.post(
        "/api/v1/exports/",
        {"study": world.study.code, "cutoff_date": CUTOFF.isoformat(), "formats": ["odm2"]},
        format="json",
    )
    assert bad.status_code == 400 and "formats" in bad.json()
    login(world.statistician)
    page = client.get(f"/exports/?study={world.study.code}")
    assert b'value="odm"' in page.content
    # the file on the export page and in the archive, its standard in the manifest
    export = services.compute_export(export_id=response.json()["id"])
    assert export.status == ExportStatus.SUCCEEDED, export.error
    download = client.get(f"/exports/{export.pk}/files/{odm.FILE_NAME}")
    assert download.status_code == 200 and download["Content-Type"] == "application/xml; charset=utf-8"
    via_api = api.get(f"/api/v1/exports/{export.pk}/files/{odm.FILE_NAME}/")
    assert via_api.status_code == 200 and b"<ODM" in b"".join(via_api)
    zipped = b"".join(client.get(f"/exports/{export.pk}/archive.zip").streaming_content)
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        entries = {e["file"]: e for e in json.loads(archive.read("manifest.json"))["files"]}
        assert entries[odm.FILE_NAME]["standard"] == "CDISC ODM 1.3.2"
        assert archive.read(odm.FILE_NAME) == bytes(download.content)
    call_command(
        "export_datasets",
        study=world.study.code,
        cutoff=CUTOFF.isoformat(),
        datasets="DM",
        formats="odm",
        out=str(tmp_path),
    )
    document = (tmp_path / odm.FILE_NAME).read_bytes()
    assert etree.XMLSchema(etree.parse(str(ODM_XSD))).validate(etree.fromstring(document))
    # a coordinator may not export (DESIGN §4a)
    api.force_authenticate(world.coordinator)
    denied = api.post(
        "/api/v1/exports/",
        {"study": world.study.code, "cutoff_date": CUTOFF.isoformat(), "formats": ["odm"]},
        format="json",
    )
    assert denied.status_code == 403
