"""A streaming SAS transport v5 (XPORT) writer (issue 29 item 7): rows go to the file in chunks,
so writing a dataset of millions of rows needs no DataFrame and no second copy of the rows.

It writes the bytes pyreadstat 1.3 (ReadStat) writes for the same data — the library and member
headers (SAS 6.06, bsd4.2), one 140-byte NAMESTR per variable, then the observations packed
back to back and the last 80-byte record padded with blanks — and tests/exports/test_xpt.py
compares the two byte for byte. Layout: SAS technical note TS-140, "Record layout of a SAS
version 5 or 6 data set in SAS transport (XPORT) format".

- Character variables are as wide as their longest value (at least 1 byte), blank padded; a
  missing value is all blanks.
- Numbers are 8-byte IBM System/360 doubles (TS-140's ieee2xpt, exact for every finite double
  whose exponent fits: a 53-bit mantissa shifted by at most 3 bits fits IBM's 56); a missing
  number is SAS's "." (0x2E, then seven zero bytes).
- "Date" variables are SAS dates (days since 1960-01-01) with the DATE9. format.

Conversions run on numpy arrays, a chunk of rows at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any, BinaryIO

import numpy as np

from exports import facts

RECORD = 80
NAMESTR_LENGTH = 140
CHUNK_ROWS = 20_000
SAS_EPOCH = date(1960, 1, 1).toordinal()
MISSING = b"\x2e" + b"\x00" * 7

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def stamp(when: datetime) -> bytes:
    """A header's date-time, ``ddMMMyy:hh:mm:ss`` (English months whatever the locale)."""
    return f"{when.day:02d}{_MONTHS[when.month - 1]}{when.year % 100:02d}:{when:%H:%M:%S}".encode("ascii")


def _text(value: str, width: int) -> bytes:
    return value.encode("ascii")[:width].ljust(width)


def _header(kind: str, numbers: str = "0" * 30) -> bytes:
    return f"HEADER RECORD*******{kind:<8}HEADER RECORD!!!!!!!{numbers}  ".encode("ascii")


def header(name: str, label: str, columns: list[tuple[str, str, str, int]], when: datetime) -> bytes:
    """Everything before the first observation: library, member and descriptor headers, the
    NAMESTR records, the OBS header. `columns`: (name, label, type "Char"/"Num"/"Date", width)."""
    created = stamp(when)
    out = bytearray()
    out += _header("LIBRARY")
    out += b"SAS     SAS     SASLIB  6.06    bsd4.2  " + b" " * 24 + created
    out += created + b" " * 64
    out += _header("MEMBER", "0" * 17 + "16" + "0" * 8 + "140")
    out += _header("DSCRPTR")
    out += b"SAS     " + _text(name, 8) + b"SASDATA 6.06    bsd4.2  " + b" " * 24 + created
    out += created + b" " * 16 + _text(label, 40) + b" " * 8
    out += _header("NAMESTR", "0" * 6 + f"{len(columns):04d}" + "0" * 20)
    names = bytearray()
    position = 0
    for number, (var, var_label, kind, width) in enumerate(columns, start=1):
        char = kind == "Char"
        names += (2 if char else 1).to_bytes(2, "big")  # ntype
        names += b"\x00\x00"  # nhfun
        names += width.to_bytes(2, "big")  # nlng
        names += number.to_bytes(2, "big")  # nvar0
        names += _text(var, 8) + _text(var_label, 40)
        if kind == "Date":
            names += b"DATE    " + (9).to_bytes(2, "big") + b"\x00\x00"  # nform, nfl, nfd
        else:
            names += b" " * 8 + b"\x00\x00\x00\x00"
        names += (0 if char else 1).to_bytes(2, "big") + b"\x00\x00"  # nfj, nfill
        names += b" " * 8 + b"\x00\x00\x00\x00"  # niform, nifl, nifd
        names += position.to_bytes(4, "big") + b"\x00" * 52  # npos, rest
        position += width
    out += _pad(bytes(names))
    out += _header("OBS")
    return bytes(out)


def _pad(data: bytes) -> bytes:
    rest = len(data) % RECORD
    return data + b" " * (RECORD - rest) if rest else data


