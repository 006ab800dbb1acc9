"""Writers: CSV (UTF-8, the values as built), SAS transport version 5 (exports.xpt), Dataset-JSON
1.1 (JSON and NDJSON) and an XLSX workbook.

Each format has a `write_*` function that streams the rows to a binary file object in chunks
(issue 29 item 7: no whole-file string, no DataFrame) and a `*_bytes` wrapper over an in-memory
buffer for small data and the tests: both give the same bytes.

SAS v5 transport allows names of at most 8 characters, labels of at most 40, character values
of at most 200 bytes, and this project writes ASCII only. pyreadstat silently truncates what
does not fit (exports.xpt writes pyreadstat's bytes, streamed), so `xpt_problems` checks every
name, label and value first and `write_xpt`
refuses to write a dataset with any problem (`XptError` lists each one with its dataset,
variable and row): never a silent truncation. Numeric dates ("Date" columns, e.g. ADaM *DT)
are written as SAS dates with the DATE9. format; SDTM --DTC stay ISO 8601 text, as SDTMIG types
them Char.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import operator
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any, BinaryIO

import numpy as np

from crf.csvfiles import FORMULA_PREFIXES, formula_safe
from exports import facts
from exports.datasets import Dataset, column_blocks, column_chunks, row_tuples
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


def _values_fit(dataset: Dataset) -> bool:
    """True when every value certainly fits (`xpt_problems` finds nothing in the rows), checked a
    column at a time; False when one may not: the rows are then checked one by one, for the
    findings in row order. When they fit, the XPT widths of the variables (exports.xpt.widths:
    found on the way, the longest text of each character variable) are kept on the dataset for
    `write_xpt` (`_xpt_widths`), so that it does not read the rows once more for them."""
    blocks = getattr(dataset.rows, "column_blocks", None)
    sized = []
    for column in dataset.columns:
        longest = 1 if column.type == "Char" else 8
        for block in blocks(column.name) if blocks is not None else [dataset.values(column.name)]:
            width = _block_fits(column.type, block)
            if width < 0:
                return False
            longest = max(longest, width)
        sized.append(longest)
    dataset._xpt_widths = (dataset.rows, sized)  # type: ignore[attr-defined]
    return True


_NONE = type(None)
#: the types of the values (None aside) that certainly fit a variable of each kind
_FITTING_TYPES = {"Char": {str, _NONE}, "Num": {int, float, _NONE}, "Date": {date, _NONE}}


def _block_fits(kind: str, values: list[Any]) -> int:
    """Whether every value of `values` (None: missing) fits a variable of `kind`: -1 if not, else
    the length of the longest text (0 for other kinds); the types are looked at in C (`map`, a
    set), not value by value in Python."""
    fitting = _FITTING_TYPES.get(kind)
    if fitting is None:
        return 0
    if kind == "Num":  # every value's type (True == 1: a bool would hide behind an equal number)
        return 0 if facts.kinds(values) <= fitting else -1
    # texts and dates: their distinct values (no value of another type equals a text or a date
    # but an instance of a subclass, written the same)
    distinct = facts.distinct(values)
    if not set(map(type, distinct)) <= fitting:
        return -1
    if kind == "Char":
        # (ASCII text: as many bytes as characters)
        texts = list(filter(None, distinct))
        longest = max(map(len, texts), default=0)
        return longest if "".join(texts).isascii() and longest <= MAX_CHAR_BYTES else -1
    return 0


def xpt_problems(dataset: Dataset) -> list[Finding]:
    """Everything that would not survive SAS transport v5 unchanged (found once for spooled
    rows, exports.spool, which do not change: the conformance checks and the XPT writer both ask)."""
    if not hasattr(dataset.rows, "tuples"):
        return _xpt_problems(dataset)
    known = getattr(dataset, "_xpt_problems", None)
    if known is not None and known[0] is dataset.rows:
        return list(known[1])
    found = _xpt_problems(dataset)
    dataset._xpt_problems = (dataset.rows, found)  # type: ignore[attr-defined]
    return list(found)


def _xpt_problems(dataset: Dataset) -> list[Finding]:
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
    if _values_fit(dataset):
        return out
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


def write_xpt(
    dataset: Dataset, out: BinaryIO, *, stamped: datetime | None = None, blocks: Iterable[list[list[Any]]] | None = None
) -> int:
    """Write the dataset as SAS transport v5 to `out` (exports.xpt: the bytes pyreadstat writes,
    streamed); XptError when anything would not fit unchanged. `stamped` (the export's snapshot
    time) is the headers' created and modified time instead of the clock. `blocks`: the rows as
    `column_chunks` of every column gives them, read elsewhere (exports.tee). Returns the size."""
    from exports import xpt

    problems = xpt_problems(dataset)
    if problems:
        raise XptError(problems)
    known = getattr(dataset, "_xpt_widths", None)
    return xpt.write(
        out,
        name=dataset.name,
        label=dataset.label,
        columns=[(c.name, c.label, c.type) for c in dataset.columns],
        rows=dataset.rows,
        when=stamped if stamped is not None else datetime.now(),  # the clock, as pyreadstat
        sized=known[1] if known is not None and known[0] is dataset.rows else None,
        blocks=blocks,
    )


def xpt_bytes(dataset: Dataset, *, stamped: datetime | None = None) -> bytes:
    """The dataset as SAS transport v5 bytes (`write_xpt` into memory)."""
    out = io.BytesIO()
    write_xpt(dataset, out, stamped=stamped)
    return out.getvalue()


NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


#: the first characters of text a spreadsheet may evaluate (crf.csvfiles.FORMULA_PREFIXES)
_FORMULA_FIRST = "".join(FORMULA_PREFIXES)


def csv_value(value: Any) -> str:
    """One CSV cell: "" for missing, integral numbers without ".0", dates ISO 8601, and text a
    spreadsheet would evaluate as a formula (first character =, +, -, @, tab or CR, and not a
    plain number such as "-19") prefixed with ' (OWASP "CSV injection", as crf.csvfiles)."""
    if type(value) is str:  # most cells: decided on the first character (formula_safe's rule)
        if not value or value[0] not in _FORMULA_FIRST:
            return value
        return value if NUMBER.match(value) else formula_safe(value)
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


