"""The XLSX workbook (issue 29 item 3): one workbook, a Contents sheet and a sheet per dataset
with the same values as the dataset; a dataset over the sheet limit continues on NAME_2; text
beginning with "=" stays text."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime

import pytest
from openpyxl import load_workbook

from exports import services, writers
from exports.datasets import make_dataset
from exports.metadata import SDTMIG
from exports.models import ExportDataset, ExportFile, ExportStatus
from tests.exports.conftest import CUTOFF, populate_for_export

pytestmark = pytest.mark.req("ISSUE-29")


def test_the_workbook_holds_every_dataset_cell_for_cell(world):
    populate_for_export(world)
    export = services.request_export(
        actor=world.statistician,
        study=world.study,
        cutoff_date=CUTOFF,
        dataset_names=["DM", "AE", "LB", "ADSL"],
        formats=["xlsx"],
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    content = bytes(ExportFile.objects.get(export=export, name="datasets.xlsx").content)
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    contents = list(workbook["Contents"].iter_rows(values_only=True))
    assert contents[0] == ("Dataset", "Label", "Standard", "Rows", "Sheets")
    assert [r[0] for r in contents[1:]] == [
        "DM",
        "SUPPDM",
        "AE",
        "SUPPAE",
        "FA",
        "LB",
        "ADSL",
    ]  # empty SUPPLB left out; FA with AE (issue 30)
    for stored in ExportDataset.objects.filter(export=export, row_count__gt=0):
        rows = list(workbook[stored.name].iter_rows(values_only=True))
        assert list(rows[0]) == [c["name"] for c in stored.columns]
        assert len(rows) - 1 == stored.row_count
        for got, want in zip(rows[1:], stored.rows, strict=True):
            got = tuple(got) + (None,) * (len(want) - len(got))  # trailing empty cells are not stored
            for column, cell, value in zip(stored.columns, got, want, strict=True):
                if isinstance(cell, datetime):
                    cell = cell.date().isoformat()
                value = None if value == "" else value  # an empty text is an empty cell
                assert cell == value, (stored.name, column["name"], cell, value)


def test_a_long_dataset_continues_on_a_second_sheet_and_text_stays_text(monkeypatch):
    monkeypatch.setattr(writers, "XLSX_MAX_ROWS", 3)
    rows = [{"STUDYID": "S", "DOMAIN": "AE", "USUBJID": f"S-{n}", "AESEQ": 1, "AETERM": "=1+1"} for n in range(5)]
    ae = make_dataset(
        "AE",
        standard=SDTMIG,
        ig_dataset="AE",
        variables=["STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM"],
        rows=rows,
        keys=("USUBJID", "AESEQ"),
    )
    workbook = load_workbook(io.BytesIO(writers.xlsx_bytes([ae])))
    assert workbook.sheetnames == ["Contents", "AE", "AE_2"]
    assert workbook["Contents"]["E2"].value == "AE, AE_2"
    assert [r[2] for r in workbook["AE_2"].iter_rows(min_row=2, values_only=True)] == ["S-3", "S-4"]
    cell = workbook["AE"]["E2"]
    assert (cell.value, cell.data_type) == ("=1+1", "s")


def test_each_sheet_has_its_own_datasets_columns_and_values_keep_their_type():
    """The streaming writer (exports.xlsx, issue 29 item 7): each sheet is written with its own
    dataset's columns; numbers, dates and text read back as such; empty text is an empty cell."""
    from datetime import date

    from exports.datasets import Column, Dataset

    first = Dataset("DM", "Demographics", SDTMIG, "DM", [Column("A", "", "Char"), Column("B", "", "Num")], [])
    first.rows = [{"A": "a1 ", "B": 1.5}, {"A": "", "B": 2}]
    second = Dataset(
        "ADSL", "Subject Level", "ADaMIG 1.3", "ADSL", [Column("B", "", "Date")], [{"B": date(2026, 1, 2)}]
    )
    workbook = load_workbook(io.BytesIO(writers.xlsx_bytes([first, second])), read_only=True)
    assert list(workbook["DM"].iter_rows(values_only=True)) == [("A", "B"), ("a1 ", 1.5), (None, 2)]
    assert list(workbook["ADSL"].iter_rows(values_only=True)) == [("B",), (datetime(2026, 1, 2),)]
    assert list(workbook["Contents"].iter_rows(values_only=True))[1:] == [
        ("DM", "Demographics", SDTMIG, 2, "DM"),
        ("ADSL", "Subject Level", "ADaMIG 1.3", 1, "ADSL"),
    ]


