"""A streaming XLSX writer (issue 29 item 7): the workbook's parts are written straight into the
ZIP, a chunk of rows at a time — about ten times faster than openpyxl's write-only mode, which
builds an object per cell, and as flat in memory.

The workbook is the smallest SpreadsheetML package Excel, LibreOffice and openpyxl open (ECMA-376
Part 1): content types, package and workbook relationships, the workbook (its sheets in order),
a style sheet with one date style (number format 14, so a date cell reads back as a date), and
one worksheet per sheet. Text is an inline string (`t="inlineStr"`, never a formula, whatever its
first character; characters XML 1.0 forbids are dropped); numbers are written with Python's
shortest repr; dates as Excel serial days (1900 date system) in the date style; a missing value
or an empty text is no cell at all.
"""

from __future__ import annotations

import operator
import re
import zipfile
from collections.abc import Iterable
from datetime import date, datetime
from itertools import chain, compress, repeat
from typing import Any, BinaryIO
from xml.sax.saxutils import escape, quoteattr

CHUNK_ROWS = 2_000
EXCEL_EPOCH = date(1899, 12, 30).toordinal()
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def column_letters(count: int) -> list[str]:
    """A, B, …, Z, AA, AB, … for `count` columns."""
    out = []
    for index in range(1, count + 1):
        letters = ""
        while index:
            index, rest = divmod(index - 1, 26)
            letters = chr(65 + rest) + letters
        out.append(letters)
    return out


def _cell(ref: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = escape(_ILLEGAL.sub("", value))
        space = ' xml:space="preserve"' if text != text.strip() else ""
        return f'<c r="{ref}" t="inlineStr"><is><t{space}>{text}</t></is></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f'<c r="{ref}" s="1"><v>{value.toordinal() - EXCEL_EPOCH}</v></c>'
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        return f'<c r="{ref}"><v>{int(value) if value.is_integer() else repr(value)}</v></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def _text_inner(value: str) -> str:
    """What follows `<c r="…"` in `_cell` of a non-empty text."""
    if not (value.isascii() and value.isprintable()):  # else no character XML forbids
        value = _ILLEGAL.sub("", value)
    if "&" in value or "<" in value or ">" in value:
        value = escape(value)
    space = ' xml:space="preserve"' if value != value.strip() else ""
    return f' t="inlineStr"><is><t{space}>{value}</t></is></c>'


def _number_inner(value: float | int) -> str:
    """What follows `<c r="…"` in `_cell` of an int or a float (not NaN or infinite)."""
    if type(value) is float:
        return f"><v>{int(value) if value.is_integer() else repr(value)}</v></c>"
    return f"><v>{value}</v></c>"


#: the cell XML after its reference, per text or number met (the same values on many rows)
_INNER: dict[Any, str] = {}
_INNER_MAX = 200_000
_INF = (float("inf"), float("-inf"))


def _rows(letters: list[str], rows: Iterable[Iterable[Any]], first: int) -> Iterable[str]:
    """Each row's XML: `_cell` of each value (a missing value or an empty text no cell)."""
    inner_of = _INNER
    for number, values in enumerate(rows, start=first):
        cells = []
        for letter, value in zip(letters, values, strict=False):
            if value is None:
                continue
            kind = type(value)
            if kind is str or kind is int or (kind is float and value == value and value not in _INF):
                if kind is str and not value:
                    continue
                # a text and an equal number never share an entry: (type, value) keys
                key = (kind is str, value)
                inner = inner_of.get(key)
                if inner is None:
                    if len(inner_of) >= _INNER_MAX:
                        inner_of.clear()
                    inner = inner_of[key] = _text_inner(value) if kind is str else _number_inner(value)
                cells.append(f'<c r="{letter}{number}"{inner}')
            else:
                cells.append(_cell(f"{letter}{number}", value))
        yield f'<row r="{number}">{"".join(cells)}</row>'


class Columns:
    """A sheet's rows given a block at a time as the list of each column's values
    (exports.datasets.column_chunks): written a column at a time (`_block_xml`)."""

    def __init__(self, chunks: Iterable[list[list[Any]]]) -> None:
        self.chunks = chunks


#: the types of value whose cell XML `_column_xml` keeps per value. Equal values of these types
#: have the same cell: a text never equals a number or a date, and an int and an equal float are
#: both written as the int (bools, date-times and decimals are not kept: True == 1 and
#: Decimal("1.0") == 1, but their cells differ)
_KEPT_TYPES = frozenset({str, int, float, date, type(None)})


def _column_xml(values: list[Any], known: dict[Any, str | None]) -> list[str | None] | None:
    """What follows `<c r="A1` in `_cell` of each value of a column (the closing quote and the
    rest; None for no cell), each distinct value formatted once and kept in `known` (the sheet's:
    never shared between threads); None for a column with a value of another type than
    `_KEPT_TYPES` (`_block_xml` then formats it a cell at a time)."""
    if not set(map(type, values)) <= _KEPT_TYPES:
        return None
    new = set(values).difference(known)
    if len(known) + len(new) > _INNER_MAX:
        known.clear()
        known[None] = None
        new = set(values).difference(known)
    for value in new:
        cell = _cell("", value)
        known[value] = cell[6:] if cell else None
    return list(map(known.__getitem__, values))


def _block_xml(letters: list[str], columns: list[list[Any]], first: int, known: dict[Any, str | None]) -> str:
    """The rows' XML of a block given as its columns, numbered from `first`: `_rows`' bytes,
    each column's cells made at once (`_column_xml`), the rows joined in C."""
    count = len(columns[0]) if columns else 0
    numbers = list(map(str, range(first, first + count)))
    cells: list[Any] = []
    for letter, values in zip(letters, columns, strict=False):
        after = _column_xml(values, known)
        if after is None:  # another type: each cell by `_cell`
            cells.append([_cell(letter + number, value) for number, value in zip(numbers, values, strict=True)])
            continue
        present = count - after.count(None)
        if not present:
            continue
        prefix = f'<c r="{letter}'
        if present == count:
            cells.append(list(map(operator.concat, map(operator.concat, repeat(prefix, count), numbers), after)))
        else:
            column = [""] * count
            for index in compress(range(count), after):
                column[index] = prefix + numbers[index] + after[index]  # type: ignore[operator]
            cells.append(column)
    return "".join(
        chain.from_iterable(
            zip(repeat('<row r="', count), numbers, repeat('">', count), *cells, repeat("</row>", count), strict=True)
        )
    )


#: every part dated the ZIP epoch, not the clock: the same export, the same bytes
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


#: DEFLATE level of the parts: 3, not zlib's default 6 — on the worksheets' XML about three times
#: faster for files about 7 % larger (issue 29 item 7: DEFLATE was half of the workbook's CPU)
COMPRESS_LEVEL = 3


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]  (Python 3.11; 3.13 names it compress_level)
    return info


