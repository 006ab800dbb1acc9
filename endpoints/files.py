"""CSV and XLSX renderings of the endpoint tables (the canonical JSON is the record).

Tables of the sensitivity analysis (issue 30; `"analysis": "sensitivity"`) follow the main ones,
marked: in CSV the title line starts "# sensitivity: <key>" and says on what basis; in XLSX the
sheet is named "S <key>" and its first line says the same. Survival and incidence are in percent
with one decimal like every proportion (no separate full-precision column: the estimator's
precision is in clinical.survival and its tests)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from openpyxl import Workbook


def tables_csv(tables: list[dict[str, Any]]) -> str:
    """One CSV: per table a title line, its header and rows, then a blank line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for table in tables:
        writer.writerow([f"# {_marked(table)}{table['key']}: {table['title']} (population: {table['population']})"])
        writer.writerow(table["columns"])
        for row in table["rows"]:
            writer.writerow([row.get(column, "") for column in table["columns"]])
        writer.writerow([])
    return out.getvalue()


def tables_xlsx(tables: list[dict[str, Any]], *, stamped: datetime) -> bytes:
    """One sheet per table. The document's dates are the snapshot time, not the clock."""
    book = Workbook()
    book.remove(book.active)
    for table in tables:
        sensitivity = table.get("analysis") == "sensitivity"
        sheet = book.create_sheet(title=(f"S {table['key']}" if sensitivity else table["key"])[:31])
        sheet.append([f"{_marked(table)}{table['title']} (population: {table['population']})"])
        sheet.append(table["columns"])
        for row in table["rows"]:
            sheet.append([row.get(column, "") for column in table["columns"]])
    naive = stamped.replace(tzinfo=None)
    book.properties.created = naive
    book.properties.modified = naive
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


SENSITIVITY_MARK = "sensitivity (re-derived under the settings in force at the cut-off): "


def _marked(table: dict[str, Any]) -> str:
    return SENSITIVITY_MARK if table.get("analysis") == "sensitivity" else ""