def ibm(values: np.ndarray) -> np.ndarray:
    """IEEE doubles → big-endian IBM doubles as uint64 (TS-140 ieee2xpt, vectorised): NaN is
    SAS's "." missing; 0, -0 and values too small for IBM are 0; values too large are IBM's
    largest number."""
    bits = values.astype(">f8").view(">u8").astype(np.uint64)
    high = bits >> np.uint64(32)
    low = bits & np.uint64(0xFFFFFFFF)
    exponent = ((high >> np.uint64(20)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    shift = (exponent & 3).astype(np.uint64)
    mantissa_high = (high & np.uint64(0x000FFFFF)) | np.uint64(0x00100000)
    mantissa_high = (mantissa_high << shift) | np.where(shift > 0, low >> (np.uint64(32) - shift), np.uint64(0))
    mantissa_low = (low << shift) & np.uint64(0xFFFFFFFF)
    sign = (high >> np.uint64(24)) & np.uint64(0x80)
    top = ((exponent >> 2) + 65).astype(np.uint64) & np.uint64(0xFF)
    word_high = (((top | sign) << np.uint64(24)) | mantissa_high) & np.uint64(0xFFFFFFFF)
    out = (word_high << np.uint64(32)) | mantissa_low
    out = np.where(bits & np.uint64(0x7FFFFFFFFFFFFFFF) == 0, np.uint64(0), out)
    out = np.where(exponent < -260, np.uint64(0), out)
    largest = np.uint64(0x7FFFFFFFFFFFFFFF) | (sign << np.uint64(56))
    out = np.where(exponent > 248, largest, out)
    out = np.where(np.isnan(values), np.uint64(0x2E00000000000000), out)
    return out


def _number(value: Any) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, date):
        return float(value.toordinal() - SAS_EPOCH)
    return float(value)


def widths(columns: list[tuple[str, str, str]], rows: Iterable[dict[str, Any]]) -> list[int]:
    """Each variable's width: the longest value of a character variable (at least 1), 8 for numbers."""
    from exports.datasets import column_blocks

    longest = [1 if kind == "Char" else 8 for _name, _label, kind in columns]
    for i, (name, _label, kind) in enumerate(columns):
        if kind == "Char":
            for block in column_blocks(rows, name):
                longest[i] = max(longest[i], max(map(len, filter(None, block)), default=0))
    return longest


def observations(
    columns: list[tuple[str, str, str, int]],
    rows: Iterable[dict[str, Any]],
    chunk: int | None = None,
    blocks: Iterable[list[list[Any]]] | None = None,
) -> Iterator[bytes]:
    """The observations, a block of rows at a time (exports.datasets.column_chunks, or `blocks`,
    the same blocks read elsewhere: exports.tee; not padded: `write` pads the last record), each
    column converted at once (`_char_field`, `_numbers`)."""
    from exports.datasets import column_chunks

    del chunk  # (the blocks of the rows: 5,000 rows)
    dtype = np.dtype([(f"f{i}", f"S{w}" if kind == "Char" else ">u8") for i, (_n, _l, kind, w) in enumerate(columns)])
    if blocks is None:
        blocks = column_chunks(rows, [name for name, _label, _kind, _width in columns])
    for part in blocks:
        table = np.empty(len(part[0]) if part else 0, dtype=dtype)
        for i, ((_name, _label, kind, width), column) in enumerate(zip(columns, part, strict=True)):
            if kind == "Char":
                table[f"f{i}"] = _char_field(column, width)
            else:
                table[f"f{i}"] = ibm(_numbers(column))
        yield table.tobytes()


_NONE = type(None)


def _char_field(values: list[str | None], width: int) -> np.ndarray:
    """A character variable's values as `width` bytes each, blank padded (a missing value all
    blanks): each distinct text padded once, the column joined and encoded as ASCII at once and
    read as a fixed-width numpy array without a copy (a NUL of a text's own stays)."""
    padded = {value: value.ljust(width) for value in facts.present(values)}
    padded[None] = " " * width
    data = "".join(map(padded.__getitem__, values)).encode("ascii")
    return np.frombuffer(data, dtype=f"S{width}")


def _numbers(values: list[Any]) -> np.ndarray:
    """A numeric or date variable's values as doubles (`_number` of each: None is NaN, a date
    its SAS day number), converted by numpy when they are all numbers or None."""
    kinds = facts.kinds(values)
    if kinds <= {float, int, _NONE}:
        # (numpy converts None to NaN and an int as float() does)
        return np.array(values, dtype=np.float64)
    if kinds <= {date, _NONE}:  # each distinct date converted once
        days = {value: _number(value) for value in facts.distinct(values)}
        return np.array(list(map(days.__getitem__, values)), dtype=np.float64)
    return np.array([v if type(v) is float else _number(v) for v in values], dtype=np.float64)


def write(
    out: BinaryIO,
    *,
    name: str,
    label: str,
    columns: list[tuple[str, str, str]],
    rows: Iterable[dict[str, Any]],
    when: datetime,
    sized: list[int] | None = None,
    blocks: Iterable[list[list[Any]]] | None = None,
) -> int:
    """Write one dataset as SAS transport v5 to `out`; returns the bytes written. Without
    `sized` (the widths, `widths`) `rows` is read twice, so it must then be a sequence, not an
    iterator. `blocks`: the rows a block of columns at a time, read elsewhere (`observations`)."""
    if sized is None:
        sized = widths(columns, rows)
    full = [(n, lab, kind, w) for (n, lab, kind), w in zip(columns, sized, strict=True)]
    written = out.write(header(name, label, full, when))
    data = 0
    for piece in observations(full, rows, blocks=blocks):
        out.write(piece)
        data += len(piece)
    rest = data % RECORD
    if rest:
        out.write(b" " * (RECORD - rest))
        data += RECORD - rest
    return written + data