#: rows rendered before each write to the file (CSV, Dataset-JSON, NDJSON)
CHUNK_ROWS = 5_000

_NUMBERS_AND_DATES = frozenset({float, int, date, _NONE})
#: what csv.writer (QUOTE_MINIMAL) quotes a field for besides the delimiter and "\n": the quote
#: character, "\r"; also NUL (never in practice) so that such a field goes through csv.writer too
_CSV_QUOTED = ('"', "\r", "\x00")
_EMPTY_FOR_NONE: dict[Any, str] = {None: ""}


_FORMULA_FIRST_SET = frozenset(_FORMULA_FIRST)
_first_character = operator.itemgetter(0)


def _formula_like(texts: Any) -> bool:
    """Whether any text of `texts` (None: missing) begins with a character a spreadsheet may
    evaluate (`csv_value` may change it), looked for in C."""
    return not _FORMULA_FIRST_SET.isdisjoint(map(_first_character, filter(None, texts)))


def csv_column(values: list[Any]) -> list[str]:
    """`csv_value` of each of a column's values, decided on the column's types in C, not value by
    value: texts that cannot look like a formula are kept (None made ""), numbers and dates are
    formatted once per distinct value, texts of a column with one that may look like a formula
    too."""
    return _csv_column(values)[0]


def _csv_column(values: list[Any]) -> tuple[list[str], Any]:
    """`csv_column` of `values`, and the distinct texts among them (a set, or the list of every
    text) when they are texts: what may need quoting (numbers and dates never do)."""
    kinds = facts.kinds(values)
    if kinds <= {str, _NONE}:
        distinct = facts.present(values)
        if not _formula_like(distinct):
            return (list(map(_EMPTY_FOR_NONE.get, values, values)) if _NONE in kinds else values), distinct
        text = {value: csv_value(value) for value in distinct}
        text[None] = ""
        return list(map(text.__getitem__, values)), text.values()
    if kinds <= _NUMBERS_AND_DATES:
        # (1 and 1.0 are one key: csv_value writes both "1"; a date never equals a number; a NaN
        # is its own key)
        text = _csv_numbers(facts.present(values), kinds)
        return list(map(text.__getitem__, values)), ()
    texts = list(map(csv_value, values))
    return texts, texts


