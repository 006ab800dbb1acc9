"""Define-XML 2.1 for the export's SDTM and ADaM datasets (issue 28), its stylesheet, and the
HTML rendering of it (lxml applying the stylesheet: browsers increasingly refuse XSLT on local
files, so `define.html` is shipped beside `define.xml`).

What each document carries (docs/exports.md "define.xml"):
- def:Standards (SDTMIG 3.4 or ADaMIG 1.3, and CDISC CT), the annotated CRF (`acrf.pdf`, the
  Data management II issue's annotated CRF; each collected variable points at it with a
  def:PDFPageRef of Type NamedDestination whose name is the CRF form, e.g. `AdverseEvent`), one
  ItemGroupDef per dataset (class, structure, keys, archive location = its XPT, comment = its
  notes) and one ItemDef per variable (data type, length = the longest value written, label,
  codelist, origin: Collected with its CRF form, Derived with its MethodDef, Assigned, Protocol
  or, in ADaM, Predecessor);
- CodeLists with the values actually used (sponsor values in an extensible codelist marked
  def:ExtendedValue), MedDRA (the CTCAE v5.0 LLT codes) and CTCAE v5.0 as external
  dictionaries for AEDECOD/AELLT and AETOXGR;
- value-level metadata for the findings' results per test code (LB, VS, RS, FA, CP, GF: --ORRES,
  --ORRESU, --STRESN by --TESTCD), each with its WhereClauseDef;
- def:CommentDef for each dataset's notes and each expected variable left out.

Validated in the tests against the Define-XML 2.1 schema shipped in the PyPI package odmlib.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from exports import ct, metadata
from exports.datasets import Dataset

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NSMAP = {None: ODM, "def": DEF, "xlink": XLINK}
STYLESHEET = "define2-1.xsl"
STYLESHEET_PATH = Path(__file__).resolve().parent / "data" / STYLESHEET
ACRF = "acrf.pdf"
CT_VERSION = "2024-03-29"

#: SDTM dataset → (CRF form: the annotated CRF's named destination, collected variables)
COLLECTED: dict[str, tuple[str, set[str]]] = {
    "DM": ("Demographics", {"AGE", "SEX", "DMDTC"}),
    "EX": (
        "Infusion",
        {"EXDOSE", "EXLOT", "EXSTDTC", "EXENDTC", "EXTRT", "EXDOSU", "EXDOSFRM", "EXDOSFRQ", "EXROUTE"},
    ),
    "AE": (
        "AdverseEvent",
        {
            "AETERM",
            "AESER",
            "AEACN",
            "AEREL",
            "AEOUT",
            "AESCONG",
            "AESDISAB",
            "AESDTH",
            "AESHOSP",
            "AESLIFE",
            "AESMIE",
            "AETOXGR",
            "AESTDTC",
            "AEENDTC",
        },
    ),
    "CM": (
        "ConcomitantMedication",
        {"CMTRT", "CMCAT", "CMCLASCD", "CMINDC", "CMDOSE", "CMDOSU", "CMROUTE", "CMSTDTC", "CMENDTC"},
    ),
    "DS": ("SubjectStatus", {"DSTERM", "DSSTDTC"}),
    "LB": ("LabResult", {"LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI", "LBDTC", "LBCAT"}),
    "VS": ("VitalSigns", {"VSORRES", "VSORRESU", "VSDTC"}),
    "MH": ("MedicalHistory", {"MHTERM", "MHSTDTC", "MHENDTC"}),
    "RS": ("DiseaseAssessment", {"RSORRES", "RSDTC"}),
    # issue 28 item 9
    "FA": ("CrsAssessment", {"FAORRES", "FADTC"}),
    "CP": ("MrdTest", {"CPORRES", "CPSPEC", "CPGATDEF", "CPDTC"}),
    "GF": ("MolecularMrdTest", {"GFORRES", "GFSPEC", "GFDTC"}),
    "DV": ("ProtocolDeviation", {"DVTERM", "DVCAT", "DVSCAT", "DVSTDTC"}),
    "HO": ("HospitalStay", {"HOTERM", "HOSTDTC", "HOENDTC"}),
    "IE": ("EligibilityAssessment", {"IEORRES", "IEDTC"}),
    "PR": ("CellCollection", {"PRSTDTC"}),
}
ASSIGNED = {"STUDYID", "DOMAIN", "RDOMAIN", "IDVAR", "QNAM", "QLABEL", "QORIG", "QEVAL", "SITEID", "COUNTRY"}
TRIAL_DESIGN = {"TS", "TA", "TE", "TV", "TI"}
#: derivations: variable name (or suffix after the domain prefix) → method text
METHODS: dict[str, str] = {
    "USUBJID": "STUDYID, SITEID and SUBJID joined by '-'.",
    "SUBJID": "The subject ID assigned at enrolment, or the screening number of a subject never enrolled.",
    "SEQ": "Sequence number of the record within the subject, in date order (1, 2, ...).",
    "DY": "Study day of the date relative to DM.RFSTDTC (first CAR-T infusion): date - RFSTDTC + 1 on or after it, "
    "date - RFSTDTC before it (no day 0).",
    "EPOCH": "The EPOCH of the subject's SE element that contains the record's start or collection date; "
    "null before informed consent or after the end of study.",
    "LOBXFL": "Y on the last non-missing result per test dated on or before the first lymphodepletion dose.",
    "STRESC": "The original result converted to the study's standard unit (clinical.units), as text.",
    "STRESN": "The original result converted to the study's standard unit (clinical.units).",
    "STRESU": "The study's standard unit of the test.",
    "STNRLO": "The reference range low limit converted to the standard unit.",
    "STNRHI": "The reference range high limit converted to the standard unit.",
    "NRIND": "LOW / HIGH / NORMAL: the result against the reference range of the report or the site's table.",
    "RFSTDTC": "Start date/time of the first CAR-T infusion (EX).",
    "RFENDTC": "End of the last exposure (EX).",
    "RFXSTDTC": "Earliest EXSTDTC (the first lymphodepletion dose).",
    "RFXENDTC": "Latest EXENDTC.",
    "RFICDTC": "Date of the first informed consent.",
    "RFPENDTC": "Latest date of the subject's participation once the subject's study has ended.",
    "DTHDTC": "Date of death from the death form.",
    "DTHFL": "Y when the subject has a recorded death.",
    "ARMCD": "The dose level assigned at enrolment; null for a screen failure or a subject not assigned.",
    "ARM": "The description of the assigned dose level.",
    "ACTARMCD": "The dose level of the first CAR-T infusion.",
    "ACTARM": "The description of the dose level of the first CAR-T infusion.",
    "ARMNRS": "Why ARM is null: SCREEN FAILURE, NOT ASSIGNED or ASSIGNED, NOT TREATED.",
    "DECOD": "The CTCAE v5.0 term (a MedDRA LLT) chosen on the CRF, or the sponsor's standard term.",
    "LLT": "The CTCAE v5.0 term (a MedDRA LLT).",
    "LLTCD": "The MedDRA LLT code NCI publishes with the CTCAE v5.0 term.",
    "BODSYS": "The MedDRA SOC NCI publishes with the CTCAE v5.0 term.",
    "SOC": "The MedDRA SOC NCI publishes with the CTCAE v5.0 term.",
    "TESTCD": "The test's short name (CDISC CT where a term exists, else a documented sponsor code).",
    "TEST": "The test's name (CDISC CT where a term exists, else a documented sponsor name).",
    "QVAL": "The supplemental qualifier's value (see QNAM).",
    "IDVARVAL": "The parent record's --SEQ.",
    "SPID": "The record's identifier in the EDC (links the record to its audit trail).",
    "GRPID": "The group of related records: MA<id> = the marrow assessment of an MRD test (CP, GF); CRS-<n> / "
    "ICANS-<n> = the episode of a CRS or ICANS assessment (FA).",
    "AECAT": "CRS or ICANS for the AEs the system keeps in step with a CRS or ICANS episode; null otherwise.",
    "VISITNUM": "The order of the visit in the study schedule (TV.VISITNUM).",
    "VISIT": "The name of the visit in the study schedule (TV.VISIT), upper case.",
    "AGEU": "YEARS when AGE is present.",
    "TOX": "The CTCAE v5.0 term of the lab-derived grade (CLINICAL_SPEC §3), stored on the result.",
    "TOXGR": "The CTCAE v5.0 grade derived from the standard result and LLN in force (CLINICAL_SPEC §3); "
    "0 within the normal range.",
}


GRADES = (
    "AETOXGR holds the grade number: CTCAE v5.0, or ASTCT 2019 for the CRS and ICANS AEs (AECAT = CRS / ICANS); "
    "the scale of each record is in SUPPAE.TOXGRSCL. MedDRA: the LLT codes NCI publishes with CTCAE v5.0."
)

LB_GRADES = (
    "LBTOX/LBTOXGR: the CTCAE v5.0 term and grade derived from the result and the reference range in force "
    "(neutrophils, platelets, haemoglobin, lymphocytes); 0 = within the normal range for the term."
)


#: RELREC's variables (issue 28): what each relationship relates (exports.domains.build_relrec)
RELREC_METHODS = {
    "IDVARVAL": "The value of IDVAR in the related record (its --SEQ or --GRPID); null in a dataset-level "
    "relationship (RELTYPE given).",
    "RELTYPE": "ONE / MANY in the dataset-level relationship AEGRADE (AE.AESPID to FA.FASPID); null otherwise.",
    "RELID": "AEGRADE; CRS<n> / ICANS<n> for the AE and assessments of episode n; MA<id> for a marrow assessment's "
    "response and MRD records.",
}


def _method_for(dataset: Dataset, name: str) -> str:
    if dataset.standard == metadata.ADAMIG and name in _adam().ADAM_METHODS:
        return str(_adam().ADAM_METHODS[name])
    if dataset.name == "RELREC" and name in RELREC_METHODS:
        return RELREC_METHODS[name]
    if name in METHODS:
        return METHODS[name]
    suffix = name[2:] if len(name) > 2 and name[:2] == dataset.name[:2] else name
    for key in (suffix, suffix[-3:], suffix[-2:]):
        if key in METHODS:
            return METHODS[key]
    if name.endswith("DY"):
        return METHODS["DY"]
    label = dataset.column(name).label or name
    return f"{label}: set by the export from the CRF record by the rule in the {dataset.name} comment."


def _crf_version_notes(dataset: Dataset) -> list[str]:
    """The CRF versions of the form a collected dataset comes from (issue 27 item 3): which
    version added or removed which field, so a reviewer knows why older records lack a value."""
    from crf.registry import crf_models
    from crf.versions import describe

    form = COLLECTED.get(dataset.name)
    if form is None:
        return []
    for model in crf_models().values():
        if model.__name__ == form[0]:
            text = describe(model)
            return [text] if text else []
    return []


def _adam() -> Any:
    from exports import adam  # the ADaM builders declare their variables' predecessors

    return adam


def _origin(dataset: Dataset, name: str) -> tuple[str, str | None]:
    """(origin type, CRF form for a collected variable or source variable of a predecessor).
    An ADaM variable copied unchanged from SDTM or ADSL is a Predecessor naming its source
    (exports.adam.PREDECESSORS, e.g. ADSL.AGE from DM.AGE); the others are Derived (issue 28)."""
    if dataset.standard == metadata.ADAMIG:
        source = _adam().PREDECESSORS.get(dataset.name, {}).get(name)
        return ("Predecessor", source) if source else ("Derived", None)
    if dataset.name in TRIAL_DESIGN:
        return ("Protocol", None)
    if name in ASSIGNED:
        return ("Assigned", None)
    form = COLLECTED.get(dataset.name)
    if form and name in form[1]:
        return ("Collected", form[0])
    return ("Derived", None)


def _origin_element(item: etree._Element, kind: str, form: str | None) -> None:
    """def:Origin: a collected variable points at its CRF form in the annotated CRF (a named
    destination of acrf.pdf); derived and assigned ones come from the sponsor."""
    origin = etree.SubElement(item, f"{{{DEF}}}Origin", {"Type": kind})
    if kind == "Collected":
        origin.set("Source", "Investigator")
        if form:
            doc = etree.SubElement(origin, f"{{{DEF}}}DocumentRef", {"leafID": "LF.acrf"})
            etree.SubElement(doc, f"{{{DEF}}}PDFPageRef", {"PageRefs": form, "Type": "NamedDestination"})
    elif kind in {"Derived", "Assigned"}:
        origin.set("Source", "Sponsor")
    elif kind == "Predecessor" and form:
        _describe(origin, form)  # the source variable, e.g. DM.AGE


def oid(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def _data_type(column: Any, values: list[Any]) -> str:
    if column.type == "Date":
        return "integer"
    if column.type == "Num":
        present = [v for v in values if v is not None and v == v]
        return "integer" if all(float(v).is_integer() for v in present) else "float"
    if column.name.endswith("DTC") or column.name in {"SSTDTC", "DCUTDTC"}:
        return "datetime" if any(isinstance(v, str) and "T" in v for v in values) else "date"
    if column.name.endswith("DUR") and column.name != "TEDUR":
        return "durationDatetime"
    return "text"


NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _value_type(column: Any, values: list[Any]) -> str:
    """A result's data type for one test: a character result whose values are all numbers is
    integer or float (value-level metadata says what the test's results are)."""
    present = [str(v) for v in values if v not in (None, "")]
    if column.type == "Char" and present and all(NUMBER.match(v) for v in present):
        return "integer" if all("." not in v for v in present) else "float"
    return _data_type(column, values)


def _length(column: Any, values: list[Any], data_type: str) -> int | None:
    if data_type in {"date", "datetime", "durationDatetime"}:
        return None
    if column.type == "Date":
        return 8  # a SAS date: the 8-byte numeric, shown with DATE9.
    if data_type == "text":
        present = [v for v in values if v is not None and v != ""]
        if all(type(v) is str for v in present) and "".join(present).isascii():
            return max(map(len, present), default=1)  # ASCII text: as many bytes as characters
        return max([len(str(v).encode()) for v in present] or [1])
    if data_type == "integer":
        return max([len(str(int(float(v)))) for v in values if v not in (None, "") and v == v] or [1])
    return 8  # float: the 8-byte SAS numeric


def _text(parent: etree._Element, tag: str, text: str, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrs)
    translated = etree.SubElement(element, f"{{{ODM}}}TranslatedText", {XML_LANG: "en"})
    translated.text = text
    return element


def _describe(parent: etree._Element, text: str) -> None:
    _text(parent, f"{{{ODM}}}Description", text)


@cache
def _classes() -> dict[str, str]:
    import csv

    with (metadata.DATA_DIR / "sdtmig34_Datasets.csv").open(encoding="utf-8-sig") as handle:
        return {row["Dataset Name"]: row["Class"] for row in csv.DictReader(handle)}


@cache
def _structures() -> dict[str, str]:
    import csv

    with (metadata.DATA_DIR / "sdtmig34_Datasets.csv").open(encoding="utf-8-sig") as handle:
        return {row["Dataset Name"]: row["Structure"] for row in csv.DictReader(handle)}


SDTM_CLASS = {
    "Special-Purpose": "SPECIAL PURPOSE",
    "Interventions": "INTERVENTIONS",
    "Events": "EVENTS",
    "Findings": "FINDINGS",
    "Findings About": "FINDINGS",
    "Trial Design": "TRIAL DESIGN",
    "Relationship": "RELATIONSHIP",
    "Study Reference": "STUDY REFERENCE",
}
ADAM_CLASS = {
    metadata.ADSL: "SUBJECT LEVEL ANALYSIS DATASET",
    metadata.BDS: "BASIC DATA STRUCTURE",
    metadata.OCCDS: "OCCURRENCE DATA STRUCTURE",
    metadata.OCCDS_CM: "OCCURRENCE DATA STRUCTURE",
}
VALUE_LEVEL = {
    "LB": ("LBTESTCD", ["LBORRES", "LBORRESU", "LBSTRESN"]),
    "VS": ("VSTESTCD", ["VSORRES", "VSORRESU", "VSSTRESN"]),
}
VALUE_LEVEL |= {"RS": ("RSTESTCD", ["RSORRES", "RSSTRESC"]), "FA": ("FATESTCD", ["FAORRES", "FAORRESU", "FASTRESN"])}
VALUE_LEVEL |= {
    "CP": ("CPTESTCD", ["CPORRES", "CPORRESU", "CPSTRESN"]),
    "GF": ("GFTESTCD", ["GFORRES", "GFORRESU", "GFSTRESN"]),
}


def _class(dataset: Dataset) -> str:
    if dataset.standard == metadata.ADAMIG:
        return ADAM_CLASS.get(dataset.ig_dataset, "ADAM OTHER")
    if dataset.name.startswith("SUPP") or dataset.name == "RELREC":
        return "RELATIONSHIP"
    raw = _classes().get(dataset.ig_dataset, "")
    return SDTM_CLASS.get(raw, raw.upper() or "SPECIAL PURPOSE")


def _structure(dataset: Dataset) -> str:
    if dataset.standard == metadata.ADAMIG:
        return {
            metadata.ADSL: "One record per subject",
            metadata.OCCDS: "One record per subject per event",
            metadata.OCCDS_CM: "One record per subject per medication record",
        }.get(dataset.ig_dataset, "One record per subject per parameter per analysis timepoint")
    if dataset.name.startswith("SUPP"):
        return "One record per supplemental qualifier per related parent domain record"
    return _structures().get(dataset.ig_dataset, "One record per " + "/".join(dataset.keys))


def define_xml(
    built: Iterable[Dataset],
    *,
    standard: str,
    study_code: str,
    study_title: str,
    cutoff: str,
    created: datetime,
    source_version: str,
    protocol_version: str = "",
) -> bytes:
    """The Define-XML 2.1 document of the `standard` datasets among `built` (bytes, UTF-8)."""
    datasets = [d for d in built if d.standard == standard]
    is_adam = standard == metadata.ADAMIG
    root = etree.Element(
        f"{{{ODM}}}ODM",
        {
            "FileType": "Snapshot",
            "FileOID": oid(f"DEFINE.{study_code}.{'ADAM' if is_adam else 'SDTM'}"),
            "ODMVersion": "1.3.2",
            "CreationDateTime": created.strftime("%Y-%m-%dT%H:%M:%S"),
            "Originator": "TrialSite EDC",
            "SourceSystem": "TrialSite EDC",
            "SourceSystemVersion": source_version or "unknown",
            f"{{{DEF}}}Context": "Submission",
        },
        nsmap=NSMAP,
    )
    study = etree.SubElement(root, f"{{{ODM}}}Study", {"OID": oid(f"ST.{study_code}")})
    glob = etree.SubElement(study, f"{{{ODM}}}GlobalVariables")
    etree.SubElement(glob, f"{{{ODM}}}StudyName").text = study_code
    etree.SubElement(glob, f"{{{ODM}}}StudyDescription").text = study_title or study_code
    # the protocol version in force on the cut-off date (study.amendments, issue 27 item 2)
    etree.SubElement(glob, f"{{{ODM}}}ProtocolName").text = (
        f"{study_code} protocol version {protocol_version}" if protocol_version else study_code
    )
    mdv = etree.SubElement(
        study,
        f"{{{ODM}}}MetaDataVersion",
        {
            "OID": oid(f"MDV.{study_code}.{'ADAM' if is_adam else 'SDTM'}"),
            "Name": f"{study_code} {'ADaM' if is_adam else 'SDTM'} datasets, cut-off {cutoff}",
            "Description": f"{'ADaMIG 1.3' if is_adam else 'SDTMIG 3.4'} datasets of {study_code}, "
            f"clinical cut-off {cutoff}" + (f", protocol version {protocol_version}" if protocol_version else ""),
            f"{{{DEF}}}DefineVersion": "2.1.0",
        },
    )
    standards = etree.SubElement(mdv, f"{{{DEF}}}Standards")
    ig_oid = "STD.ADAMIG" if is_adam else "STD.SDTMIG"
    etree.SubElement(
        standards,
        f"{{{DEF}}}Standard",
        {
            "OID": ig_oid,
            "Name": "ADaMIG" if is_adam else "SDTMIG",
            "Type": "IG",
            "Version": "1.3" if is_adam else "3.4",
            "Status": "Final",
        },
    )
    etree.SubElement(
        standards,
        f"{{{DEF}}}Standard",
        {
            "OID": "STD.CT",
            "Name": "CDISC/NCI",
            "Type": "CT",
            "PublishingSet": "ADaM" if is_adam else "SDTM",
            "Version": CT_VERSION,
            "Status": "Final",
        },
    )
    if not is_adam:
        acrf = etree.SubElement(mdv, f"{{{DEF}}}AnnotatedCRF")
        etree.SubElement(acrf, f"{{{DEF}}}DocumentRef", {"leafID": "LF.acrf"})

    item_defs: list[etree._Element] = []
    codelists: dict[str, tuple[Any, set[str]]] = {}
    methods: dict[str, str] = {}
    comments: dict[str, str] = {}
    value_lists: list[etree._Element] = []
    where_clauses: list[etree._Element] = []
    groups: list[etree._Element] = []

    for dataset in datasets:
        ig = {m.name: m for m in metadata.variables(standard, dataset.ig_dataset)} if not is_adam else {}
        group = etree.Element(
            f"{{{ODM}}}ItemGroupDef",
            {
                "OID": f"IG.{dataset.name}",
                "Name": dataset.name,
                "Repeating": "No" if dataset.keys == ("USUBJID",) else "Yes",
                "IsReferenceData": "Yes" if dataset.name in TRIAL_DESIGN else "No",
                "SASDatasetName": dataset.name,
                "Purpose": "Analysis" if is_adam else "Tabulation",
                f"{{{DEF}}}Structure": _structure(dataset),
                f"{{{DEF}}}StandardOID": ig_oid,
                f"{{{DEF}}}ArchiveLocationID": f"LF.{dataset.name}",
            },
        )
        if not is_adam and not dataset.name.startswith("SUPP"):
            group.set("Domain", dataset.name)
        note = " ".join([*dataset.notes, *_crf_version_notes(dataset)])
        omitted = " ".join(f"{k}: {v}" for k, v in dataset.omitted.items())
        if note or omitted:
            comments[f"COM.{dataset.name}"] = note + (f" Expected variables left out - {omitted}" if omitted else "")
            group.set(f"{{{DEF}}}CommentOID", f"COM.{dataset.name}")
        _describe(group, dataset.label)
        for order, column in enumerate(dataset.columns, start=1):
            values = dataset.values(column.name)
            item_oid = f"IT.{dataset.name}.{column.name}"
            ref = etree.SubElement(
                group,
                f"{{{ODM}}}ItemRef",
                {
                    "ItemOID": item_oid,
                    "OrderNumber": str(order),
                    "Mandatory": "Yes" if (ig.get(column.name) and ig[column.name].core == "Req") else "No",
                },
            )
            if column.name in dataset.keys:
                ref.set("KeySequence", str(dataset.keys.index(column.name) + 1))
            kind, form = _origin(dataset, column.name)
            if kind == "Derived":
                method_oid = f"MT.{dataset.name}.{column.name}"
                methods[method_oid] = _method_for(dataset, column.name)
                ref.set("MethodOID", method_oid)
            data_type = _data_type(column, values)
            item = etree.Element(
                f"{{{ODM}}}ItemDef",
                {"OID": item_oid, "Name": column.name, "DataType": data_type, "SASFieldName": column.name},
            )
            length = _length(column, values, data_type)
            if length is not None:
                item.set("Length", str(length))
            if data_type == "float":
                item.set("SignificantDigits", "6")
            if column.type == "Date":
                item.set(f"{{{DEF}}}DisplayFormat", "DATE9.")
            _describe(item, column.label or column.name)
            if column.name == "AETOXGR":
                item.set(f"{{{DEF}}}CommentOID", "COM.GRADES")
                comments["COM.GRADES"] = GRADES
            elif column.name in {"LBTOX", "LBTOXGR"}:
                item.set(f"{{{DEF}}}CommentOID", "COM.LBGRADES")
                comments["COM.LBGRADES"] = LB_GRADES
            meta = ig.get(column.name)
            known = [c for c in (meta.codelists if meta else ()) if c in ct.CODELISTS]
            used = set(values) - {None, ""}
            if not all(type(v) is str for v in used):
                used = {str(v) for v in values if v not in (None, "")}
            if known and used:  # a codelist lists the values used: none used, none listed
                cl_oid = f"CL.{dataset.name}.{column.name}"
                codelists[cl_oid] = (ct.CODELISTS[known[0]], used)
                etree.SubElement(item, f"{{{ODM}}}CodeListRef", {"CodeListOID": cl_oid})
            elif column.name in {"AEDECOD", "AELLT", "AEBODSYS", "AESOC"}:
                etree.SubElement(item, f"{{{ODM}}}CodeListRef", {"CodeListOID": "CL.MEDDRA"})
                codelists["CL.MEDDRA"] = (None, set())
            elif column.name in {"AETOXGR", "LBTOXGR"}:
                etree.SubElement(item, f"{{{ODM}}}CodeListRef", {"CodeListOID": "CL.CTCAE"})
                codelists["CL.CTCAE"] = (None, set())
            _origin_element(item, kind, form)
            vl = VALUE_LEVEL.get(dataset.name)
            if vl and column.name in vl[1] and vl[0] in {c.name for c in dataset.columns}:
                # one pass over the column and the test codes (not one over the rows per test:
                # LB at 10,000 subjects has millions of rows, spooled to disk, issue 29 item 7)
                codes = dataset.values(vl[0])
                by_test: dict[Any, list[Any]] = {}
                for value, code in zip(values, codes, strict=True):
                    if code:
                        by_test.setdefault(code, []).append(value)
                tests = sorted(by_test)
                if tests:
                    vl_oid = f"VL.{dataset.name}.{column.name}"
                    etree.SubElement(item, f"{{{DEF}}}ValueListRef", {"ValueListOID": vl_oid})
                    value_list = etree.Element(f"{{{DEF}}}ValueListDef", {"OID": vl_oid})
                    for number, test in enumerate(tests, start=1):
                        wc_oid = f"WC.{dataset.name}.{vl[0]}.{oid(test)}"
                        vitem_oid = f"{item_oid}.{oid(test)}"
                        vref = etree.SubElement(
                            value_list,
                            f"{{{ODM}}}ItemRef",
                            {"ItemOID": vitem_oid, "OrderNumber": str(number), "Mandatory": "No"},
                        )
                        etree.SubElement(vref, f"{{{DEF}}}WhereClauseRef", {"WhereClauseOID": wc_oid})
                        if column.name == vl[1][0]:
                            clause = etree.Element(f"{{{DEF}}}WhereClauseDef", {"OID": wc_oid})
                            check = etree.SubElement(
                                clause,
                                f"{{{ODM}}}RangeCheck",
                                {
                                    "SoftHard": "Soft",
                                    f"{{{DEF}}}ItemOID": f"IT.{dataset.name}.{vl[0]}",
                                    "Comparator": "EQ",
                                },
                            )
                            etree.SubElement(check, f"{{{ODM}}}CheckValue").text = test
                            where_clauses.append(clause)
                        tested = by_test[test]
                        vtype = _value_type(column, tested)
                        vitem = etree.Element(
                            f"{{{ODM}}}ItemDef",
                            {"OID": vitem_oid, "Name": column.name, "DataType": vtype, "SASFieldName": column.name},
                        )
                        vlength = _length(column, tested, vtype)
                        if vlength is not None:
                            vitem.set("Length", str(vlength))
                        if vtype == "float":
                            vitem.set("SignificantDigits", "6")
                        _describe(vitem, f"{column.label} ({test})")
                        _origin_element(vitem, kind, form)
                        item_defs.append(vitem)
                    value_lists.append(value_list)
            item_defs.append(item)
        etree.SubElement(group, f"{{{DEF}}}Class", {"Name": _class(dataset)})
        leaf = etree.SubElement(
            group, f"{{{DEF}}}leaf", {"ID": f"LF.{dataset.name}", f"{{{XLINK}}}href": f"{dataset.name.lower()}.xpt"}
        )
        etree.SubElement(leaf, f"{{{DEF}}}title").text = f"{dataset.name.lower()}.xpt"
        groups.append(group)

    for element in value_lists + where_clauses + groups + item_defs:
        mdv.append(element)
    for cl_oid, (codelist, used) in sorted(codelists.items()):
        if cl_oid == "CL.MEDDRA":
            cl = etree.SubElement(mdv, f"{{{ODM}}}CodeList", {"OID": cl_oid, "Name": "MedDRA", "DataType": "text"})
            etree.SubElement(
                cl,
                f"{{{ODM}}}ExternalCodeList",
                {"Dictionary": "MedDRA", "Version": "LLT codes published with CTCAE v5.0"},
            )
            continue
        if cl_oid == "CL.CTCAE":
            cl = etree.SubElement(
                mdv, f"{{{ODM}}}CodeList", {"OID": cl_oid, "Name": "Toxicity grade", "DataType": "text"}
            )
            etree.SubElement(cl, f"{{{ODM}}}ExternalCodeList", {"Dictionary": "CTCAE", "Version": "5.0"})
            continue
        cl = etree.SubElement(
            mdv,
            f"{{{ODM}}}CodeList",
            {"OID": cl_oid, "Name": codelist.name, "DataType": "text", f"{{{DEF}}}StandardOID": "STD.CT"},
        )
        for value in sorted(used):
            entry = etree.SubElement(cl, f"{{{ODM}}}EnumeratedItem", {"CodedValue": value})
            if value not in codelist.terms:
                entry.set(f"{{{DEF}}}ExtendedValue", "Yes")
        etree.SubElement(cl, f"{{{ODM}}}Alias", {"Context": "nci:ExtCodeID", "Name": codelist.code})
    for method_oid, text in sorted(methods.items()):
        method = etree.SubElement(
            mdv,
            f"{{{ODM}}}MethodDef",
            {"OID": method_oid, "Name": f"Algorithm for {method_oid[3:]}", "Type": "Computation"},
        )
        _describe(method, text)
    for comment_oid, text in sorted(comments.items()):
        comment = etree.SubElement(mdv, f"{{{DEF}}}CommentDef", {"OID": comment_oid})
        _describe(comment, text)
    if not is_adam:
        leaf = etree.SubElement(mdv, f"{{{DEF}}}leaf", {"ID": "LF.acrf", f"{{{XLINK}}}href": ACRF})
        etree.SubElement(leaf, f"{{{DEF}}}title").text = "Annotated Case Report Form"
    document = etree.ElementTree(root)
    root.addprevious(etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{STYLESHEET}"'))
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def stylesheet() -> bytes:
    return STYLESHEET_PATH.read_bytes()


def define_html(document: bytes) -> bytes:
    """The define document rendered by its stylesheet (lxml's XSLT 1.0), as a browser would."""
    transform = etree.XSLT(etree.fromstring(stylesheet()))
    result = transform(etree.fromstring(document))
    return etree.tostring(result, method="html", encoding="UTF-8", doctype="<!DOCTYPE html>")
