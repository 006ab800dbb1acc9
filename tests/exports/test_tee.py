"""Every file of a dataset written from one reading of its rows (issue 29 item 7, exports.tee)
and the columns' types and distinct values found once for all the writers (exports.facts): the
same bytes as each format written alone, the spool read once, a failed read never taken for the
end of the rows, a failed writer reported."""

from __future__ import annotations

import threading
from datetime import date, datetime
from pathlib import Path

import pytest

from exports import facts, services, tee, writers
from exports.datasets import Column, Dataset
from exports.metadata import ADAMIG, SDTMIG
from exports.spool import SpooledRows

pytestmark = pytest.mark.req("ISSUE-29")

TEXTS = [None, "", "plain", "a,b", 'say "hi"', "=1+1", "-19", " lead", "中文"]
NUMBERS = [None, 0, 1.0, -0.0, 2.5, 1e20, 7, 0.0]


def _spooled(tmp_path: Path, name: str, standard: str, count: int) -> Dataset:
    columns = [
        Column("USUBJID", "Subject", "Char"),
        Column("T", "Text", "Char"),
        Column("N", "Number", "Num"),
        Column("D", "Date", "Date"),
        Column("SEQ", "Sequence", "Num"),
    ]
    rows = [
        {
            "USUBJID": f"S-{n // 40:04d}",
            "T": TEXTS[n % len(TEXTS)] if name != "XP" else f"t{n % 13}",
            "N": NUMBERS[n % len(NUMBERS)],
            "D": None if n % 5 == 0 else date(2026, 1 + n % 12, 1 + n % 28),
            "SEQ": n % 40 + 1,
        }
        for n in range(count)
    ]
    spool = SpooledRows(tmp_path / f"{name}.rows", [c.name for c in columns])
    spool.extend(rows)
    return Dataset(name=name, label=f"{name} rows", standard=standard, ig_dataset=name, columns=columns, rows=spool)


def _export(formats: list[str]):  # type: ignore[no-untyped-def]
    from exports.models import Export
    from study.models import Study

    return Export(study=Study(code="S"), formats=formats, snapshot_at=datetime(2026, 12, 7, 9, 0), code_version="t")


def _bytes(files: list[dict], directory: Path | None) -> list[tuple[str, bytes]]:
    return [(f["name"], f["content"] if directory is None else Path(f["path"]).read_bytes()) for f in files]


@pytest.mark.parametrize("workers", [1, 2])
def test_every_file_of_a_dataset_written_from_one_reading_is_the_file_written_alone(
    tmp_path, settings, monkeypatch, workers
):
    """12,000 rows in blocks of 5,000, the XLSX worksheets 7,000 rows each (a worksheet ends
    inside a block): every CSV, XPT, Dataset-JSON, NDJSON and the workbook are the bytes of the
    writers reading the rows on their own (write_files in memory), in the same order."""
    monkeypatch.setattr(writers, "XLSX_MAX_ROWS", 7_000)
    settings.EXPORT_WORKERS = workers
    spools = tmp_path / "spools"
    spools.mkdir()
    # XP's texts are ASCII: it has an XPT file (the others' "中文" make XPT refuse them: no file)
    built = [
        _spooled(spools, "XX", SDTMIG, 12_000),
        _spooled(spools, "XP", ADAMIG, 3),
        _spooled(spools, "YY", SDTMIG, 9),
    ]
    export = _export(["csv", "xpt", "json", "xlsx"])
    alone = services.write_files(export, built, None)
    out = tmp_path / "out"
    out.mkdir()
    once = services.write_files(export, built, out)
    assert [f["name"] for f in once] == [
        "xx.csv",
        "xx.json",
        "xx.ndjson",
        "xp.csv",
        "xp.xpt",
        "xp.json",
        "xp.ndjson",
        "yy.csv",
        "yy.json",
        "yy.ndjson",
        "datasets.xlsx",
    ]
    assert _bytes(once, out) == _bytes(alone, None)
    assert sorted(p.name for p in out.iterdir()) == sorted(f["name"] for f in once)  # no part file left
    from openpyxl import load_workbook

    workbook = load_workbook(out / "datasets.xlsx", read_only=True)
    assert workbook.sheetnames == ["Contents", "XX", "XX_2", "XP", "YY"]
    assert len(list(workbook["XX_2"].iter_rows(values_only=True))) == 1 + 5_000