def _csv_numbers(distinct: frozenset[Any], kinds: frozenset[type]) -> dict[Any, str]:
    """`csv_value` of each distinct number or date (None aside) of a column of `kinds`: ints and
    floats in C (an int's str; a float's repr, or a whole one's int's str; NaN "")."""
    if kinds <= {int, _NONE}:
        text = dict(zip(distinct, map(str, distinct), strict=True))
    elif kinds <= {float, _NONE}:
        floats = list(distinct)
        texts = list(map(float.__repr__, floats))
        for index in itertools.compress(range(len(floats)), map(float.is_integer, floats)):
            texts[index] = str(int(floats[index]))
        text = dict(zip(floats, texts, strict=True))
        for value in filter(math.isnan, floats):
            text[value] = ""
    else:
        text = {value: csv_value(value) for value in distinct}
    text[None] = ""
    return text


#: the characters for which a field goes through csv.writer: the delimiter, the line end and
#: what else csv.writer (QUOTE_MINIMAL) may quote a field for (`_CSV_QUOTED`)
_CSV_SPECIAL = (",", "\n", *_CSV_QUOTED)


def _csv_field(text: str) -> str:
    """`text` as csv.writer writes it as one field of a row of several (quoted if it must be)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([text, ""])
    return buffer.getvalue()[:-2]


def _csv_fields(values: list[Any]) -> list[str]:
    """`csv_column` of `values`, each text as csv.writer writes it as one field of a row of several:
    a column none of whose texts holds a character csv.writer may quote for (nearly all) as it
    is, else each text that holds one written by csv.writer (once per distinct text)."""
    texts, distinct = _csv_column(values)
    if not distinct:
        return texts
    joined = "".join(distinct)
    if not any(special in joined for special in _CSV_SPECIAL):
        return texts
    quoted = {text: _csv_field(text) for text in set(distinct) if any(special in text for special in _CSV_SPECIAL)}
    return list(map(quoted.get, texts, texts))


def write_csv(dataset: Dataset, out: BinaryIO, blocks: Iterable[list[list[Any]]] | None = None) -> int:
    """Write the dataset as CSV for analysis tools to `out` (UTF-8 without BOM, LF line ends, a
    header of variable names, "" for missing values, formula-like text neutralised by
    `csv_value`), a block of rows (`column_chunks`) at a time, each column formatted at once
    (`_csv_fields`: a field csv.writer would quote quoted by csv.writer), the lines joined in C.
    A dataset of one column is written by csv.writer (which quotes a lone empty field). `blocks`:
    the rows as `column_chunks` of every column gives them, read elsewhere (exports.tee). Returns
    the size."""
    names = [c.name for c in dataset.columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    written = out.write(buffer.getvalue().encode("utf-8"))
    for values in column_chunks(dataset.rows, names) if blocks is None else blocks:
        if len(values) > 1:
            columns = list(map(_csv_fields, values))
            if columns[0]:
                written += out.write(("\n".join(map(",".join, zip(*columns, strict=True))) + "\n").encode("utf-8"))
            continue
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(zip(*map(csv_column, values), strict=True))
        written += out.write(buffer.getvalue().encode("utf-8"))
    return written


def csv_bytes(dataset: Dataset) -> bytes:
    """The dataset as CSV bytes (`write_csv` into memory)."""
    out = io.BytesIO()
    write_csv(dataset, out)
    return out.getvalue()


def json_rows(dataset: Dataset, start: int = 0, stop: int | None = None) -> list[list[Any]]:
    """The rows (`start` to `stop`) as JSON-ready lists in column order (dates ISO 8601)."""
    names = [c.name for c in dataset.columns]
    return [
        [v.isoformat() if isinstance(v, date) else v for v in values]
        for values in row_tuples(dataset.rows, names, start, stop)
    ]


# --- Dataset-JSON 1.1 (issue 29) -------------------------------------------------------------------

DATASET_JSON_VERSION = "1.1.0"


def _json_type(column: Any, values: Any) -> dict[str, Any]:
    """A column's Dataset-JSON dataType (and targetDataType / displayFormat): Char → string; a
    SAS date → date shown DATE9. and stored as an ISO string (numeric in XPT: targetDataType
    integer); Num → integer when every value is whole, else double."""
    if column.type == "Char":
        return {"dataType": "string"}
    if column.type == "Date":
        return {"dataType": "date", "targetDataType": "integer", "displayFormat": "DATE9."}
    if _whole_numbers(values):
        return {"dataType": "integer"}
    return {"dataType": "double"}


def _whole_numbers(blocks: Any) -> bool:
    """Whether every number in `blocks` (lists of numbers and None) is whole, `float(v).is_integer()`
    of each looked at in C (None and zero left out first: zero is whole)."""
    return all(all(map(float.is_integer, map(float, filter(None, block)))) for block in blocks)


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


#: `_json_value` per dataType (none: the value as it is)
_JSON_CONVERT: dict[str, Any] = {"date": lambda v: v.isoformat(), "integer": int, "double": float}


def dataset_json_parts(
    dataset: Dataset,
    *,
    created: datetime,
    study_oid: str,
    metadata_version_oid: str,
    source_version: str,
    blocks: Iterable[list[list[Any]]] | None = None,
) -> tuple[dict[str, Any], Any]:
    """The Dataset-JSON 1.1 metadata of `dataset` and an iterator over its rows (JSON-ready lists
    in column order): item OIDs are the define.xml ones (IT.<dataset>.<variable>), the dataset's
    itemGroupOID its ItemGroupDef's (IG.<dataset>). The optional ITEMGROUPDATASEQ is not emitted.
    `blocks`: the rows as `column_chunks` of every column gives them, read elsewhere (exports.tee)."""
    columns = []
    kinds = []
    for column in dataset.columns:
        numbers: Any = () if column.type != "Num" else column_blocks(dataset.rows, column.name)
        typed = _json_type(column, numbers)
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
    convert = [_JSON_CONVERT.get(kind) for kind in kinds]

    def converted(columns: list[list[Any]]) -> list[list[Any]]:
        # _json_value of each cell, a column of a block at a time
        for i, to in enumerate(convert):
            if to is not None:
                columns[i] = _json_column(columns[i], to)
        return columns

    return meta, JsonRows(map(converted, column_chunks(dataset.rows, names) if blocks is None else blocks))


class JsonRows:
    """The Dataset-JSON rows of `dataset_json_parts`: an iterator over the rows as tuples (JSON
    encodes them as the lists they were), and `blocks`, the same rows a block at a time as the
    list of each column's values, which `write_dataset_json_and_ndjson` encodes a column at a
    time (read one way or the other, once)."""

    def __init__(self, blocks: Iterator[list[list[Any]]]) -> None:
        self.blocks = blocks
        self._rows = itertools.chain.from_iterable(zip(*columns, strict=True) for columns in blocks)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return self

    def __next__(self) -> tuple[Any, ...]:
        return next(self._rows)


def _json_column(values: list[Any], to: Any) -> list[Any]:
    """`to(value)` of each value of a column but None (`_json_value`); an int column left as it is
    for "integer", a float column for "double" (their values are already what JSON writes); a
    column of dates, or of whole numbers for "integer", converted once per distinct value."""
    kinds = facts.kinds(values)
    if (to is int and kinds <= {int, _NONE}) or (to is float and kinds <= {float, _NONE}):
        return values
    if (to is _JSON_CONVERT["date"] and kinds <= {date, _NONE}) or (to is int and kinds <= {int, float, _NONE}):
        # once per distinct value (a date never equals a date-time; equal numbers, equal ints)
        text: dict[Any, Any] = {value: to(value) for value in facts.present(values)}
        text[None] = None
        return list(map(text.__getitem__, values))
    return [None if value is None else to(value) for value in values]


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(value: Any) -> str:
    """json.dumps(value, ensure_ascii=False, separators=(",", ":")), its encoder made once."""
    return _ENCODER.encode(value)


def _row_encoder() -> Any:
    """`_dumps` of a row (a list or tuple), by the C encoder that `JSONEncoder.encode` makes anew
    for every call made once (issue 29 item 7: making it was most of the Dataset-JSON writer's
    time); `_dumps` itself when the C encoder is missing. The arguments are the ones
    `JSONEncoder.iterencode` passes (Python 3.11)."""
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
    encoder = _ENCODER
    if make is None or encoder.indent is not None:
        return _dumps
    one = make(
        {} if encoder.check_circular else None,
        encoder.default,
        json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring,  # type: ignore[attr-defined]
        encoder.indent,
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )

    def encode(row: Any) -> str:
        return "".join(one(row, 0))

    return encode


def _json_cells(values: list[Any], before: str, encode: Any) -> list[str]:
    """`before` + the JSON text of each of a column's values (`encode` of each: the row encoder's
    text of one value), a column at a time: a column of texts, of ints or of finite floats (None
    aside) is encoded once per distinct value, in C (the encoder's own functions: its string
    encoder, int's and float's repr); any other column value by value. A float column holding a
    negative zero is encoded value by value too (-0.0 == 0.0, one key, but two texts)."""
    kinds = facts.kinds(values) - {_NONE}
    if len(kinds) == 1:
        (kind,) = kinds
        distinct = facts.present(values)
        to_text = _JSON_TEXT.get(kind)
        if kind is float and not (all(map(math.isfinite, distinct)) and not _negative_zero(values, distinct)):
            to_text = None
        if to_text is not None and len(distinct) == len(values):  # (no None, nor a value twice)
            return list(map(before.__add__, map(to_text, values)))
        if to_text is not None:
            table = dict(zip(distinct, map(before.__add__, map(to_text, distinct)), strict=True))
            table[None] = before + "null"
            return list(map(table.__getitem__, values))
    elif not kinds:
        return [before + "null"] * len(values)
    return list(map(before.__add__, map(encode, values)))


def _negative_zero(values: list[Any], distinct: frozenset[Any]) -> bool:
    """Whether a column of floats and None holds -0.0, looked for (by numpy, None read as NaN)
    only when it holds a zero."""
    if 0.0 not in distinct:
        return False
    numbers = np.array(values, dtype=np.float64)
    return bool(np.signbit(numbers[numbers == 0.0]).any())


#: the JSON text of a value of each type `_json_cells` encodes per distinct value: what the C
#: row encoder writes for it (`_row_encoder`: ensure_ascii off; a float only when finite)
_JSON_TEXT: dict[type, Any] = {
    str: json.encoder.encode_basestring,  # type: ignore[attr-defined]
    int: int.__repr__,
    float: float.__repr__,
}


def _encoded_block(columns: list[list[Any]], encode: Any) -> str:
    """The NDJSON lines of a block of rows given as its columns (`_json_cells` of each column, the
    rows joined in C): each row's JSON array, then a line end."""
    cells = [_json_cells(values, "," if i else "[", encode) for i, values in enumerate(columns)]
    count = len(columns[0]) if columns else 0
    return "".join(itertools.chain.from_iterable(zip(*cells, itertools.repeat("]\n", count), strict=True)))


