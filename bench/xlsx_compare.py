"""Two workbooks of the export compared cell for cell (issue 29 item 7: the XLSX writer may change
the bytes of a worksheet, not its cells), whatever their bytes: every worksheet tokenised and each
cell's position resolved — its `r` where given, else the row after the row before and the column
after the cell before, as SpreadsheetML says — then (row, column, attributes but `r`, content)
compared; the other parts byte for byte. With `--openpyxl`, also every sheet read back by openpyxl
(read-only, values and their types; slow: about a minute per million cells).

    .venv/bin/python bench/xlsx_compare.py main/datasets.xlsx branch/datasets.xlsx [--openpyxl]

Written for workbooks of exports/xlsx.py: inline strings, no `<c/>` without content.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
import zipfile
from collections.abc import Iterator

TOKEN = re.compile(
    rb'<row(?: r="(\d+)")?>'
    rb'|<c((?: (?!r=)[a-z]+="[^"]*")*)(?: r="([A-Z]+)(\d+)")?((?: [a-z]+="[^"]*")*)>(.*?)</c>'
    rb"|</row>",
    re.S,
)
PARTS = ("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml")


def _column(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def cells(sheet: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """(row, column, attributes but r, content) of each cell of a worksheet's XML, in order."""
    row = column = 0
    start = sheet.index(b"<sheetData>") + len(b"<sheetData>")
    end = sheet.index(b"</sheetData>")
    at = start
    for found in TOKEN.finditer(sheet, start, end):
        if found.start() != at:
            raise ValueError(f"not a row or a cell at byte {at}: {sheet[at : at + 80]!r}")
        at = found.end()
        token = found.group(0)
        if token.startswith(b"<row"):
            row = int(found.group(1)) if found.group(1) else row + 1
            column = 0
        elif token != b"</row>":
            if found.group(3):
                column = _column(found.group(3))
                if int(found.group(4)) != row:
                    raise ValueError(f"cell {token[:40]!r} in row {row}")
            else:
                column += 1
            yield row, column, (found.group(2) + found.group(5)).strip(), found.group(6)
    if at != end:
        raise ValueError(f"not a row or a cell at byte {at}")


def compare_xml(one: zipfile.ZipFile, other: zipfile.ZipFile) -> str:
    names = sorted(n for n in one.namelist() if n.startswith("xl/worksheets/"))
    if names != sorted(n for n in other.namelist() if n.startswith("xl/worksheets/")):
        raise SystemExit("the worksheets differ")
    for part in PARTS:
        if one.read(part) != other.read(part):
            raise SystemExit(f"{part} differs")
    total, references = 0, [0, 0]
    for name in names:
        first, second = one.read(name), other.read(name)
        references[0] += first.count(b' r="')
        references[1] += second.count(b' r="')
        count = 0
        for count, (a, b) in enumerate(itertools.zip_longest(cells(first), cells(second)), start=1):
            if a != b:
                raise SystemExit(f"DIFFER {name}, cell {count}: {a} != {b}")
        total += count
    return f"{len(names)} worksheets, {total} cells equal; references (r=) {references[0]} and {references[1]}"


def compare_openpyxl(first: str, second: str) -> str:
    from openpyxl import load_workbook

    def trimmed(row: tuple[object, ...]) -> list[object]:
        values = list(row)
        while values and values[-1] is None:
            values.pop()
        return values

    one, other = load_workbook(first, read_only=True), load_workbook(second, read_only=True)
    if one.sheetnames != other.sheetnames:
        raise SystemExit("the sheets differ")
    rows = 0
    for name in one.sheetnames:
        pairs = itertools.zip_longest(one[name].iter_rows(values_only=True), other[name].iter_rows(values_only=True))
        for number, (a, b) in enumerate(pairs, start=1):
            if a is None or b is None:
                raise SystemExit(f"{name}: not as many rows")
            x, y = trimmed(a), trimmed(b)
            if x != y or list(map(type, x)) != list(map(type, y)):
                raise SystemExit(f"DIFFER {name}, row {number}: {x} != {y}")
            rows += 1
        print(f"openpyxl: {name} equal", flush=True)
    return f"openpyxl: {len(one.sheetnames)} sheets, {rows} rows equal (values and types)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--openpyxl", action="store_true", help="also read every sheet back by openpyxl")
    args = parser.parse_args()
    started = time.monotonic()
    with zipfile.ZipFile(args.first) as one, zipfile.ZipFile(args.second) as other:
        print(compare_xml(one, other), f"({time.monotonic() - started:.0f} s)", flush=True)
    if args.openpyxl:
        print(compare_openpyxl(args.first, args.second), f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
