"""Variable-level metadata of the SDTMIG 3.4 and ADaMIG 1.3 (exports/data/, from the CDISC
Library), read once. The conformance checks and the dataset builders take names, labels, types,
core (Req / Exp / Perm), codelist codes and order from here, never from a copy in code."""

from __future__ import annotations

import csv
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
    table = _sdtm() if standard == SDTMIG else _adam()
    return table[dataset]


def variable(standard: str, dataset: str, name: str) -> VariableMeta | None:
    return next((meta for meta in variables(standard, dataset) if meta.name == name), None)