def write_dataset_json_and_ndjson(meta: dict[str, Any], rows: Any, json_out: BinaryIO, ndjson_out: BinaryIO) -> None:
    """`write_dataset_json` to `json_out` and `write_dataset_ndjson` to `ndjson_out` (the same
    bytes) reading the rows once, each row encoded once, `CHUNK_ROWS` rows at a time; the rows of
    `dataset_json_parts` (`JsonRows`) a block at a time, each column encoded at once
    (`_encoded_block`): the NDJSON lines, then the same with a comma for each line end (a JSON
    text holds no line end of its own: json escapes it) for Dataset-JSON."""
    head = _dumps(meta)
    json_out.write((head[:-1] + ',"rows":[').encode("utf-8"))
    ndjson_out.write((head + "\n").encode("utf-8"))
    if isinstance(rows, JsonRows) and _row_encoder() is not _dumps:
        encode = _value_encoder()
        comma = b""
        for columns in rows.blocks:
            if not columns or not columns[0]:
                continue
            lines = _encoded_block(columns, encode).encode("utf-8")
            ndjson_out.write(lines)
            json_out.write(comma + lines[:-1].replace(b"\n", b","))
            comma = b","
        json_out.write(b"]}")
        return
    comma = ""
    encode = _row_encoder()
    while True:
        parts = list(map(encode, itertools.islice(rows, CHUNK_ROWS)))
        if not parts:
            break
        json_out.write((comma + ",".join(parts)).encode("utf-8"))
        ndjson_out.write(("\n".join(parts) + "\n").encode("utf-8"))
        comma = ","
    json_out.write(b"]}")


