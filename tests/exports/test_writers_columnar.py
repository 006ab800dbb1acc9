"""The writers format a column block at a time (issue 29 item 7, export CPU): the CSV and the
Dataset-JSON rows are still those of the cell-by-cell definitions (`csv_value` through csv.writer,
`_json_value`), for the values where a shortcut could go wrong: texts csv.writer quotes, formula
characters, missing values, ints and floats in one column, NaN, dates, a one-column dataset."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime

import pytest

from exports import writers
from exports.datasets import Column, Dataset
from exports.metadata import SDTMIG

pytestmark = pytest.mark.req("ISSUE-29")

TEXTS = [None, "", "plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "=1+1", "-19", "-x", "@a", " lead", "\tt"]
NUMBERS = [None, 0, 1, 1.0, -0.0, 2.5, 1e20, float("nan"), 7, 3.0]
DATES = [None, date(2026, 1, 31), date(1999, 12, 1)]


def _dataset(rows: list[dict[str, object]], columns: list[Column]) -> Dataset:
    return Dataset(name="XX", label="X", standard=SDTMIG, ig_dataset="XX", columns=columns, rows=rows)


#: texts csv.writer writes as they are; with a quote or a CR but no delimiter or line end (the
#: blocks a count of delimiters cannot tell apart); every kind
PLAIN = [t for t in TEXTS if t is None or not set(t) & set(',"\n\r')]
QUOTES = [*PLAIN, 'say "hi"', "cr\rhere"]


def _rows(count: int, texts: list[str | None]) -> list[dict[str, object]]:
    return [
        {"T": texts[n % len(texts)], "N": NUMBERS[n % len(NUMBERS)], "D": DATES[n % len(DATES)], "I": n}
        for n in range(count)
    ]


def _reference_csv(dataset: Dataset) -> bytes:
    names = [c.name for c in dataset.columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in dataset.rows:
        writer.writerow([writers.csv_value(row.get(name)) for name in names])
    return out.getvalue().encode("utf-8")


COLUMNS = [Column("T", "t", "Char"), Column("N", "n", "Num"), Column("D", "d", "Date"), Column("I", "i", "Num")]


@pytest.mark.parametrize(("texts", "fourth"), [(PLAIN, "'=1+1,1,,3"), (QUOTES, "'=1+1,1,,3"), (TEXTS, '"a,b",1,,3')])
def test_csv_is_csv_writer_of_csv_value_cell_by_cell(texts, fourth):
    # 12,000 rows: blocks of 5,000 joined in C, and (with texts to quote) blocks csv.writer writes
    dataset = _dataset(_rows(12_000, texts), COLUMNS)
    got = writers.csv_bytes(dataset)
    assert got == _reference_csv(dataset)
    lines = got.decode().split("\n")
    assert lines[:2] == ["T,N,D,I", ",,,0"]
    assert lines[4] == fourth


def test_a_one_column_csv_quotes_its_empty_fields_as_csv_writer_does():
    dataset = _dataset([{"T": None}, {"T": "x"}, {"T": ""}, {"T": "=2"}], [Column("T", "t", "Char")])
    assert writers.csv_bytes(dataset) == b'T\n""\nx\n""\n\'=2\n'
    assert writers.csv_bytes(dataset) == _reference_csv(dataset)


def test_dataset_json_rows_are_json_value_cell_by_cell():
    rows = _rows(6_000, TEXTS)
    for row in rows:
        row["N"] = None if row["N"] is None or row["N"] != row["N"] else row["N"]  # no NaN in JSON
    dataset = _dataset(rows, COLUMNS)
    meta, encoded = writers.dataset_json_parts(
        dataset, created=datetime(2026, 12, 7), study_oid="S", metadata_version_oid="M", source_version="v"
    )
    kinds = [c["dataType"] for c in meta["columns"]]
    assert kinds == ["string", "double", "date", "integer"]
    out_json, out_ndjson = io.BytesIO(), io.BytesIO()
    writers.write_dataset_json_and_ndjson(meta, encoded, out_json, out_ndjson)
    want = [[writers._json_value(row[c.name], kind) for c, kind in zip(COLUMNS, kinds, strict=True)] for row in rows]
    assert json.loads(out_json.getvalue())["rows"] == want
    lines = out_ndjson.getvalue().decode().splitlines()
    assert [json.loads(line) for line in lines[1:]] == want
    assert lines[1] == json.dumps(want[0], ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_dataset_json_encoded_a_column_at_a_time_is_the_row_encoders_bytes(seed):
    """write_dataset_json_and_ndjson encodes the rows of dataset_json_parts a column at a time,
    once per distinct value (issue 29 item 7): the bytes of the row-by-row encoder for every kind
    of column — texts with quotes, line ends, control and non-ASCII characters, numbers with a
    negative zero beside a zero, infinities, whole and fractional floats, ints, dates, mixed
    types in a text column, a column of None — in one block and in several."""
    import random

    rng = random.Random(seed)
    texts = [None, "", "plain", 'say "hi"', "two\nlines", "tab\t", "\x01", "日本語", "\\", "</x>", "\u2028"]
    makers = {
        "T": (lambda: rng.choice(texts), "Char"),
        "U": (lambda: f"S-{rng.randint(0, 10**9)}", "Char"),  # nearly every value distinct
        "M": (lambda: rng.choice([None, "x", 3, 2.5, True, False]), "Char"),
        "Z": (lambda: rng.choice([None, 0.0, -0.0, 1.5, -2.25, 1e300]), "Num"),
        "F": (lambda: rng.choice([None, 0.5, float("inf"), 3.0]), "Num"),
        "W": (lambda: rng.choice([None, 1.0, 2, -0.0, 7.0]), "Num"),  # whole: integer
        "I": (lambda: rng.choice([None, 0, -5, 2**62]), "Num"),
        "D": (lambda: rng.choice([None, date(2026, 2, rng.randint(1, 28))]), "Date"),
        "N": (lambda: None, "Char"),
    }
    columns = [Column(name, name.lower(), kind) for name, (_make, kind) in makers.items()]
    rows = [{name: make() for name, (make, _kind) in makers.items()} for _ in range(rng.choice([7, 12_000]))]
    dataset = _dataset(rows, columns)

    def parts():
        return writers.dataset_json_parts(
            dataset, created=datetime(2026, 12, 7), study_oid="S", metadata_version_oid="M", source_version="v"
        )

    meta, encoded = parts()
    assert [c["dataType"] for c in meta["columns"]] == [
        "string",
        "string",
        "string",
        "double",
        "double",
        "integer",
        "integer",
        "date",
        "string",
    ]
    out_json, out_ndjson = io.BytesIO(), io.BytesIO()
    writers.write_dataset_json_and_ndjson(meta, encoded, out_json, out_ndjson)
    _meta, by_row = parts()
    row_list = [list(row) for row in by_row]  # a list: the row-by-row encoder
    assert out_json.getvalue() == writers.dataset_json_bytes(meta, row_list)
    assert out_ndjson.getvalue() == writers.dataset_ndjson_bytes(meta, row_list)
    if len(rows) > 1_000:  # (three blocks of column_chunks)
        assert b"-0.0" in out_ndjson.getvalue()
        assert b"Infinity" in out_ndjson.getvalue()


@pytest.mark.parametrize("seed", [6, 7])
def test_csv_quoting_a_column_at_a_time_is_csv_writers(seed):
    """write_csv quotes a field as csv.writer would, once per distinct text and only in a column
    holding a character it may quote for (issue 29 item 7): random columns of texts with commas,
    quotes, line ends, CR, NUL and formula characters (changed, then quoted), ints, floats (NaN,
    infinities, negative zero, whole and not), dates and mixed types give csv.writer's bytes of
    csv_value cell by cell."""
    import random

    rng = random.Random(seed)
    texts = [None, "", "plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "nul\x00", "=1,2", '-"x"', "+3", "-19"]
    makers = {
        "T": lambda: rng.choice(texts),
        "P": lambda: rng.choice([None, "plain", "=SUM(A1)", "@x"]),  # formula-like, nothing to quote
        "Q": lambda: rng.choice([None, "x", "y,z"]),
        "I": lambda: rng.choice([None, 0, -3, 10**20]),
        "F": lambda: rng.choice([None, 0.5, -0.0, 0.0, 2.0, 1e20, float("nan"), float("inf"), -1.25e-7]),
        "N": lambda: rng.choice([None, 1, 1.0, 2.5, date(2026, 3, 1)]),
        "M": lambda: rng.choice([None, "a,b", 7, True, 1.5]),
        "D": lambda: rng.choice([None, date(2026, 1, rng.randint(1, 28))]),
    }
    columns = [Column(name, name.lower(), "Char") for name in makers]
    rows = [{name: make() for name, make in makers.items()} for _ in range(11_000)]
    dataset = _dataset(rows, columns)
    assert writers.csv_bytes(dataset) == _reference_csv(dataset)
