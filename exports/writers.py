"""Writers: CSV (UTF-8, the values as built) and SAS transport version 5 (pyreadstat).

SAS v5 transport allows names of at most 8 characters, labels of at most 40, character values
of at most 200 bytes, and this project writes ASCII only. pyreadstat silently truncates what
does not fit, so `xpt_problems` checks every name, label and value first and `xpt_bytes`
refuses to write a dataset with any problem (`XptError` lists each one with its dataset,
variable and row): never a silent truncation. Numeric dates ("Date" columns, e.g. ADaM *DT)
are written as SAS dates with the DATE9. format; SDTM --DTC stay ISO 8601 text, as SDTMIG types
them Char.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from crf.csvfiles import formula_safe
from exports.datasets import Dataset
from exports.findings import ERROR, Finding

NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
MAX_LABEL = 40
MAX_CHAR_BYTES = 200


class XptError(ValueError):
    def __init__(self, problems: list[Finding]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems[:20]))


def _ascii(text: str) -> bool:
    return text.isascii()


def xpt_problems(dataset: Dataset) -> list[Finding]:
    """Everything that would not survive SAS transport v5 unchanged."""
    out: list[Finding] = []

    def err(check: str, message: str, variable: str = "", row: int | None = None) -> None:
        out.append(Finding(ERROR, check, dataset.name, message, variable, row))

    if not NAME.match(dataset.name):
        err("xpt-name", "dataset name must be 1-8 characters: a letter, then letters, digits or _")
    if len(dataset.label) > MAX_LABEL or not _ascii(dataset.label):
        err("xpt-label", f"dataset label must be ASCII and at most {MAX_LABEL} characters: {dataset.label!r}")
    for column in dataset.columns:
        if not NAME.match(column.name):
            err("xpt-name", "variable name must be 1-8 characters: a letter, then letters, digits or _", column.name)
        if len(column.label) > MAX_LABEL or not _ascii(column.label):
            err("xpt-label", f"label must be ASCII and at most {MAX_LABEL} characters: {column.label!r}", column.name)
    for number, row in enumerate(dataset.rows, start=1):
        for column in dataset.columns:
            value = row.get(column.name)
            if value is None:
                continue
            if column.type == "Char":
                if not isinstance(value, str):
                    err("xpt-type", f"character variable holds {type(value).__name__}", column.name, number)
                elif not _ascii(value):
                    err("xpt-ascii", f"non-ASCII text {value[:40]!r}", column.name, number)
                elif len(value.encode()) > MAX_CHAR_BYTES:
                    err("xpt-length", f"{len(value.encode())} bytes, more than {MAX_CHAR_BYTES}", column.name, number)
            elif column.type == "Num":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    err("xpt-type", f"numeric variable holds {type(value).__name__}", column.name, number)
            elif column.type == "Date" and (isinstance(value, datetime) or not isinstance(value, date)):
                err("xpt-type", f"date variable holds {type(value).__name__}", column.name, number)
    return out


def frame(dataset: Dataset) -> Any:
    """The dataset as a pandas DataFrame typed for pyreadstat (missing text = "", number = NaN)."""
    import pandas as pd

    data: dict[str, list[Any]] = {}
    for column in dataset.columns:
        values = dataset.values(column.name)
        if column.type == "Char":
            data[column.name] = ["" if v is None else v for v in values]
        elif column.type == "Num":
            data[column.name] = [math.nan if v is None else float(v) for v in values]
        else:
            data[column.name] = list(values)
    if dataset.rows:
        return pd.DataFrame(data, columns=[c.name for c in dataset.columns])
    return pd.DataFrame(
        {c.name: pd.Series([], dtype="float64" if c.type != "Char" else "object") for c in dataset.columns}
    )


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def sas_stamp(when: datetime) -> bytes:
    """A transport header's date-time, ``ddMMMyy:hh:mm:ss`` (English months whatever the locale)."""
    return f"{when.day:02d}{MONTHS[when.month - 1]}{when.year % 100:02d}:{when:%H:%M:%S}".encode("ascii")


