"""A streaming XLSX writer (issue 29 item 7): each worksheet's XML is deflated as it is made, a
chunk of rows at a time, into a part file of its own — about ten times faster than openpyxl's
write-only mode, which builds an object per cell, and as flat in memory — and the ZIP is then
assembled from the parts (`write_zip`: local headers, the parts' bytes copied, the central
directory, ZIP64 where a size or an offset needs it). The worksheets of one workbook can so be
written by several processes at once (exports.services.write_files). DEFLATE is ISA-L's
(python-isal): any reader inflates it; it is not zlib's byte for byte.

The workbook is the smallest SpreadsheetML package Excel, LibreOffice and openpyxl open (ECMA-376
Part 1): content types, package and workbook relationships, the workbook (its sheets in order),
a style sheet with one date style (number format 14, so a date cell reads back as a date), and
one worksheet per sheet. Text is an inline string (`t="inlineStr"`, never a formula, whatever its
first character; characters XML 1.0 forbids are dropped); numbers are written with Python's
shortest repr; dates as Excel serial days (1900 date system) in the date style; a missing value
or an empty text is no cell at all. Rows and cells carry no reference (`r`, optional: a row is
the one after the row before, a cell in the column after the cell before) but a cell after an
absent one, so that a cell's text is its value's alone, made once per distinct value.
"""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain, compress, repeat
from operator import and_, mul, not_
from typing import Any, BinaryIO
from xml.sax.saxutils import escape, quoteattr

from isal import isal_zlib

from exports import facts

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
    """Each row's XML: `_cell` of each value (a missing value or an empty text no cell). Neither a
    row nor a cell carries its reference (`r`, optional in SpreadsheetML: a row is the one after
    the row before, a cell in the column after the cell before), but a cell whose column's cell
    before is absent: its `r` says where it is. The rows are numbered from `first` for those."""
    inner_of = _INNER
    for number, values in enumerate(rows, start=first):
        cells = []
        gap = False  # no cell in the column before
        for letter, value in zip(letters, values, strict=False):
            if value is None:
                gap = True
                continue
            kind = type(value)
            if kind is str or kind is int or (kind is float and value == value and value not in _INF):
                if kind is str and not value:
                    gap = True
                    continue
                # a text and an equal number never share an entry: (type, value) keys
                key = (kind is str, value)
                inner = inner_of.get(key)
                if inner is None:
                    if len(inner_of) >= _INNER_MAX:
                        inner_of.clear()
                    inner = inner_of[key] = _text_inner(value) if kind is str else _number_inner(value)
                cells.append(f'<c r="{letter}{number}"{inner}' if gap else "<c" + inner)
                gap = False
            else:
                cell = _cell(f"{letter}{number}" if gap else "", value)
                if not cell:
                    gap = True
                    continue
                cells.append(cell if gap else "<c" + cell[7:])  # (`<c r=""` made `<c`)
                gap = False
        yield f"<row>{''.join(cells)}</row>"


class Columns:
    """A sheet's rows given a block at a time as the list of each column's values
    (exports.datasets.column_chunks): written a column at a time (`_block_xml`)."""

    def __init__(self, chunks: Iterable[list[list[Any]]], cells: int = 0) -> None:
        self.chunks = chunks
        self.cells = cells  # rows × columns, if known: how heavy the sheet is to write


#: the types of value whose cell XML `_column_xml` keeps per value. Equal values of these types
#: have the same cell: a text never equals a number or a date, and an int and an equal float are
#: both written as the int (bools, date-times and decimals are not kept: True == 1 and
#: Decimal("1.0") == 1, but their cells differ)
_KEPT_TYPES = frozenset({str, int, float, date, type(None)})


#: types no value of another type equals (but a subclass's, whose cell is the same): a column whose
#: distinct values are of these needs no look at the type of every value
_TEXT_TYPES = frozenset({str, date, type(None)})