def write_sheet(
    archive: zipfile.ZipFile, path: str, header: list[str], rows: Iterable[Iterable[Any]] | Columns
) -> None:
    """One worksheet: the header row, then `rows`, written `CHUNK_ROWS` rows at a time."""
    letters = column_letters(max(len(header), 1))
    with archive.open(_entry(path), "w", force_zip64=True) as out:
        out.write(f"{_HEAD}<worksheet {_NS}><sheetData>".encode())
        out.write("".join(_rows(letters, [header], 1)).encode("utf-8"))
        if isinstance(rows, Columns):
            first = 2
            known: dict[Any, str | None] = {None: None}
            for columns in rows.chunks:
                out.write(_block_xml(letters, columns, first, known).encode("utf-8"))
                first += len(columns[0]) if columns else 0
            out.write(b"</sheetData></worksheet>")
            return
        parts: list[str] = []
        for row in _rows(letters, rows, 2):
            parts.append(row)
            if len(parts) >= CHUNK_ROWS:
                out.write("".join(parts).encode("utf-8"))
                parts = []
        parts.append("</sheetData></worksheet>")
        out.write("".join(parts).encode("utf-8"))


def write_workbook(out: BinaryIO, sheets: list[tuple[str, list[str], Iterable[Iterable[Any]]]]) -> None:
    """The workbook of `sheets` — (title, header, rows) in order — to `out`."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for n in range(1, len(sheets) + 1)
        )
        archive.writestr(
            _entry("[Content_Types].xml"),
            f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            f"{overrides}</Types>",
        )
        archive.writestr(
            _entry("_rels/.rels"),
            f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        listed = "".join(
            f'<sheet name={quoteattr(title)} sheetId="{n}" r:id="rId{n}"/>'
            for n, (title, _header, _rows) in enumerate(sheets, start=1)
        )
        archive.writestr(
            _entry("xl/workbook.xml"),
            f'{_HEAD}<workbook {_NS} xmlns:r="{_REL}"><sheets>{listed}</sheets></workbook>',
        )
        links = "".join(
            f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, len(sheets) + 1)
        )
        style = len(sheets) + 1
        archive.writestr(
            _entry("xl/_rels/workbook.xml.rels"),
            f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{links}'
            f'<Relationship Id="rId{style}" Type="{_REL}/styles" Target="styles.xml"/></Relationships>',
        )
        archive.writestr(
            _entry("xl/styles.xml"),
            f"{_HEAD}<styleSheet {_NS}>"
            '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>",
        )
        for n, (_title, header, rows) in enumerate(sheets, start=1):
            write_sheet(archive, f"xl/worksheets/sheet{n}.xml", header, rows)
