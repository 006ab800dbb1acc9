"""Variable-level metadata of the SDTMIG 3.4 and ADaMIG 1.3 (exports/data/, from the CDISC
Library), read once. The conformance checks and the dataset builders take names, labels, types,
core (Req / Exp / Perm), codelist codes and order from here, never from a copy in code."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
SDTMIG = "SDTMIG 3.4"
ADAMIG = "ADaMIG 1.3"


@dataclass(frozen=True)
class VariableMeta:
    dataset: str  # the IG's dataset (SDTM domain, "SUPPQUAL") or ADaM data structure name
    name: str
    label: str
    type: str  # "Char" or "Num"
    core: str  # "Req", "Exp" or "Perm" (ADaM also "Cond")
    codelists: tuple[str, ...]
    value_domain: str  # e.g. "ISO 8601 datetime or interval", "MedDRA"
    order: int

    @property
    def iso8601(self) -> str:
        """ "datetime", "duration" or "" from the IG's described value domain."""
        if "ISO 8601 duration" in self.value_domain:
            return "duration"
        if "ISO 8601" in self.value_domain:
            return "datetime"
        return ""


def _codes(text: str) -> tuple[str, ...]:
    return tuple(code.strip() for code in text.replace(",", ";").split(";") if code.strip())


@cache
def _sdtm() -> dict[str, tuple[VariableMeta, ...]]:
    out: dict[str, list[VariableMeta]] = {}
    with open(DATA_DIR / "sdtmig34_Variables.csv", encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            meta = VariableMeta(
                dataset=row["Dataset Name"],
                name=row["Variable Name"],
                label=row["Variable Label"],
                type=row["Type"],
                core=row["Core"],
                codelists=_codes(row["CDISC CT Codelist Code(s)"]),
                value_domain=row["Described Value Domain(s)"] or "",
                order=int(row["Variable Order"]),
            )
            out.setdefault(meta.dataset, []).append(meta)
    return {name: tuple(sorted(rows, key=lambda m: m.order)) for name, rows in out.items()}


@cache
def _adam() -> dict[str, tuple[VariableMeta, ...]]:
    out: dict[str, list[VariableMeta]] = {}
    with open(DATA_DIR / "adamig13_Variables.csv", encoding="utf-8-sig", newline="") as handle:
        for order, row in enumerate(csv.DictReader(handle), start=1):
            meta = VariableMeta(
                dataset=row["Data Structure Name"],
                name=row["Variable Name"],
                label=row["Variable Label"],
                type=row["Type"],
                core=row["Core"],
                codelists=_codes(row["CDISC CT Codelist Code(s)"] or ""),
                value_domain=row["Described Value Domain(s)"] or "",
                order=order,
            )
            out.setdefault(meta.dataset, []).append(meta)
    return {name: tuple(rows) for name, rows in out.items()}


@cache
def sdtm_dataset_labels() -> dict[str, str]:
    with open(DATA_DIR / "sdtmig34_Datasets.csv", encoding="utf-8-sig", newline="") as handle:
        return {row["Dataset Name"]: row["Dataset Label"] for row in csv.DictReader(handle)}


def variables(standard: str, dataset: str) -> tuple[VariableMeta, ...]:
    """The IG's variables of `dataset` in the IG's order ("" → KeyError: no such dataset)."""
    if standard == ADAMIG:
        return adam_structure(dataset)
    return _sdtm()[dataset]


def variable(standard: str, dataset: str, name: str) -> VariableMeta | None:
    return next((meta for meta in variables(standard, dataset) if meta.name == name), None)


# --- ADaM: structures, templated names, sponsor-defined variables ---------------------------------

#: ADaM dataset structures as the exports name them → the ADaMIG 1.3 variable table's structure.
ADSL = "Subject-Level Analysis Dataset"
BDS = "Basic Data Structure"
#: ADaMIG 1.3's variable table has no Occurrence Data Structure (OCCDS v1.1 is a separate CDISC
#: document, not shipped): ADAE is checked against a structure assembled from what the IG does ship
#: (see `occds`).
OCCDS = "Occurrence Data Structure"
#: the same structure for con-meds (ADCM, issue 29): the SDTMIG CM variables in place of AE's
OCCDS_CM = "Occurrence Data Structure (CM)"

_PLACEHOLDERS = (("xx", r"\d\d"), ("zz", r"\d\d"), ("y", r"[1-9]"), ("w", r"[1-9]"))


def template(name: str) -> re.Pattern[str] | None:
    """The regular expression of an ADaMIG templated name (TRTxxP, ANLzzFL, CRITyFL, *DT), or
    None for a plain name. Placeholders are lower case in the IG; '*' is a user-chosen prefix."""
    if name == name.upper() and not name.startswith("*"):
        return None
    pattern = re.escape(name)
    if name.startswith("*"):
        pattern = r"[A-Z][A-Z0-9]{0,6}?" + re.escape(name[1:])
    for placeholder, regex in _PLACEHOLDERS:
        pattern = pattern.replace(placeholder, regex)
    return re.compile(f"^{pattern}$")


def _concrete(meta: VariableMeta, name: str) -> VariableMeta:
    """`meta` (a templated variable) for the concrete `name`: placeholders in the label filled in
    (TRT01P → "Planned Treatment for Period 01"); a '*' suffix keeps its generic label."""
    label = meta.label
    if not meta.name.startswith("*"):
        digits = re.findall(r"\d+", name)
        for placeholder in ("xx", "zz", "y", "w"):
            if placeholder in meta.name and digits:
                label = re.sub(rf"\b{placeholder}\b", digits.pop(0), label, count=1)
    return VariableMeta(meta.dataset, name, label, meta.type, meta.core, meta.codelists, meta.value_domain, meta.order)


@cache
def occds(domain: str = "AE") -> tuple[VariableMeta, ...]:
    """The Occurrence Data Structure for ADAE, from the shipped metadata: the identifiers
    (STUDYID, USUBJID required), BDS's record-level treatment, timing, toxicity-grade and flag
    variables, and the SDTMIG AE variables (copied from SDTM they keep SDTM's names, labels and
    types; AETERM, AEDECOD and AESEQ stay required, the rest permissible; DOMAIN is not carried)."""
    name = OCCDS if domain == "AE" else OCCDS_CM
    required = {"AE": ("AESEQ", "AETERM", "AEDECOD"), "CM": ("CMSEQ", "CMTRT")}[domain]
    out: list[VariableMeta] = []
    for meta in _adam()[BDS]:
        if meta.name in ("STUDYID", "USUBJID", "SUBJID", "SITEID", "ASEQ") or meta.core in ("Cond", "Perm"):
            if meta.name in ("PARAM", "PARAMCD", "AVAL", "AVALC", "BASE", "CHG", "DTYPE", "CNSR"):
                continue
            out.append(VariableMeta(name, meta.name, meta.label, meta.type, meta.core, meta.codelists, "", len(out)))
    for meta in _sdtm()[domain]:
        if meta.name in ("STUDYID", "DOMAIN", "USUBJID"):
            continue
        core = "Req" if meta.name in required else "Perm"
        out.append(VariableMeta(name, meta.name, meta.label, meta.type, core, meta.codelists, "", len(out)))
    return tuple(out)


def adam_structure(structure: str) -> tuple[VariableMeta, ...]:
    if structure == OCCDS_CM:
        return occds("CM")
    return occds() if structure == OCCDS else _adam()[structure]


def adam_match(structure: str, name: str) -> VariableMeta | None:
    """The IG variable `name` is in `structure` (exactly, or through a template such as TRTxxP,
    ANLzzFL, *DT), or — for BDS and OCCDS datasets — an ADSL variable copied in (ADaMIG 1.3 §3:
    any ADSL variable may be added to another ADaM dataset), as permissible. None: sponsor-defined."""
    own = adam_structure(structure)
    for meta in own:
        if meta.name == name:
            return meta
    for meta in own:
        pattern = template(meta.name)
        if pattern is not None and pattern.match(name):
            return _concrete(meta, name)
    if structure != ADSL:
        found = adam_match(ADSL, name)
        if found is not None:
            return VariableMeta(
                structure, found.name, found.label, found.type, "Perm", found.codelists, "", found.order
            )
    return None


def adam_required(structure: str) -> list[VariableMeta]:
    return [m for m in adam_structure(structure) if m.core == "Req"]