def _column_xml(values: list[Any], known: dict[Any, str], plain: dict[Any, str]) -> tuple[list[str] | None, int]:
    """The cell of each value of a column without its reference (`<c t="inlineStr">…</c>`, `<c>…`;
    "" for no cell), each distinct value formatted once (`_inner`) and kept in `plain`, and in
    `known` what follows `<c r="A1` in its cell with its reference (the closing quote and the
    rest; "" for no cell) — both the sheet's, never shared between threads — and whether the
    column has a cell on every row (1), on some (0) or on none (-1); None for a column with a
    value of another type than `_KEPT_TYPES` (`_block_xml` then formats it a cell at a time).
    Numbers: the type of every value is looked at, since True == 1 and Decimal("1.0") == 1 would
    hide behind an equal kept number."""
    distinct = facts.distinct(values)
    if not set(map(type, distinct)) <= _TEXT_TYPES and not facts.kinds(values) <= _KEPT_TYPES:
        return None, 0
    new = distinct.difference(known)
    if len(known) + len(new) > _INNER_MAX:
        known.clear()
        plain.clear()
        known[None] = plain[None] = ""
        new = distinct.difference(known)
    for value in new:
        inner = _inner(value)
        known[value] = '"' + inner if inner else ""
        plain[value] = "<c" + inner if inner else ""
    absent = list(map(known.__getitem__, distinct)).count("")
    present = 1 if not absent else -1 if absent == len(distinct) else 0
    return list(map(plain.__getitem__, values)), present


def _inner(value: Any) -> str:
    """What follows `<c r="…"` in `_cell` of `value` ("" for no cell)."""
    kind = type(value)
    if kind is str:
        return _text_inner(value) if value else ""
    if kind is int or (kind is float and value == value and value not in _INF):
        return _number_inner(value)
    cell = _cell("", value)
    return cell[7:] if cell else ""  # (after `<c r=""`)


def _plain_cell(value: Any) -> str:
    """`_cell` of `value` without its reference ("" for no cell)."""
    inner = _inner(value)
    return "<c" + inner if inner else ""


def _block_xml(letters: list[str], columns: list[list[Any]], first: int, known: tuple[dict[Any, str], ...]) -> str:
    """The rows' XML of a block given as its columns, numbered from `first` (the bytes of `_rows`),
    each column's cells made at once (`_column_xml`), the rows joined in C. Most cells are their
    value's text (no reference); a cell after an absent one has its reference: in three pieces
    joined with the rest in C (`<c r="A`, the row number, what follows) for a column after one
    with no cell on any row, else made one by one on the rows that need it."""
    count = len(columns[0]) if columns else 0
    after_of, plain_of = known
    numbers: list[str] = []
    pieces: list[Any] = [repeat("<row>", count)]
    #: the column before: 1 a cell on every row (or none before the first), -1 on none, else its
    #: cells ("" for none)
    before: Any = 1
    for letter, values in zip(letters, columns, strict=False):
        if not numbers and before != 1:
            numbers = list(map(str, range(first, first + count)))
        cells, present = _column_xml(values, after_of, plain_of)
        typed = cells is not None
        if cells is None:  # another type: each cell by `_cell`
            cells = list(map(_plain_cell, values))
            present = 1 if all(cells) else -1 if not any(cells) else 0
        if present < 0:
            before = -1
            continue
        if before == 1:
            pieces.append(cells)
        elif before == -1 and typed:  # every cell with its reference
            prefix = f'<c r="{letter}'
            after = list(map(after_of.__getitem__, values))
            if present:
                pieces += [repeat(prefix, count), numbers, after]
            else:  # no pieces where no cell: "" * False
                has = list(map(bool, after))
                pieces += [map(mul, repeat(prefix, count), has), map(mul, numbers, has), after]
        else:  # a reference where the column before has no cell (and this one has)
            need = map(and_, map(not_, before), map(bool, cells)) if before != -1 else map(bool, cells)
            for row in compress(range(count), need):
                cells[row] = f'<c r="{letter}{numbers[row]}"{cells[row][2:]}'
            pieces.append(cells)
        before = 1 if present else cells
    pieces.append(repeat("</row>", count))
    return "".join(chain.from_iterable(zip(*pieces, strict=True)))


#: every part dated the ZIP epoch, not the clock: the same export, the same bytes
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_DOS_TIME, _DOS_DATE = 0, (FIXED_DATE[0] - 1980) << 9 | FIXED_DATE[1] << 5 | FIXED_DATE[2]

#: DEFLATE of the parts: ISA-L's (python-isal, `isal_zlib`: the same raw DEFLATE streams any
#: reader inflates) at its level 1. On the worksheets' XML it took about a tenth of the CPU of
#: zlib's level 3 used before, for a file about as large (issue 29 item 7: DEFLATE was three
#: quarters of the workbook's CPU; bench/README.md, "XLSX's DEFLATE and sheets in parallel")
COMPRESS_LEVEL = 1