def test_the_spool_is_read_once_for_every_format(tmp_path, settings, monkeypatch):
    """With one process, the spooled columns are unpickled once for the files of every format,
    besides the XPT widths (every column, before the XPT header) and the Dataset-JSON types (the
    numeric columns, before its metadata, as far as needed): 2 or 3 readings of each block's
    column — not the 4 more of a reading per format."""
    settings.EXPORT_WORKERS = 1
    built = [_spooled(tmp_path, "XP", ADAMIG, 12_000)]
    reads: dict[tuple[int, int], int] = {}
    real = SpooledRows._mapped  # (each column of a block unpickled goes through it)

    def counted(self, block, index, values):  # type: ignore[no-untyped-def]
        reads[(block, index)] = reads.get((block, index), 0) + 1
        return real(self, block, index, values)

    monkeypatch.setattr(SpooledRows, "_mapped", counted)
    out = tmp_path / "out"
    out.mkdir()
    services.write_files(_export(["csv", "xpt", "json", "xlsx"]), built, out)
    by_column = {index: [reads[(block, index)] for block in range(3)] for index in range(5)}
    # (N's types are known from its first block, which holds 2.5: a double; SEQ's from them all)
    assert by_column == {0: [2, 2, 2], 1: [2, 2, 2], 2: [3, 2, 2], 3: [2, 2, 2], 4: [3, 3, 3]}


def test_a_failed_reading_is_never_taken_for_the_end_of_the_rows():
    seen: list[object] = []

    def blocks():  # type: ignore[no-untyped-def]
        yield [[1, 2]]
        yield [[3]]
        raise OSError("disk gone")

    def writer(feed):  # type: ignore[no-untyped-def]
        rows = []
        try:
            for block in feed:
                rows.extend(block[0])
        except tee.RowsNotRead as error:
            seen.append((rows, type(error.__cause__)))
            raise
        return rows  # not reached: a truncated read is no end

    with pytest.raises(OSError, match="disk gone"):
        tee.fan_out(blocks(), [writer, writer])
    assert seen == [([1, 2, 3], OSError), ([1, 2, 3], OSError)]


@pytest.mark.timeout(30)
def test_a_failed_writer_is_reported_and_neither_it_nor_a_writer_that_stops_early_holds_the_others():
    def failing(feed):  # type: ignore[no-untyped-def]
        next(feed)
        raise ValueError("cannot write")

    def first_only(feed):  # type: ignore[no-untyped-def]
        return next(feed)[0]

    finished = threading.Event()

    def whole(feed):  # type: ignore[no-untyped-def]
        total = sum(block[0][0] for block in feed)
        finished.set()
        return total

    many = ([[n]] for n in range(1, 201))  # far more blocks than a writer may be ahead (DEPTH)
    with pytest.raises(ValueError, match="cannot write"):
        tee.fan_out(many, [failing, first_only, whole])
    assert finished.is_set()
    assert tee.fan_out(([[n]] for n in range(1, 201)), [first_only, whole]) == [[1], 20_100]


def test_each_writer_gets_its_own_list_of_a_blocks_columns():
    def replacing(feed):  # type: ignore[no-untyped-def]
        out = []
        for block in feed:
            block[0] = ["replaced"]  # as the Dataset-JSON writer converts a column
            out.append(block)
        return out

    def reading(feed):  # type: ignore[no-untyped-def]
        return [block[0][0] for block in feed]

    replaced, read = tee.fan_out(([[n], [n]] for n in range(50)), [replacing, reading])
    assert read == list(range(50))
    assert replaced[3] == [["replaced"], [3]]


def test_the_rows_are_cut_where_a_worksheet_ends():
    split = tee.RowSplit([[[0, 1, 2, 3, 4], list("abcde")], [[5, 6, 7], list("fgh")]])
    assert list(split.until(2)) == [[[0, 1], ["a", "b"]]]
    assert list(split.until(6)) == [[[2, 3, 4], ["c", "d", "e"]], [[5], ["f"]]]
    assert list(split.until(100)) == [[[6, 7], ["g", "h"]]]
    assert split.at == 8
    assert list(split.until(200)) == []