def _two_datasets():
    from datetime import date

    from exports.datasets import Column, Dataset

    first = Dataset("DM", "Demographics", SDTMIG, "DM", [Column("A", "", "Char"), Column("B", "", "Num")], [])
    first.rows = [{"A": f"a{n} & <b>", "B": n / 4} for n in range(7)]
    second = Dataset("ADSL", "Subject Level", "ADaMIG 1.3", "ADSL", [Column("D", "", "Date")], [])
    second.rows = [{"D": date(2026, 1, 1 + n)} for n in range(5)]
    return first, second


def test_the_worksheets_written_by_two_workers_make_the_same_workbook(tmp_path, settings):
    """write_files deflates each worksheet in a task of its own (issue 29 item 7) and assembles
    the ZIP after: the same bytes as the workbook written at once, and no part file left."""
    from exports.models import Export
    from study.models import Study

    settings.EXPORT_WORKERS = 2
    first, second = _two_datasets()
    export = Export(study=Study(code="S"), formats=["xlsx"], snapshot_at=datetime(2026, 12, 7, 9, 0))
    files = services.write_files(export, [first, second], tmp_path)
    assert [(f["name"], f["rows"]) for f in files] == [("datasets.xlsx", 12)]
    assert [p.name for p in tmp_path.iterdir()] == ["datasets.xlsx"]
    content = (tmp_path / "datasets.xlsx").read_bytes()
    assert content == writers.xlsx_bytes([first, second])
    # hashed as written (services._Hashing), the parts copied through the hash
    assert files[0]["sha256"] == hashlib.sha256(content).hexdigest()
    assert files[0]["size_bytes"] == len(content)
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    assert workbook.sheetnames == ["Contents", "DM", "ADSL"]
    assert list(workbook["DM"].iter_rows(values_only=True))[-1] == ("a6 & <b>", 1.5)
    assert list(workbook["ADSL"].iter_rows(values_only=True))[-1] == (datetime(2026, 1, 5),)


def test_each_dataset_file_is_described_by_the_hash_and_size_of_its_bytes(tmp_path, settings):
    """The SHA-256 and size of every file written to a directory are taken while it is written
    (services._Hashing, issue 29 item 7): they are those of the bytes on disk, in every format."""
    from exports.models import Export
    from study.models import Study

    settings.EXPORT_WORKERS = 1
    first, second = _two_datasets()
    export = Export(study=Study(code="S"), formats=["csv", "xpt", "json"], snapshot_at=datetime(2026, 12, 7, 9, 0))
    files = services.write_files(export, [first, second], tmp_path)
    assert sorted(f["name"] for f in files) == [
        "adsl.csv",
        "adsl.json",
        "adsl.ndjson",
        "adsl.xpt",
        "dm.csv",
        "dm.json",
        "dm.ndjson",
        "dm.xpt",
    ]
    for file in files:
        content = (tmp_path / file["name"]).read_bytes()
        assert file["size_bytes"] == len(content) > 0, file["name"]
        assert file["sha256"] == hashlib.sha256(content).hexdigest(), file["name"]


def test_a_workbook_past_the_zip_fields_is_written_with_zip64_records(monkeypatch):
    """A worksheet or workbook past 4 GiB needs ZIP64 sizes and offsets (exports.xlsx.write_zip):
    with the limit at 0 every entry has them, and zipfile and openpyxl read it all back."""
    import zipfile

    from exports import xlsx

    first, second = _two_datasets()
    plain = writers.xlsx_bytes([first, second])
    monkeypatch.setattr(xlsx, "ZIP64_LIMIT", 0)
    wide = writers.xlsx_bytes([first, second])
    assert len(wide) > len(plain)
    with zipfile.ZipFile(io.BytesIO(wide)) as archive, zipfile.ZipFile(io.BytesIO(plain)) as before:
        assert archive.testzip() is None
        assert archive.namelist() == before.namelist()
        assert [archive.read(name) for name in archive.namelist()] == [before.read(n) for n in before.namelist()]
        assert archive.read("xl/worksheets/sheet2.xml").count(b"<row>") == 8
    workbook = load_workbook(io.BytesIO(wide), read_only=True)
    assert list(workbook["Contents"].iter_rows(values_only=True))[1] == ("DM", "Demographics", SDTMIG, 7, "DM")