def stamp_headers(raw: bytes, when: datetime) -> bytes:
    """Put `when` in the created and modified fields of the library and member headers, where
    pyreadstat writes the clock: the same export then gives the same bytes (DESIGN §5). In v5
    each header is 80-byte records; a record starting ``SAS     `` ends with the created stamp
    (bytes 64–80) and the record after it starts with the modified one (bytes 0–16)."""
    stamp = sas_stamp(when)
    out = bytearray(raw)
    end = raw.index(b"HEADER RECORD*******OBS")
    for start in range(0, end, 80):
        if raw[start : start + 8] == b"SAS     ":
            out[start + 64 : start + 80] = stamp
            out[start + 80 : start + 96] = stamp
    return bytes(out)


def xpt_bytes(dataset: Dataset, *, stamped: datetime | None = None) -> bytes:
    """The dataset as SAS transport v5 bytes; XptError when anything would not fit unchanged.
    `stamped` (the export's snapshot time) replaces the clock in the headers."""
    import pyreadstat

    problems = xpt_problems(dataset)
    if problems:
        raise XptError(problems)
    df = frame(dataset)
    formats = {c.name: "DATE9." for c in dataset.columns if c.type == "Date"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{dataset.name.lower()}.xpt"
        pyreadstat.write_xport(
            df,
            str(path),
            file_label=dataset.label,
            column_labels=[c.label for c in dataset.columns],
            table_name=dataset.name,
            file_format_version=5,
            variable_format=formats or None,
        )
        raw = path.read_bytes()
    return stamp_headers(raw, stamped) if stamped is not None else raw


NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def csv_value(value: Any) -> str:
    """One CSV cell: "" for missing, integral numbers without ".0", dates ISO 8601, and text a
    spreadsheet would evaluate as a formula (first character =, +, -, @, tab or CR, and not a
    plain number such as "-19") prefixed with ' (OWASP "CSV injection", as crf.csvfiles)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value if NUMBER.match(value) else formula_safe(value)
    return str(value)


def csv_bytes(dataset: Dataset) -> bytes:
    """The dataset as CSV for analysis tools (UTF-8 without BOM, LF line ends, a header of
    variable names, "" for missing values, formula-like text neutralised by `csv_value`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in dataset.columns])
    for row in dataset.rows:
        writer.writerow([csv_value(row.get(c.name)) for c in dataset.columns])
    return out.getvalue().encode("utf-8")


def json_rows(dataset: Dataset) -> list[list[Any]]:
    """The rows as JSON-ready lists in column order (dates ISO 8601)."""
    return [
        [v.isoformat() if isinstance(v, date) else v for v in (row.get(c.name) for c in dataset.columns)]
        for row in dataset.rows
    ]


# --- Dataset-JSON 1.1 (issue 29) -------------------------------------------------------------------

DATASET_JSON_VERSION = "1.1.0"


def _json_type(column: Any, values: list[Any]) -> dict[str, Any]:
    """A column's Dataset-JSON dataType (and targetDataType / displayFormat): Char → string; a
    SAS date → date shown DATE9. and stored as an ISO string (numeric in XPT: targetDataType
    integer); Num → integer when every value is whole, else double."""
    if column.type == "Char":
        return {"dataType": "string"}
    if column.type == "Date":
        return {"dataType": "date", "targetDataType": "integer", "displayFormat": "DATE9."}
    present = [v for v in values if v is not None]
    if all(float(v).is_integer() for v in present):
        return {"dataType": "integer"}
    return {"dataType": "double"}


def _json_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "date":
        return value.isoformat()
    if kind == "integer":
        return int(value)
    if kind == "double":
        return float(value)
    return value


