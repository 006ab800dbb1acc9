"""define.xml 2.1 (issue 28 item 2): the export's SDTM and ADaM define documents validate
against the Define-XML 2.1 schema (shipped in the PyPI package odmlib), every reference inside
resolves, collected variables point at the annotated CRF (acrf.pdf) and derived ones at their
method, codelists list the values used, LB/VS carry value-level metadata per test, and the
document opens in Chromium with its stylesheet (and as the pre-rendered define.html)."""

from __future__ import annotations

from pathlib import Path

import odmlib
import pytest
from lxml import etree

from exports import services
from exports.models import ExportFile, ExportStatus
from tests.exports.conftest import CUTOFF, populate_for_export

pytestmark = pytest.mark.req("ISSUE-28")

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
SCHEMA = Path(odmlib.__file__).parent / "schemas" / "define" / "2.1" / "define2-1-0.xsd"
DATASETS = ["TS", "TA", "TE", "SE", "DM", "AE", "LB", "VS", "ADSL", "ADAE"]


def structural_problems(document: etree._Element) -> list[str]:
    """The Define-XML 2.1 rules the schema cannot state (CDISC Define-XML 2.1 specification §3,
    §5): every OID referenced is defined, every derived ItemRef has a method, a collected origin
    of an SDTM variable names its CRF page, CodeLists and methods and comments are all used."""
    problems = []
    mdv = document.find("odm:Study/odm:MetaDataVersion", NS)
    defined = {
        kind: {e.get("OID") or e.get("ID") for e in mdv.iterfind(path, NS)}
        for kind, path in {
            "item": "odm:ItemDef",
            "codelist": "odm:CodeList",
            "method": "odm:MethodDef",
            "comment": "def:CommentDef",
            "valuelist": "def:ValueListDef",
            "where": "def:WhereClauseDef",
            "leaf": ".//def:leaf",
        }.items()
    }
    used: dict[str, set[str]] = {kind: set() for kind in defined}
    for element in mdv.iter():
        for attr, kind in (
            ("ItemOID", "item"),
            ("{http://www.cdisc.org/ns/def/v2.1}ItemOID", "item"),
            ("CodeListOID", "codelist"),
            ("MethodOID", "method"),
            ("{http://www.cdisc.org/ns/def/v2.1}CommentOID", "comment"),
            ("ValueListOID", "valuelist"),
            ("WhereClauseOID", "where"),
            ("leafID", "leaf"),
            ("{http://www.cdisc.org/ns/def/v2.1}ArchiveLocationID", "leaf"),
        ):
            if element.get(attr):
                used[kind].add(element.get(attr))
    for kind in defined:
        problems += [f"{kind} {oid} referenced, not defined" for oid in sorted(used[kind] - defined[kind])]
        if kind in {"codelist", "method", "comment", "valuelist"}:
            problems += [f"{kind} {oid} defined, never used" for oid in sorted(defined[kind] - used[kind])]
    items = {e.get("OID"): e for e in mdv.iterfind("odm:ItemDef", NS)}
    for ref in mdv.iterfind("odm:ItemGroupDef/odm:ItemRef", NS):
        origin = items[ref.get("ItemOID")].find("def:Origin", NS)
        if origin is None:
            problems.append(f"{ref.get('ItemOID')} has no origin")
        elif origin.get("Type") == "Derived" and not ref.get("MethodOID"):
            problems.append(f"{ref.get('ItemOID')} derived without a method")
    for item in items.values():
        if item.get("DataType") in {"text", "integer", "float"} and not item.get("Length"):
            problems.append(f"{item.get('OID')} has no length")
    return problems