#: a ZIP field of 4 bytes holds less than this; from it on, the field says `_MASKED` and the value
#: is in the ZIP64 extra field (APPNOTE 4.5.3)
ZIP64_LIMIT = 0xFFFFFFFF
_MASKED = 0xFFFFFFFF


@dataclass
class Part:
    """One ZIP entry's data deflated into a file of its own (`path`) or into memory (`data`):
    its name in the workbook, CRC-32 and sizes, ready for `assemble_workbook` (which copies it
    behind its local header). Worksheets are written as parts so that each can be written by a
    process of its own (exports.services.write_files) and the ZIP assembled after."""

    name: str
    crc: int = 0
    size: int = 0
    compressed: int = 0
    path: str = ""
    data: bytes = b""


#: bytes given to the compressor at a time: ISA-L's output depends on how its input is cut
#: (zlib's does not), so the XML is deflated in pieces of this size whatever the writes were — a
#: sheet's rows read from the spool or from memory, a block at a time, give the same file
PIECE = 1 << 20


class _Deflating:
    """A file object deflating what is written to `out` (raw DEFLATE, `PIECE` bytes at a time)
    and counting it into `part`."""

    def __init__(self, out: BinaryIO, part: Part) -> None:
        self.out = out
        self.part = part
        self.deflate = isal_zlib.compressobj(COMPRESS_LEVEL, isal_zlib.DEFLATED, -15)
        self.buffer = bytearray()

    def write(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if len(buffer) < PIECE:
            return
        whole = len(buffer) - len(buffer) % PIECE
        with memoryview(buffer) as view:
            for start in range(0, whole, PIECE):
                self._deflate(view[start : start + PIECE])
        del buffer[:whole]

    def _deflate(self, data: Any) -> None:
        part = self.part
        part.crc = isal_zlib.crc32(data, part.crc)
        part.size += len(data)
        packed = self.deflate.compress(data)
        if packed:
            self.out.write(packed)
            part.compressed += len(packed)

    def close(self) -> None:
        if self.buffer:
            self._deflate(bytes(self.buffer))
            self.buffer.clear()
        packed = self.deflate.flush()
        self.out.write(packed)
        self.part.compressed += len(packed)


def _small_part(name: str, text: str) -> Part:
    part = Part(name)
    out = io.BytesIO()
    writer = _Deflating(out, part)
    writer.write(text.encode("utf-8"))
    writer.close()
    part.data = out.getvalue()
    return part


def write_sheet(out: BinaryIO, header: list[str], rows: Iterable[Iterable[Any]] | Columns) -> None:
    """One worksheet's XML to `out`: the header row, then `rows`, `CHUNK_ROWS` rows (or a block of
    `Columns`) a write."""
    letters = column_letters(max(len(header), 1))
    out.write(f"{_HEAD}<worksheet {_NS}><sheetData>".encode())
    out.write("".join(_rows(letters, [header], 1)).encode("utf-8"))
    if isinstance(rows, Columns):
        first = 2
        known: tuple[dict[Any, str], ...] = ({None: ""}, {None: ""})
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


def sheet_part(number: int, header: list[str], rows: Iterable[Iterable[Any]] | Columns, path: str) -> Part:
    """Worksheet `number` (from 1) deflated into the file at `path`."""
    part = Part(f"xl/worksheets/sheet{number}.xml", path=path)
    with open(path, "wb") as out:
        deflating = _Deflating(out, part)
        write_sheet(deflating, header, rows)  # type: ignore[arg-type]
        deflating.close()
    return part


def _local_header(part: Part) -> bytes:
    name = part.name.encode("ascii")
    if part.size >= ZIP64_LIMIT or part.compressed >= ZIP64_LIMIT:
        extra = struct.pack("<HHQQ", 1, 16, part.size, part.compressed)
        sizes, version = (_MASKED, _MASKED), 45
    else:
        extra, sizes, version = b"", (part.compressed, part.size), 20
    return (
        struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, version, 0, 8, _DOS_TIME, _DOS_DATE, part.crc, *sizes, len(name), len(extra)
        )
        + name
        + extra
    )