def dataset_json_parts(
    dataset: Dataset, *, created: datetime, study_oid: str, metadata_version_oid: str, source_version: str
) -> tuple[dict[str, Any], Any]:
    """The Dataset-JSON 1.1 metadata of `dataset` and an iterator over its rows (JSON-ready lists
    in column order): item OIDs are the define.xml ones (IT.<dataset>.<variable>), the dataset's
    itemGroupOID its ItemGroupDef's (IG.<dataset>). The optional ITEMGROUPDATASEQ is not emitted."""
    columns = []
    kinds = []
    for column in dataset.columns:
        typed = _json_type(column, dataset.values(column.name))
        kinds.append(typed["dataType"])
        entry: dict[str, Any] = {
            "itemOID": f"IT.{dataset.name}.{column.name}",
            "name": column.name,
            "label": column.label or column.name,
            **typed,
        }
        if column.name in dataset.keys:
            entry["keySequence"] = dataset.keys.index(column.name) + 1
        columns.append(entry)
    meta = {
        "datasetJSONCreationDateTime": created.strftime("%Y-%m-%dT%H:%M:%S"),
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"{study_oid}.{dataset.name}",
        "originator": "TrialSite EDC",
        "sourceSystem": {"name": "TrialSite EDC", "version": source_version or "unknown"},
        "studyOID": study_oid,
        "metaDataVersionOID": metadata_version_oid,
        "metaDataRef": "define.xml" if dataset.standard.startswith("SDTM") else "define-adam.xml",
        "itemGroupOID": f"IG.{dataset.name}",
        "records": len(dataset.rows),
        "name": dataset.name,
        "label": dataset.label,
        "columns": columns,
    }
    names = [c.name for c in dataset.columns]

    def rows() -> Any:
        for row in dataset.rows:
            yield [_json_value(row.get(name), kind) for name, kind in zip(names, kinds, strict=True)]

    return meta, rows()


def dataset_json_bytes(meta: dict[str, Any], rows: Any) -> bytes:
    """Dataset-JSON (one JSON object, rows under "rows"), written row by row."""
    out = io.StringIO()
    head = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))
    out.write(head[:-1] + ',"rows":[')
    for index, row in enumerate(rows):
        out.write(("," if index else "") + json.dumps(row, ensure_ascii=False, separators=(",", ":")))
    out.write("]}")
    return out.getvalue().encode("utf-8")


def dataset_ndjson_bytes(meta: dict[str, Any], rows: Any) -> bytes:
    """Dataset-JSON as NDJSON: the metadata object on the first line, then one row array a line."""
    out = io.StringIO()
    out.write(json.dumps(meta, ensure_ascii=False, separators=(",", ":")) + "\n")
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    return out.getvalue().encode("utf-8")


# --- XLSX workbook (issue 29) ----------------------------------------------------------------------

XLSX_MAX_ROWS = 1_048_575  # rows per sheet under the header (Excel's 1,048,576 rows)


def xlsx_bytes(built: list[Dataset]) -> bytes:
    """One workbook: a Contents sheet (dataset, label, standard, rows, sheets), then a sheet per
    dataset (header of variable names; a dataset over 1,048,575 rows continues on NAME_2, …).
    Written in openpyxl's write-only mode (rows streamed); text is never read as a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    contents = workbook.create_sheet("Contents")
    contents.append(["Dataset", "Label", "Standard", "Rows", "Sheets"])
    for dataset in built:
        parts = max(1, math.ceil(len(dataset.rows) / XLSX_MAX_ROWS))
        sheets = [dataset.name if n == 0 else f"{dataset.name}_{n + 1}" for n in range(parts)]
        contents.append([dataset.name, dataset.label, dataset.standard, len(dataset.rows), ", ".join(sheets)])
        names = [c.name for c in dataset.columns]
        for part, title in enumerate(sheets):
            sheet = workbook.create_sheet(title)
            sheet.append(names)
            for row in dataset.rows[part * XLSX_MAX_ROWS : (part + 1) * XLSX_MAX_ROWS]:
                cells = []
                for name in names:
                    value = row.get(name)
                    if isinstance(value, str) and value.startswith("="):
                        cell = WriteOnlyCell(sheet, value=value)
                        cell.data_type = "s"  # text, not a formula
                        cells.append(cell)
                    else:
                        cells.append(value)
                sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