def test_define_xml_validates_and_resolves(world):
    populate_for_export(world)
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, dataset_names=DATASETS, formats=["xpt"]
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    files = {f.name: bytes(f.content) for f in ExportFile.objects.filter(export=export)}
    assert {"define.xml", "define.html", "define-adam.xml", "define-adam.html", "define2-1.xsl"} <= set(files)

    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    for name in ("define.xml", "define-adam.xml"):
        document = etree.fromstring(files[name])
        assert schema.validate(document), (name, str(schema.error_log))
        assert structural_problems(document) == [], name
    assert files["define.xml"].splitlines()[1] == b'<?xml-stylesheet type="text/xsl" href="define2-1.xsl"?>'

    sdtm = etree.fromstring(files["define.xml"])
    mdv = sdtm.find("odm:Study/odm:MetaDataVersion", NS)
    groups = [g.get("Name") for g in mdv.iterfind("odm:ItemGroupDef", NS)]
    assert groups == [
        "TS",
        "TE",
        "TA",
        "DM",
        "SUPPDM",
        "SE",
        "AE",
        "SUPPAE",
        "FA",
        "LB",
        "VS",
    ]  # empty SUPPLB/VS left out; FA: the AE grade course (issue 30)
    item = {e.get("OID"): e for e in mdv.iterfind("odm:ItemDef", NS)}
    # collected: the annotated CRF's form; derived: its method
    page = item["IT.AE.AETERM"].find("def:Origin/def:DocumentRef/def:PDFPageRef", NS)
    assert (item["IT.AE.AETERM"].find("def:Origin", NS).get("Type"), page.get("PageRefs"), page.get("Type")) == (
        "Collected",
        "AdverseEvent",
        "NamedDestination",
    )
    assert mdv.find("def:leaf[@ID='LF.acrf']", NS).get("{http://www.w3.org/1999/xlink}href") == "acrf.pdf"
    (aeseq,) = [
        r for r in mdv.iterfind("odm:ItemGroupDef[@Name='AE']/odm:ItemRef", NS) if r.get("ItemOID") == "IT.AE.AESEQ"
    ]
    method = mdv.find(f"odm:MethodDef[@OID='{aeseq.get('MethodOID')}']", NS)
    assert "Sequence number" in method.findtext("odm:Description/odm:TranslatedText", namespaces=NS)
    assert (aeseq.get("KeySequence"), item["IT.AE.AESEQ"].get("DataType")) == ("2", "integer")
    # lengths: the longest value written (USUBJID "trial7-01-A-S003")
    assert item["IT.DM.USUBJID"].get("Length") == "16"
    # codelists with the values used; MedDRA and CTCAE as dictionaries
    sex = mdv.find("odm:CodeList[@OID='CL.DM.SEX']", NS)
    assert [e.get("CodedValue") for e in sex.iterfind("odm:EnumeratedItem", NS)] == ["F", "M", "U"]
    assert sex.find("odm:Alias", NS).get("Name") == "C66731"
    dictionaries = {
        e.get("Dictionary"): e.get("Version") for e in mdv.iterfind("odm:CodeList/odm:ExternalCodeList", NS)
    }
    assert dictionaries == {"MedDRA": "LLT codes published with CTCAE v5.0", "CTCAE": "5.0"}
    # the lab-derived grade (CLINICAL_SPEC §3) is derived, on the CTCAE dictionary, with its comment
    tox = item["IT.LB.LBTOXGR"]
    assert tox.find("odm:CodeListRef", NS).get("CodeListOID") == "CL.CTCAE"
    assert tox.find("def:Origin", NS).get("Type") == "Derived"
    assert tox.get(f"{{{NS['def']}}}CommentOID") == "COM.LBGRADES"
    # value-level metadata per LB and VS test
    where = [w.findtext("odm:RangeCheck/odm:CheckValue", namespaces=NS) for w in mdv.iterfind("def:WhereClauseDef", NS)]
    assert {"NEUT", "PLAT", "TEMP", "SYSBP"} <= set(where)
    assert item["IT.LB.LBORRES.NEUT"].get("DataType") == "float"
    assert (item["IT.VS.VSORRES.SYSBP"].get("DataType"), item["IT.VS.VSORRES.SYSBP"].get("Length")) == ("integer", "3")

    adam = etree.fromstring(files["define-adam.xml"]).find("odm:Study/odm:MetaDataVersion", NS)
    assert [g.get("Name") for g in adam.iterfind("odm:ItemGroupDef", NS)] == ["ADSL", "ADAE"]
    assert adam.find("odm:ItemGroupDef[@Name='ADSL']/def:Class", NS).get("Name") == "SUBJECT LEVEL ANALYSIS DATASET"

    # the HTML lxml rendered, and the XML opened in Chromium through its stylesheet
    html = files["define.html"].decode()
    assert "AE - Adverse Events" in html and "CRF AdverseEvent" in html
