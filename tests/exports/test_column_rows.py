"""Rows held a list per column (exports.datasets.ColumnRows, issue 29 item 7: VS, LB and ADLB are
built a column at a time, without a dict per row): read as row dicts and as columns exactly as
the same rows held as dicts, and spooled (exports.spool) to the same stored values — a tuple per
column of a block, a list for a one-column dataset — as the dicts' transposition stores."""

from __future__ import annotations

from datetime import date

import pytest

from exports import chunked, datasets
from exports.datasets import Column, ColumnRows, Dataset, column_chunks, permuted, row_tuples, sequence_numbers
from exports.metadata import SDTMIG
from exports.spool import BLOCK_ROWS, SpooledRows

pytestmark = pytest.mark.req("ISSUE-29")

NAMES = ["USUBJID", "N", "D", "T"]


def _dicts(count: int) -> list[dict[str, object]]:
    return [
        {
            "USUBJID": f"S-{n // 7:04d}",
            "N": None if n % 5 == 0 else n / 4,
            "D": date(2026, 1 + n % 12, 1),
            "T": ["a", "", None, "b,c"][n % 4],
        }
        for n in range(count)
    ]


def _columns(rows: list[dict[str, object]]) -> ColumnRows:
    return ColumnRows({name: [row[name] for row in rows] for name in NAMES})


def test_column_rows_read_as_the_row_dicts_they_hold():
    rows = _dicts(12_345)
    held = _columns(rows)
    assert len(held) == 12_345
    assert list(held) == rows
    assert held[0] == rows[0] and held[-1] == rows[-1] and held[7_000] == rows[7_000]
    assert held[10:13] == rows[10:13]
    assert held[::5000] == rows[::5000]
    with pytest.raises(IndexError):
        held[12_345]
    assert held.column("N") == [row["N"] for row in rows]
    assert list(held.column_blocks("T")) == [[row["T"] for row in rows]]
    assert list(row_tuples(held, ["T", "X", "USUBJID"], 3, 9)) == [(r["T"], None, r["USUBJID"]) for r in rows[3:9]]
    chunks = list(column_chunks(held, ["D", "X"], 4_000, 11_000))
    assert [len(chunk[0]) for chunk in chunks] == [5_000, 2_000]
    assert chunks[0][0] + chunks[1][0] == [row["D"] for row in rows[4_000:11_000]]
    assert chunks[1][1] == [None] * 2_000
    chunks[0][0].append("changed")  # each list is the caller's own
    assert len(held.column("D")) == 12_345


def test_a_dataset_of_column_rows_has_the_columns_in_the_dataset_order():
    held = ColumnRows({"T": ["x", "y"], "USUBJID": ["S-1", "S-2"], "PRIVATE": [1, 2]})
    built = datasets.make_dataset(
        "VS", standard=SDTMIG, ig_dataset="VS", variables=["USUBJID", "VSSEQ", "T"], rows=held, keys=()
    )
    names = [c.name for c in built.columns]
    assert names[0] == "USUBJID" and set(names) == {"USUBJID", "VSSEQ", "T"}
    assert built.rows.columns == names
    assert list(built.rows) == [
        {name: {"USUBJID": "S-1", "VSSEQ": None, "T": "x"}[name] for name in names},
        {name: {"USUBJID": "S-2", "VSSEQ": None, "T": "y"}[name] for name in names},
    ]
    assert built.values("T") == ["x", "y"]


def test_columns_of_unequal_length_are_an_error():
    with pytest.raises(ValueError, match="column B: 1 values for 2 rows"):
        ColumnRows({"A": [1, 2], "B": [1]})


@pytest.mark.parametrize("names", [NAMES, ["T"]])
def test_spooled_column_rows_store_what_the_row_dicts_store(tmp_path, names):
    rows = [{name: row[name] for name in names} for row in _dicts(2 * BLOCK_ROWS + 17)]
    from_dicts = SpooledRows(tmp_path / "dicts.rows", names)
    from_dicts.extend(rows)
    from_columns = SpooledRows(tmp_path / "columns.rows", names)
    from_columns.extend(_columns(_dicts(2 * BLOCK_ROWS + 17)).select(names))
    assert from_columns.blocks()[0][0] == BLOCK_ROWS and len(from_columns.blocks()) == 3
    assert [count for count, _places in from_columns.blocks()] == [count for count, _places in from_dicts.blocks()]
    for block in range(3):
        for index in range(len(names)):
            stored = from_columns._column(block, index)
            assert stored == from_dicts._column(block, index)
            assert type(stored) is type(from_dicts._column(block, index))  # tuple, or a list for one column
    assert list(from_columns) == rows
    # a column the rows do not hold is stored as None, as a dict without the key
    wider = SpooledRows(tmp_path / "wider.rows", [*names, "X"])
    wider.extend(_columns(_dicts(3)).select(names))
    assert wider.column("X") == [None] * 3


