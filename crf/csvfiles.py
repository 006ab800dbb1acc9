"""Reading and writing CSV files people make with spreadsheets (issue 6 item 3).

Reading: the encoding is detected (UTF-8 with or without BOM; UTF-16 with BOM, Excel's
"Unicode text"; else GB18030, what Excel on Chinese Windows writes) and the delimiter guessed
from the header line; the caller shows both and the user may override the encoding. Cells are
returned exactly as written: a cell starting with `=`, `+`, `-` or `@` is text, never a formula.

Writing: every cell a spreadsheet could evaluate as a formula (first character `=`, `+`, `-`,
`@`, tab or carriage return) is prefixed with `'` (OWASP "CSV injection"), so opening a report
or template we wrote never runs anything.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

#: Encodings a user may choose; "" means detect.
ENCODINGS = {
    "utf-8": gettext_lazy("UTF-8"),
    "utf-8-sig": gettext_lazy("UTF-8 with BOM"),
    "gb18030": gettext_lazy("GB18030 (Excel on Chinese Windows)"),
    "utf-16": gettext_lazy("UTF-16 (Excel “Unicode text”)"),
}
DELIMITERS = {",": gettext_lazy("comma"), ";": gettext_lazy("semicolon"), "\t": gettext_lazy("tab")}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000


class UnreadableFile(ValueError):
    """The file cannot be read as CSV in the chosen encoding (message for the user)."""


@dataclass(frozen=True)
class CsvFile:
    """A decoded file: header, data rows with their row numbers as a spreadsheet shows them
    (the header is row 1), and how it was read."""

    file_name: str
    sha256: str
    encoding: str
    detected: bool
    delimiter: str
    header: list[str]
    rows: list[tuple[int, list[str]]]

    @property
    def delimiter_name(self) -> str:
        return str(DELIMITERS[self.delimiter])

    @property
    def encoding_name(self) -> str:
        return str(ENCODINGS[self.encoding])


def sha256_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def detect_encoding(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _decode(raw: bytes, encoding: str) -> str:
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            _("The file is not valid %(encoding)s (byte %(position)s). Choose another encoding.")
            % {"encoding": ENCODINGS[encoding], "position": exc.start + 1}
        ) from None
    return text.removeprefix("\ufeff")  # a BOM read as UTF-8 or UTF-16 is not data


def _guess_delimiter(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(raw: bytes, *, file_name: str, encoding: str = "") -> CsvFile:
    """Decode and split a file. `encoding` "" detects it. Blank lines and rows whose first cell
    starts with `#` (the documentation row of our templates) are skipped but keep counting."""
    if len(raw) > MAX_BYTES:
        raise UnreadableFile(_("The file is larger than %(mb)s MB: split it.") % {"mb": MAX_BYTES // (1024 * 1024)})
    if encoding and encoding not in ENCODINGS:
        raise UnreadableFile(_("Unknown encoding."))
    chosen = encoding or detect_encoding(raw)
    text = _decode(raw, chosen)
    if not text.strip():
        raise UnreadableFile(_("The file is empty."))
    if "\x00" in text:  # PostgreSQL text and jsonb cannot hold NUL (issue 21)
        row = text.count("\n", 0, text.index("\x00")) + 1
        raise UnreadableFile(_("Row %(row)s contains a NUL character: remove it and upload again.") % {"row": row})
    delimiter = _guess_delimiter(text.splitlines()[0])
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise UnreadableFile(_("The file is not valid CSV: %(error)s") % {"error": exc}) from None
    header = [cell.strip() for cell in records[0]]
    rows = [
        (number, record)
        for number, record in enumerate(records[1:], start=2)
        if any(cell.strip() for cell in record) and not record[0].lstrip().startswith("#")
    ]
    if len(rows) > MAX_ROWS:
        raise UnreadableFile(_("The file has more than %(max)s rows: split it.") % {"max": MAX_ROWS})
    return CsvFile(
        file_name=file_name,
        sha256=sha256_of(raw),
        encoding=chosen,
        detected=not encoding,
        delimiter=delimiter,
        header=header,
        rows=rows,
    )


def formula_safe(value: Any) -> Any:
    """The one rule for every file a spreadsheet may open (OWASP "CSV injection"): text starting
    with =, +, -, @, tab or CR gets a leading `'`; any other value is returned as it is, so a
    number written to XLSX stays a number."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralised(value: object) -> str:
    """A cell as we write it: text a spreadsheet would evaluate gets a leading `'`."""
    return formula_safe("" if value is None else str(value))


def write_csv(rows: Iterable[Iterable[object]]) -> bytes:
    """UTF-8 with BOM (so Excel on Chinese Windows reads Chinese correctly), comma-separated,
    every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([neutralised(cell) for cell in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
