"""The streaming SAS transport v5 writer (exports.xpt, issue 29 item 7) writes, byte for byte,
what pyreadstat 1.3 writes from a whole DataFrame (the export's XPT writer before the streaming
one: `reference` below is that code), on small hand-made and random datasets — character,
numeric and date variables, missing values, empty datasets, more rows than one chunk — with one
deliberate difference: a date variable missing on every row stays numeric (DATE9.), where
pyreadstat, given an all-None column, writes a 1-byte character variable. The other writers
give the same bytes whatever their chunk size (no database)."""

from __future__ import annotations

import io
import math
import random
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest

from exports import writers, xpt
from exports.datasets import Column, Dataset

pytestmark = pytest.mark.req("ISSUE-29")

STAMP = datetime(2026, 3, 4, 5, 6, 7)


def frame(dataset: Dataset) -> Any:
    """The dataset as a DataFrame typed for pyreadstat (missing text = "", number = NaN)."""
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


def reference(dataset: Dataset, when: datetime) -> bytes:
    """pyreadstat's XPT v5 of the dataset, its header clock replaced by `when`."""
    formats = {c.name: "DATE9." for c in dataset.columns if c.type == "Date"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.xpt"
        pyreadstat.write_xport(
            frame(dataset),
            str(path),
            file_label=dataset.label,
            column_labels=[c.label for c in dataset.columns],
            table_name=dataset.name,
            file_format_version=5,
            variable_format=formats or None,
        )
        raw = bytearray(path.read_bytes())
    stamp = xpt.stamp(when)
    end = raw.index(b"HEADER RECORD*******OBS")
    for start in range(0, end, 80):
        if raw[start : start + 8] == b"SAS     ":
            raw[start + 64 : start + 80] = stamp
            raw[start + 80 : start + 96] = stamp
    return bytes(raw)


def dataset(columns: list[Column], rows: list[dict[str, Any]], name: str = "ADSL", label: str = "Label") -> Dataset:
    return Dataset(name=name, label=label, standard="", ig_dataset="", columns=columns, rows=rows)


def test_a_hand_made_dataset_is_written_as_pyreadstat_writes_it():
    columns = [Column("STUDYID", "Study Identifier", "Char"), Column("AVAL", "Analysis Value", "Num")]
    columns.append(Column("ADT", "Analysis Date", "Date"))
    rows = [
        {"STUDYID": "ABC", "AVAL": 1.5, "ADT": date(2020, 1, 2)},
        {"STUDYID": "ABCDEF", "AVAL": None, "ADT": None},
        {"STUDYID": "", "AVAL": -3, "ADT": date(1959, 12, 31)},
    ]
    written = writers.xpt_bytes(dataset(columns, rows), stamped=STAMP)
    assert written == reference(dataset(columns, rows), STAMP)
    assert len(written) == 1280  # 16 records of 80 bytes: 14 of headers and NAMESTRs, 1 of data + padding
    # the observations: STUDYID 6 bytes wide, 1.5 as IBM 0x4118…, "." missing, -3 as 0xC130…
    data = written[written.index(b"HEADER RECORD*******OBS") + 80 :]
    assert data[:22] == b"ABC   " + bytes.fromhex("4118000000000000") + bytes.fromhex("4455 9c00 0000 0000")
    assert data[22:44] == b"ABCDEF" + b"\x2e" + b"\x00" * 7 + b"\x2e" + b"\x00" * 7
    assert data[44:66] == b"      " + bytes.fromhex("c130000000000000") + bytes.fromhex("c110000000000000")
    back, _meta = read_back(written)
    assert back["STUDYID"].tolist() == ["ABC", "ABCDEF", ""]
    assert back["AVAL"].tolist()[::2] == [1.5, -3.0]


def test_empty_and_all_missing_datasets_match_pyreadstat():
    columns = [Column("A", "x", "Char"), Column("B", "y", "Num"), Column("C", "", "Date")]
    assert writers.xpt_bytes(dataset(columns, []), stamped=STAMP) == reference(dataset(columns, []), STAMP)
    blank = [{"A": "", "B": None, "C": date(2020, 1, 1)}, {"A": None, "B": None, "C": None}]
    assert writers.xpt_bytes(dataset(columns, blank), stamped=STAMP) == reference(dataset(columns, blank), STAMP)


def test_a_date_missing_on_every_row_stays_a_numeric_date_unlike_pyreadstat():
    columns = [Column("A", "x", "Char"), Column("ADT", "Analysis Date", "Date")]
    rows = [{"A": "x", "ADT": None}]
    ours = writers.xpt_bytes(dataset(columns, rows), stamped=STAMP)
    theirs = reference(dataset(columns, rows), STAMP)
    assert ours != theirs
    names = ours.index(b"HEADER RECORD*******NAMESTR") + 80
    second = ours[names + 140 : names + 280]
    assert second[:8] == bytes.fromhex("0001 0000 0008 0002")  # numeric, 8 bytes, variable 2
    assert second[56:66] == b"DATE    \x00\x09"  # DATE9.
    _df, meta = read_back(ours)
    assert meta.readstat_variable_types == {"A": "string", "ADT": "double"}
    assert meta.original_variable_types["ADT"] == "DATE9"


def read_back(content: bytes) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.xpt"
        path.write_bytes(content)
        return pyreadstat.read_xport(str(path))


def random_dataset(rng: random.Random, rows: int) -> Dataset:
    columns = [
        Column(f"V{i}", rng.choice(["", "Some label", "X" * 40]), rng.choice(["Char", "Num", "Date"]))
        for i in range(rng.randint(1, 7))
    ]
    numbers = [0.0, -0.0, 1, -1, 1e-300, 1e300, 0.1, 123456789.123, 2.5e-78, -7.25e75]
    data = []
    for _ in range(rows):
        row: dict[str, Any] = {}
        for column in columns:
            if rng.random() < 0.2:
                row[column.name] = None
            elif column.type == "Char":
                row[column.name] = rng.choice(["", "a", "hello world", "Z" * rng.randint(0, 200)])
            elif column.type == "Num":
                row[column.name] = rng.choice([*numbers, rng.uniform(-1e6, 1e6), rng.random(), rng.randint(-99, 99)])
            else:
                row[column.name] = date(1900, 1, 1) + timedelta(days=rng.randint(0, 60000))
        data.append(row)
    for column in columns:  # a date on at least one row: see the test above for the all-missing case
        if column.type == "Date" and data and all(r[column.name] is None for r in data):
            data[0][column.name] = date(2001, 2, 3)
    return dataset(columns, data, name=rng.choice(["AE", "ADSL", "SUPPAE"]), label=rng.choice(["", "Adverse Events"]))


@pytest.mark.parametrize("seed", range(40))
def test_random_datasets_are_written_byte_for_byte_as_pyreadstat_writes_them(seed):
    rng = random.Random(seed)
    data = random_dataset(rng, rng.choice([0, 1, 2, 7, 31]))
    assert writers.xpt_bytes(data, stamped=STAMP) == reference(data, STAMP)


def test_more_rows_than_one_chunk(monkeypatch):
    data = random_dataset(random.Random(99), 2_345)
    monkeypatch.setattr(xpt, "CHUNK_ROWS", 1000)
    out = io.BytesIO()
    columns = [(c.name, c.label, c.type) for c in data.columns]
    sized = xpt.widths(columns, data.rows)
    rows = iter(data.rows)
    size = xpt.write(out, name=data.name, label=data.label, columns=columns, rows=rows, when=STAMP, sized=sized)
    assert out.getvalue() == reference(data, STAMP)
    assert size == len(out.getvalue())


def test_csv_and_dataset_json_give_the_same_bytes_whatever_the_chunk(monkeypatch):
    data = random_dataset(random.Random(7), 50)
    meta = {"name": data.name, "records": 50}
    whole = (writers.csv_bytes(data), writers.dataset_json_bytes(meta, [[1, "a"]] * 50))
    ndjson = writers.dataset_ndjson_bytes(meta, [[1, "a"]] * 50)
    monkeypatch.setattr(writers, "CHUNK_ROWS", 3)
    assert (writers.csv_bytes(data), writers.dataset_json_bytes(meta, [[1, "a"]] * 50)) == whole
    assert writers.dataset_ndjson_bytes(meta, [[1, "a"]] * 50) == ndjson
    assert ndjson.count(b"\n") == 51
    assert whole[0].count(b"\n") == 51
    # the export writes both Dataset-JSON files from one reading of the rows: the same bytes
    for chunk in (3, 5_000):
        monkeypatch.setattr(writers, "CHUNK_ROWS", chunk)
        both = io.BytesIO(), io.BytesIO()
        writers.write_dataset_json_and_ndjson(meta, iter([[1, "a"]] * 50), *both)
        assert (both[0].getvalue(), both[1].getvalue()) == (whole[1], ndjson)


def test_character_fields_are_blank_padded_and_keep_a_nul_of_their_own():
    """exports.xpt pads each distinct text once and reads the joined column as fixed-width bytes
    (issue 29 item 7): a missing value is all blanks, a text's own blanks and NUL stay where
    they are, whatever the other texts of the block."""
    columns = [(f"C{n}", "", "Char", 4) for n in range(2)] + [("N", "", "Num", 8)]
    rows = [
        {"C0": "a\x00b", "C1": None, "N": 1.0},
        {"C0": None, "C1": " x ", "N": None},
        {"C0": "abcd", "C1": "", "N": 2.0},
        {"C0": "a\x00b", "C1": " x ", "N": 1.0},
    ]
    observations = b"".join(xpt.observations(columns, rows))
    ibm = {1.0: bytes.fromhex("4110000000000000"), 2.0: bytes.fromhex("4120000000000000"), None: xpt.MISSING}
    assert observations == b"".join(
        [
            b"a\x00b " + b"    " + ibm[1.0],
            b"    " + b" x  " + ibm[None],
            b"abcd" + b"    " + ibm[2.0],
            b"a\x00b " + b" x  " + ibm[1.0],
        ]
    )