def test_a_chunk_of_column_rows_is_spooled_whole(tmp_path):
    held = ColumnRows({"USUBJID": ["S-1", "S-2"], "T": ["x", "y"]})
    built = Dataset("VS", "Vital Signs", SDTMIG, "VS", [Column("USUBJID", "", "Char"), Column("T", "", "Char")], held)
    assert chunked._head_and_rows(built) == ([], held)
    # a row without USUBJID (none of the column-built datasets has one) comes first, as for dicts
    headed = dataclass_replace(built, ColumnRows({"USUBJID": ["", "S-2"], "T": ["x", "y"]}))
    assert chunked._head_and_rows(headed) == ([{"USUBJID": "", "T": "x"}], [{"USUBJID": "S-2", "T": "y"}])


def dataclass_replace(dataset: Dataset, rows: ColumnRows) -> Dataset:
    import dataclasses

    return dataclasses.replace(dataset, rows=rows)


def test_sequence_numbers_and_permuted():
    assert sequence_numbers(["A", "A", "B", "C", "C", "C"]) == [1, 2, 1, 1, 2, 3]
    assert sequence_numbers([]) == []
    assert permuted(["a", "b", "c"], [2, 0, 1, 2]) == ["c", "a", "b", "c"]


def test_findings_built_by_column_are_sorted_numbered_and_flagged_as_sdtm_asks():
    """VS and LB (exports.sdtm._finish_findings_columns): sorted by USUBJID, date, --TESTCD and the
    record id; --SEQ from 1 within each subject; --LOBXFL on each subject's last result per test
    dated on or before the first dose (none for a subject never dosed)."""
    from exports import sdtm

    data = sdtm.ExportData(
        study_code="S", cutoff=date(2026, 10, 31), sites={}, subjects=[], visits={}, arms={}, forms={"infusions": []}
    )
    day = [date(2026, 3, n) for n in range(1, 11)]
    columns = {
        "USUBJID": ["S-2", "S-1", "S-1", "S-1", "S-1", "S-1"],
        "VSTESTCD": ["TEMP", "TEMP", "TEMP", "PULSE", "TEMP", "TEMP"],
        "VSORRES": ["a", "b", "c", "d", "e", "f"],
    }
    on = [day[3], day[5], day[1], day[1], day[2], day[2]]
    ids = [5, 9, 7, 7, 4, 3]
    rows = sdtm._finish_findings_columns(data, columns, "VS", {"S-1": day[2]}, on, ids)
    assert [(r["USUBJID"], r["VSTESTCD"], r["VSORRES"], r["VSSEQ"], r["VSLOBXFL"]) for r in rows] == [
        ("S-1", "PULSE", "d", 1, "Y"),
        ("S-1", "TEMP", "c", 2, None),
        ("S-1", "TEMP", "f", 3, None),
        ("S-1", "TEMP", "e", 4, "Y"),
        ("S-1", "TEMP", "b", 5, None),
        ("S-2", "TEMP", "a", 1, None),
    ]
    assert rows.column("EPOCH") == [None] * 6  # no trial elements: outside the study


def test_decimal_texts_and_numbers_are_plain_and_float_of_each_value():
    from decimal import Decimal

    from exports import sdtm

    values = [Decimal("36.50"), "36.500000", None, 98, "0.000100", Decimal("-0"), "1000.000000", 98]
    texts, numbers = sdtm._texts_and_numbers(values)
    assert texts == ["36.5", "36.5", None, "98", "0.0001", "-0", "1000", "98"]
    assert numbers == [36.5, 36.5, None, 98.0, 0.0001, -0.0, 1000.0, 98.0]
    assert str(numbers[5]) == "-0.0"