def _value_encoder() -> Any:
    """`_row_encoder`'s text of one value (a value of a row)."""
    encode = _row_encoder()
    return lambda value: encode([value])[1:-1]


def write_dataset_json(meta: dict[str, Any], rows: Any, out: BinaryIO) -> int:
    """Dataset-JSON (one JSON object, rows under "rows") to `out`, `CHUNK_ROWS` rows at a time."""
    head = _dumps(meta)
    written = out.write((head[:-1] + ',"rows":[').encode("utf-8"))
    parts: list[str] = []
    for index, row in enumerate(rows):
        parts.append(("," if index else "") + _dumps(row))
        if len(parts) >= CHUNK_ROWS:
            written += out.write("".join(parts).encode("utf-8"))
            parts = []
    parts.append("]}")
    return written + out.write("".join(parts).encode("utf-8"))


def write_dataset_ndjson(meta: dict[str, Any], rows: Any, out: BinaryIO) -> int:
    """Dataset-JSON as NDJSON to `out`: the metadata object on the first line, then one row
    array a line, `CHUNK_ROWS` rows at a time."""
    written = out.write((_dumps(meta) + "\n").encode("utf-8"))
    parts: list[str] = []
    for row in rows:
        parts.append(_dumps(row) + "\n")
        if len(parts) >= CHUNK_ROWS:
            written += out.write("".join(parts).encode("utf-8"))
            parts = []
    return written + out.write("".join(parts).encode("utf-8"))