def _central_header(part: Part, offset: int) -> bytes:
    name = part.name.encode("ascii")
    fields = [part.compressed, part.size, offset]
    big = [value for value in (part.size, part.compressed, offset) if value >= ZIP64_LIMIT]  # APPNOTE's order
    extra = struct.pack(f"<HH{len(big)}Q", 1, 8 * len(big), *big) if big else b""
    compressed, size, offset = (_MASKED if value >= ZIP64_LIMIT else value for value in fields)
    version = 45 if big else 20
    return (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            3 << 8 | version,  # made by: Unix
            version,
            0,
            8,
            _DOS_TIME,
            _DOS_DATE,
            part.crc,
            compressed,
            size,
            len(name),
            len(extra),
            0,
            0,
            0,
            0o600 << 16,
            offset,
        )
        + name
        + extra
    )


def write_zip(out: BinaryIO, parts: list[Part]) -> None:
    """The ZIP of `parts`, in order, to `out`: each part's local header, then its deflated data
    (copied from its file in the kernel where it can be), then the central directory (ZIP64
    records when an entry, an offset or the directory passes the 4-byte fields)."""
    offset = 0
    directory = []
    for part in parts:
        head = _local_header(part)
        directory.append(_central_header(part, offset))
        out.write(head)
        if part.path:
            out.flush()
            with open(part.path, "rb") as data:
                _copy(data, out, part.compressed)
            out.seek(0, os.SEEK_END)  # a buffered `out` re-reads where its file now ends
        else:
            out.write(part.data)
        offset += len(head) + part.compressed
    central = b"".join(directory)
    count = len(parts)
    if offset >= ZIP64_LIMIT or len(central) >= ZIP64_LIMIT or count >= 0xFFFF:
        end64 = offset + len(central)
        central += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 3 << 8 | 45, 45, 0, 0, count, count, len(central), offset)
        central += struct.pack("<IIQI", 0x07064B50, 0, end64, 1)
        count, size, start = 0xFFFF, _MASKED, _MASKED
        central += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, 0)
    else:
        central += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), offset, 0)
    out.write(central)


def _copy(source: BinaryIO, out: BinaryIO, size: int) -> None:
    """`size` bytes of `source` to `out`: by copy_file_range between files, else read and written."""
    try:
        out_fd = out.fileno()
    except (AttributeError, io.UnsupportedOperation):
        out_fd = -1
    if out_fd >= 0 and hasattr(os, "copy_file_range"):
        left = size
        try:
            while left:
                copied = os.copy_file_range(source.fileno(), out_fd, left)
                if not copied:
                    break
                left -= copied
        except OSError:  # not between these files (another file system, an old kernel): read and write
            pass
        if not left:
            return
        source.seek(size - left)
        size = left
    while size:
        piece = source.read(min(1 << 20, size))
        if not piece:
            break
        out.write(piece)
        size -= len(piece)


def workbook_parts(titles: list[str]) -> list[Part]:
    """The workbook's parts other than its worksheets, for sheets named `titles` in order."""
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for n in range(1, len(titles) + 1)
    )
    listed = "".join(
        f'<sheet name={quoteattr(title)} sheetId="{n}" r:id="rId{n}"/>' for n, title in enumerate(titles, start=1)
    )
    links = "".join(
        f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
        for n in range(1, len(titles) + 1)
    )
    style = len(titles) + 1
    return [
        _small_part(
            "[Content_Types].xml",
            f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            f"{overrides}</Types>",
        ),
        _small_part(
            "_rels/.rels",
            f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        ),
        _small_part("xl/workbook.xml", f'{_HEAD}<workbook {_NS} xmlns:r="{_REL}"><sheets>{listed}</sheets></workbook>'),
        _small_part(
            "xl/_rels/workbook.xml.rels",
            f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{links}'
            f'<Relationship Id="rId{style}" Type="{_REL}/styles" Target="styles.xml"/></Relationships>',
        ),
        _small_part(
            "xl/styles.xml",
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
        ),
    ]


def write_workbook(out: BinaryIO, sheets: list[tuple[str, list[str], Iterable[Iterable[Any]] | Columns]]) -> None:
    """The workbook of `sheets` — (title, header, rows) in order — to `out`, one process: each
    worksheet deflated into a temporary file, then the ZIP assembled (`write_zip`), as
    exports.services.write_files does with each dataset's worksheets in the task writing its files."""
    with tempfile.TemporaryDirectory(prefix="xlsx-") as scratch:
        worksheets = [
            sheet_part(n, header, rows, os.path.join(scratch, f"sheet{n}"))
            for n, (_title, header, rows) in enumerate(sheets, start=1)
        ]
        write_zip(out, [*workbook_parts([title for title, _header, _rows in sheets]), *worksheets])
