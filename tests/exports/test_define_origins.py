"""define.xml ADaM origins (issue 28 "ADaM Predecessor origins"): an ADaM variable copied from
SDTM (ADSL.AGE from DM.AGE, ADAE.AETERM from AE.AETERM) or from ADSL (ADAE.TRTA from
ADSL.TRT01A) carries def:Origin Type="Predecessor" with the source variable in its Description
and no method; a derived one is Type="Derived" with its MethodDef. Read from the written
define-adam.xml, which validates against the Define-XML 2.1 schema."""

from __future__ import annotations

import pytest
from lxml import etree

from exports import services
from exports.models import ExportFile, ExportStatus
from tests.exports.conftest import CUTOFF, populate_for_export
from tests.exports.test_define import NS, SCHEMA, structural_problems

pytestmark = pytest.mark.req("ISSUE-28")


def _origins(mdv: etree._Element) -> dict[str, tuple[str, str | None, str | None]]:
    """ItemOID → (origin type, its description, the method's description)."""
    methods = {
        m.get("OID"): m.findtext("odm:Description/odm:TranslatedText", namespaces=NS)
        for m in mdv.iterfind("odm:MethodDef", NS)
    }
    refs = {r.get("ItemOID"): r for r in mdv.iterfind("odm:ItemGroupDef/odm:ItemRef", NS)}
    out = {}
    for item in mdv.iterfind("odm:ItemDef", NS):
        origin = item.find("def:Origin", NS)
        ref = refs.get(item.get("OID"))
        out[item.get("OID")] = (
            origin.get("Type"),
            origin.findtext("odm:Description/odm:TranslatedText", namespaces=NS),
            methods.get(ref.get("MethodOID")) if ref is not None else None,
        )
    return out


def test_adam_variables_copied_from_sdtm_are_predecessors_with_their_source(world):
    populate_for_export(world)
    export = services.request_export(
        actor=world.statistician,
        study=world.study,
        cutoff_date=CUTOFF,
        dataset_names=["DM", "AE", "ADSL", "ADAE"],
        formats=["csv"],
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    content = bytes(ExportFile.objects.get(export=export, name="define-adam.xml").content)
    document = etree.fromstring(content)
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    assert schema.validate(document), str(schema.error_log)
    assert structural_problems(document) == []
    mdv = document.find("odm:Study/odm:MetaDataVersion", NS)
    origins = _origins(mdv)
    assert origins["IT.ADSL.AGE"] == ("Predecessor", "DM.AGE", None)
    assert origins["IT.ADSL.USUBJID"] == ("Predecessor", "DM.USUBJID", None)
    assert origins["IT.ADSL.ARM"] == ("Predecessor", "DM.ARM", None)
    assert origins["IT.ADAE.AETERM"] == ("Predecessor", "AE.AETERM", None)
    assert origins["IT.ADAE.AEDECOD"] == ("Predecessor", "AE.AEDECOD", None)
    assert origins["IT.ADAE.TRTA"] == ("Predecessor", "ADSL.TRT01A", None)
    assert origins["IT.ADAE.AGE"] == ("Predecessor", "ADSL.AGE", None)
    # derived: their method, no predecessor
    assert origins["IT.ADAE.ASTDY"] == (
        "Derived",
        None,
        "ASTDT - TRTSDT + 1 on or after TRTSDT, ASTDT - TRTSDT before it (no day 0).",
    )
    assert origins["IT.ADAE.TRTEMFL"][0] == "Derived"
    assert origins["IT.ADSL.SAFFL"][0] == "Derived" and origins["IT.ADSL.SAFFL"][2]
    # a predecessor's ItemRef has no method; the source attribute is not used for it
    refs = {r.get("ItemOID"): r for r in mdv.iterfind("odm:ItemGroupDef/odm:ItemRef", NS)}
    assert refs["IT.ADSL.AGE"].get("MethodOID") is None
    counts = {kind: sum(1 for o in origins.values() if o[0] == kind) for kind in ("Predecessor", "Derived")}
    assert counts == {"Predecessor": 9 + 2 + 9 + 18, "Derived": counts["Derived"]}
    # the SDTM define is unchanged: no predecessor there
    sdtm = etree.fromstring(bytes(ExportFile.objects.get(export=export, name="define.xml").content))
    assert not sdtm.findall(".//def:Origin[@Type='Predecessor']", NS)