def test_the_same_rows_in_blocks_of_any_size_make_the_same_bytes():
    """ISA-L's DEFLATE output depends on how its input is cut: the worksheet XML is deflated in
    pieces of a fixed size (exports.xlsx.PIECE), so rows read from memory or from the spool, in
    blocks of any size, make the same file; the cells are those of the row-by-row writer."""
    import zipfile
    from datetime import date

    from exports import xlsx

    rows = [
        [f"v{n}" if n % 3 else None, n * 1.5 if n % 5 else None, "x" * (n % 7), date(2026, 1, 1 + n % 20), n]
        for n in range(40_000)
    ]

    def workbook(sheet_rows):
        out = io.BytesIO()
        xlsx.write_workbook(out, [("Contents", ["A"], [["x"]]), ("S", list("ABCDE"), sheet_rows)])
        return out.getvalue()

    def blocks(size):
        return xlsx.Columns([list(map(list, zip(*rows[n : n + size], strict=True))) for n in range(0, len(rows), size)])

    by_5000 = workbook(blocks(5_000))
    assert len(by_5000) > xlsx.PIECE // 4  # the sheet's XML is several pieces
    assert workbook(blocks(1_234)) == by_5000
    with zipfile.ZipFile(io.BytesIO(by_5000)) as archive, zipfile.ZipFile(io.BytesIO(workbook(rows))) as by_row:
        sheet = archive.read("xl/worksheets/sheet2.xml")
        assert len(sheet) > 3 * xlsx.PIECE
        assert sheet == by_row.read("xl/worksheets/sheet2.xml")


def _expected_cell(value):
    """What openpyxl reads back of a value the writer was given (exports.xlsx: a missing value,
    an empty text, NaN and the infinities are no cell; a date or a date-time is a date)."""
    from datetime import date
    from decimal import Decimal

    if value is None or value == "" or (isinstance(value, float) and (value != value or abs(value) == float("inf"))):
        return None
    if isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, Decimal):
        return float(value)
    return value


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cells_without_references_read_back_where_they_were_written(seed):
    """Cells carry their reference (`r`) only after an absent cell (exports.xlsx): a random sheet
    of every kind of value — columns with a cell on every row, on some, on none, of texts,
    numbers, dates, and of types formatted cell by cell (bools, date-times, decimals) — read back
    by openpyxl has each value in its row and column, from the blocks of columns and row by row
    (the same bytes)."""
    import random
    import zipfile
    from datetime import date
    from decimal import Decimal

    from exports import xlsx

    rng = random.Random(seed)
    kinds = [
        lambda: rng.choice(["a", " lead", "x & <y>", "trail ", "日本", "-1", "=1+1"]),
        lambda: rng.choice([0, 1, -7, 2**40]),
        lambda: rng.choice([0.5, -0.0, 2.0, 1e-7, float("nan"), float("inf")]),
        lambda: date(2026, 1, rng.randint(1, 28)),
        lambda: rng.choice([True, False, datetime(2026, 3, 4, 5, 6), Decimal("1.25"), 3]),
        lambda: rng.choice(["t", 4, date(2020, 2, 2)]),  # texts, numbers and dates in one column
    ]
    width = 12
    makers = [rng.choice(kinds) for _ in range(width)]
    # per column: how often a value is there (0: an absent column; 1: every row)
    presence = [rng.choice([0, 0.2, 0.5, 0.9, 1, 1]) for _ in range(width)]
    rows = [
        [
            maker() if rng.random() < share else rng.choice([None, ""])
            for maker, share in zip(makers, presence, strict=True)
        ]
        for _ in range(3_000)
    ]
    header = [f"V{n}" for n in range(width)]

    def workbook(sheet_rows):
        out = io.BytesIO()
        xlsx.write_workbook(out, [("S", header, sheet_rows)])
        return out.getvalue()

    size = rng.choice([1, 7, 500, 3_000])
    columns = xlsx.Columns([list(map(list, zip(*rows[n : n + size], strict=True))) for n in range(0, len(rows), size)])
    by_columns = workbook(columns)
    by_row = workbook(rows)
    with zipfile.ZipFile(io.BytesIO(by_columns)) as one, zipfile.ZipFile(io.BytesIO(by_row)) as other:
        assert one.read("xl/worksheets/sheet1.xml") == other.read("xl/worksheets/sheet1.xml")
    got = list(load_workbook(io.BytesIO(by_columns), read_only=True)["S"].iter_rows(values_only=True))
    assert list(got[0]) == header
    assert len(got) == 1 + len(rows)
    for number, (read, row) in enumerate(zip(got[1:], rows, strict=True), start=2):
        read = list(read) + [None] * (width - len(read))
        assert read == [_expected_cell(value) for value in row], number