def test_facts_are_found_once_per_list_while_kept_and_never_for_another_list():
    values = ["a", None, "b", "a"]
    assert facts.distinct(values) == frozenset({"a", None, "b"})
    assert facts.distinct(values) is not facts.distinct(values)  # outside kept(): found each time
    with facts.kept():
        first = facts.present(values)
        assert first == frozenset({"a", "b"}) and isinstance(first, frozenset)
        assert facts.present(values) is first
        assert facts.kinds(values) == frozenset({str, type(None)})
        equal = list(values)
        assert facts.present(equal) == first and facts.present(equal) is not first
        changed = [1, 2]
        assert facts.kinds(changed) == frozenset({int})
        # a list freed and another made in its place (the same id, perhaps): never its facts
        for count in range(facts.LIMIT + 10):
            made = [count]
            assert facts.distinct(made) == frozenset({count})
        assert facts.present(values) == frozenset({"a", "b"})
        with facts.kept():  # another fan-out at the same time (another thread): kept until both leave
            kept = facts.kinds(values)
        assert facts.kinds(values) is kept
    assert facts._kept is None


def test_the_writers_threads_never_query_the_database(study, tmp_path, settings):
    """The export's study is read before the writers' threads start: a thread's query would open
    a connection of its own, outside the export's transaction (here: the test's, whose study a
    new connection cannot see), and never closed."""
    from django.db import connection

    from exports.models import Export

    settings.EXPORT_WORKERS = 1
    built = [_spooled(tmp_path, "XP", ADAMIG, 7)]
    export = Export(study_id=study.pk, formats=["json"], snapshot_at=datetime(2026, 12, 7, 9, 0), code_version="t")
    threads = []
    real = threading.Thread.start

    def start(self):  # type: ignore[no-untyped-def]
        threads.append(self.name)
        return real(self)

    out = tmp_path / "out"
    out.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threading.Thread, "start", start)
        files = services.write_files(export, built, out)
    assert threads == ["export-writer-0"]
    assert [f["name"] for f in files] == ["xp.json", "xp.ndjson"]
    assert b'"studyOID":"ST.test-study"' in (out / "xp.json").read_bytes()
    assert connection.in_atomic_block


def test_a_blocks_columns_read_at_once_are_the_columns_read_one_by_one(tmp_path):
    """SpooledRows reads the columns a writer asks for of a block with one read of their bytes:
    the same values as each column read alone, a remapped column through its mapping, a name not
    held all None, and a few columns far apart each read alone."""
    names = [f"C{n}" for n in range(12)]
    rows = [{name: f"{name}-{r % 7}" if name != "C3" else r % 4 for name in names} for r in range(11_000)]
    spool = SpooledRows(tmp_path / "x.rows", names)
    spool.extend(rows)
    spool.remap(range(1, 2), "C3", {0: 100, 1: 101})  # the second block's C3 through a mapping
    asked = ["C3", "NOPE", *names]
    chunks = list(spool.column_chunks(asked))
    assert [len(c[0]) for c in chunks] == [5_000, 5_000, 1_000]
    flat = [[value for chunk in chunks for value in chunk[i]] for i in range(len(asked))]
    expected_c3 = [r % 4 if not 5_000 <= r < 10_000 else {0: 100, 1: 101}.get(r % 4, r % 4) for r in range(11_000)]
    assert flat[0] == expected_c3 == flat[2 + 3]
    assert flat[1] == [None] * 11_000
    assert flat[2] == [f"C0-{r % 7}" for r in range(11_000)]
    far = [[list(values) for values in chunk] for chunk in spool.column_chunks(["C0", "C11"], 4_999, 5_001)]
    assert far == [[["C0-1"], ["C11-1"]], [["C0-2"], ["C11-2"]]]
    assert list(spool)[7_000]["C3"] == 100  # (row dicts: every column of a block read at once too)