def dataset_json_bytes(meta: dict[str, Any], rows: Any) -> bytes:
    """Dataset-JSON (one JSON object, rows under "rows") as bytes."""
    out = io.BytesIO()
    write_dataset_json(meta, rows, out)
    return out.getvalue()


def dataset_ndjson_bytes(meta: dict[str, Any], rows: Any) -> bytes:
    """Dataset-JSON as NDJSON bytes."""
    out = io.BytesIO()
    write_dataset_ndjson(meta, rows, out)
    return out.getvalue()


# --- XLSX workbook (issue 29) ----------------------------------------------------------------------

XLSX_MAX_ROWS = 1_048_575  # rows per sheet under the header (Excel's 1,048,576 rows)


def xlsx_sheets(built: list[Dataset]) -> list[tuple[str, list[str], Any]]:
    """The workbook's sheets, (title, header, rows) in order: a Contents sheet (dataset, label,
    standard, rows, sheets), then a sheet per dataset (header of variable names; a dataset over
    1,048,575 rows continues on NAME_2, …), its rows read a block of columns at a time."""
    from exports import xlsx

    contents: list[list[Any]] = []
    sheets: list[tuple[str, list[str], Any]] = []
    for dataset in built:
        parts = xlsx_dataset_sheets(dataset)
        contents.append(
            [dataset.name, dataset.label, dataset.standard, len(dataset.rows), ", ".join(t for t, _s, _e in parts)]
        )
        names = [c.name for c in dataset.columns]
        for title, start, stop in parts:
            cells = len(names) * (stop - start)
            sheets.append((title, names, xlsx.Columns(column_chunks(dataset.rows, names, start, stop), cells)))
    return [("Contents", ["Dataset", "Label", "Standard", "Rows", "Sheets"], contents), *sheets]


def xlsx_dataset_sheets(dataset: Dataset) -> list[tuple[str, int, int]]:
    """A dataset's worksheets in `xlsx_sheets`: (title, first row, row after the last), from 0;
    a dataset over 1,048,575 rows continues on NAME_2, …"""
    count = len(dataset.rows)
    parts = max(1, math.ceil(count / XLSX_MAX_ROWS))
    return [
        (dataset.name if n == 0 else f"{dataset.name}_{n + 1}", n * XLSX_MAX_ROWS, min((n + 1) * XLSX_MAX_ROWS, count))
        for n in range(parts)
    ]


def write_xlsx(built: list[Dataset], out: BinaryIO) -> None:
    """One workbook of `xlsx_sheets` to `out`, streamed by exports.xlsx (rows written a chunk at a
    time; exports.services.write_files writes each dataset's worksheets with its other files, the
    datasets in parallel tasks, instead); text is an inline string, never read as a formula."""
    from exports import xlsx

    xlsx.write_workbook(out, xlsx_sheets(built))


def xlsx_bytes(built: list[Dataset]) -> bytes:
    """The workbook of `write_xlsx` as bytes."""
    out = io.BytesIO()
    write_xlsx(built, out)
    return out.getvalue()
