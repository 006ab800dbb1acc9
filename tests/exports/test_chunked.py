"""The export built in chunks of subjects (issue 29 item 7, exports.chunked): the same files,
byte for byte, as the export built from every subject at once; and the spool its rows go to."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from exports import chunked, services
from exports.datasets import ColumnRows
from exports.models import Export
from exports.spool import SpooledRows
from study.models import Site, Study

pytestmark = pytest.mark.req("ISSUE-29")

CUTOFF = date(2026, 10, 31)


def _export() -> Export:
    study = Study.objects.get(code="synthetic")
    return Export(
        study=study,
        site_ids=sorted(Site.objects.filter(study=study).values_list("pk", flat=True)),
        datasets=services.available_datasets(),
        formats=["csv", "xpt", "json", "xlsx"],
        cutoff_date=CUTOFF,
        snapshot_at=datetime.now(UTC),
        code_version="test",
    )


def _files(files: list[dict]) -> dict[str, bytes]:
    return {f["name"]: f["content"] if "content" in f else Path(f["path"]).read_bytes() for f in files}


@pytest.mark.timeout(1200)
def test_an_export_built_three_subjects_at_a_time_is_the_export_built_at_once(transactional_db, tmp_path, settings):
    call_command(
        "generate_synthetic_study",
        "--subjects=8",
        "--seed=11",
        f"--cache-dir={tmp_path / 'cache'}",
        stdout=StringIO(),
    )
    export = _export()
    results = {}
    reported: dict[tuple[int, int], list[int]] = {(0, 1): [], (3, 1): [], (3, 2): []}
    for size, workers in reported:
        # (3, 2): the chunks built and the files written by two worker processes (exports.parallel)
        settings.EXPORT_CHUNK_SUBJECTS = size
        settings.EXPORT_WORKERS = workers
        directory = tmp_path / f"chunk{size}-{workers}"
        directory.mkdir()
        built, findings, files = services.build(export, progress=reported[(size, workers)].append, directory=directory)
        results[(size, workers)] = (
            [(d.name, len(d.rows)) for d in built],
            [f.as_dict() for f in findings],
            _files(files),
            type(next(d for d in built if d.name == "LB").rows),
            [f["name"] for f in files],
        )
    whole, chunks, two = results[(0, 1)], results[(3, 1)], results[(3, 2)]
    # two processes: the same datasets, report and files, in the same order, byte for byte
    assert two[3] is SpooledRows
    assert two[0] == whole[0] and two[1] == whole[1] and two[4] == whole[4]
    assert [name for name in whole[2] if two[2][name] != whole[2][name]] == []
    assert reported[(3, 2)] == sorted(reported[(3, 2)]) and reported[(3, 2)][-1] == 75
    assert len([p for p in reported[(3, 2)] if 5 <= p < 70]) >= 2  # a report per chunk built
    assert whole[3] is ColumnRows  # built at once: LB held a list per column (exports.datasets)
    assert chunks[3] is SpooledRows  # the chunked build's rows are on disk
    assert chunks[0] == whole[0]
    counts = dict(whole[0])
    assert counts["DM"] == 8
    assert counts["TS"] > 0 and counts["RELREC"] > 0 and counts["ADLB"] > 1000
    assert chunks[1] == whole[1]
    assert list(chunks[2]) == list(whole[2])
    different = [name for name in whole[2] if chunks[2][name] != whole[2][name]]
    assert different == []
    # progress moves dataset by dataset in every chunk (a worker killed "mid-way" must find it
    # between 25 and 70: tests/faults/test_worker_kill.py), never backwards, and ends at 75
    assert reported[(3, 1)] == sorted(reported[(3, 1)]) and reported[(3, 1)][-1] == 75
    building = [p for p in reported[(3, 1)] if 5 <= p < 70]
    assert len(building) >= len(counts)  # dataset by dataset (a report per chunk gave 3)
    assert any(25 <= p < 70 for p in building)


def test_the_order_of_chunks_is_the_usubjid_order(transactional_db, tmp_path):
    call_command("generate_synthetic_study", "--subjects=5", "--seed=3", f"--cache-dir={tmp_path}", stdout=StringIO())
    export = _export()
    data, order = chunked.subject_order(
        study=export.study, site_ids=export.site_ids, cutoff=CUTOFF, at=datetime.now(UTC)
    )
    from exports import sdtm

    usubjids = {s.id: s.usubjid for s in sdtm.subjects(data).values()}
    assert [usubjids[pk] for pk in order] == sorted(usubjids.values())
    assert len(order) == 5
    assert {name for name, rows in data.forms.items() if rows} == {"consents"}


def test_spooled_rows_read_as_a_list(tmp_path):
    rows = [{"USUBJID": f"S-{n:05d}", "N": float(n), "X": None if n % 3 else "x"} for n in range(12_001)]
    spool = SpooledRows(tmp_path / "rows", ["USUBJID", "N", "X"])
    first = spool.extend(rows[:7_000])
    second = spool.extend(rows[7_000:])
    assert list(first) == [0, 1] and list(second) == [2, 3]
    assert len(spool) == 12_001
    assert list(spool) == rows
    assert spool[0] == rows[0] and spool[-1] == rows[-1] and spool[5_000] == rows[5_000]
    assert list(spool[4_998:10_003]) == rows[4_998:10_003]
    assert list(spool[11_990:20_000]) == rows[11_990:]
    assert list(spool[::5_000]) == rows[::5_000]
    assert spool.column("N") == [float(n) for n in range(12_001)]
    assert spool.column("missing") == [None] * 12_001
    with pytest.raises(IndexError):
        spool[12_001]
    head = [{"USUBJID": None, "N": -1.0, "X": "head"}]
    spool.prepend(head)
    assert len(spool) == 12_002
    assert spool[0] == head[0] and spool[1] == rows[0] and spool[-1] == rows[-1]
    spool.remap(second, "N", {7_000.0: 70.0})
    assert spool[7_001]["N"] == 70.0 and spool[7_000]["N"] == 6_999.0
    assert spool.column("N")[7_001] == 70.0


def test_a_spool_adopts_the_blocks_another_spool_wrote(tmp_path):
    """A worker's chunk (exports.parallel) is read from the worker's file, after the rows already
    there, without copying."""
    rows = [{"USUBJID": f"S-{n:05d}", "N": float(n)} for n in range(7_500)]
    spool = SpooledRows(tmp_path / "rows", ["USUBJID", "N"])
    spool.extend(rows[:10])
    worker = SpooledRows(tmp_path / "rows.1", ["USUBJID", "N"])
    worker.extend(rows[10:])
    worker.close()
    adopted = spool.adopt(tmp_path / "rows.1", worker.blocks(), ["USUBJID", "N"])
    assert list(adopted) == [1, 2]
    assert list(spool) == rows and spool.column("N")[7_499] == 7_499.0
    more = SpooledRows(tmp_path / "rows.1", ["USUBJID", "N"], append=True)  # the worker's next chunk
    more.extend(rows[:3])
    more.close()
    assert list(spool.adopt(tmp_path / "rows.1", more.blocks(), ["USUBJID", "N"])) == [3]
    assert list(spool) == rows + rows[:3] and len(spool._adopted) == 1  # one descriptor for the file
    spool.remap(adopted, "N", {10.0: -1.0})
    assert spool[10]["N"] == -1.0 and spool[9]["N"] == 9.0
    with pytest.raises(ValueError, match="columns differ"):
        spool.adopt(tmp_path / "rows.1", worker.blocks(), ["USUBJID"])
    spool.close()


def test_workers_read_the_database_only_outside_a_transaction(db, settings):
    """A worker's own connection would not see the rows of an open transaction (a test's): the
    chunks are then built in the exporting process."""
    from exports import parallel

    settings.EXPORT_WORKERS = 2
    assert parallel.workers() == 2
    assert parallel.database_workers() == 1
    settings.EXPORT_WORKERS = 0
    assert parallel.workers() == 1


def test_each_chunks_lab_parameter_numbers_become_the_studys(tmp_path):
    """Chunk 1 has ALT and HGB (1, 2), chunk 2 only HGB (1): in the study ALT 1, HGB 2, PLAT 3."""
    spool = SpooledRows(tmp_path / "adlb", ["USUBJID", "PARAMCD", "PARAMN"])
    one = spool.extend(
        [{"USUBJID": "A", "PARAMCD": "ALT", "PARAMN": 1.0}, {"USUBJID": "A", "PARAMCD": "HGB", "PARAMN": 2.0}]
    )
    two = spool.extend(
        [{"USUBJID": "B", "PARAMCD": "HGB", "PARAMN": 1.0}, {"USUBJID": "B", "PARAMCD": "PLAT", "PARAMN": 2.0}]
    )
    chunked._renumber_lab_params(
        spool,
        [
            (one, [("ALT", "Alanine", "U/L"), ("HGB", "Hemoglobin", "g/L")]),
            (two, [("HGB", "Hemoglobin", "g/L"), ("PLAT", "Platelets", "10^9/L")]),
        ],
    )
    assert [(r["PARAMCD"], r["PARAMN"]) for r in spool] == [("ALT", 1.0), ("HGB", 2.0), ("HGB", 2.0), ("PLAT", 3.0)]


def test_repeated_keys_are_found_one_subject_at_a_time_and_when_a_subject_comes_back(tmp_path):
    """The key check remembers one subject's keys at a time (flat memory); a subject whose rows
    are not together (never the builders' order) is checked over the whole dataset."""
    from exports import checks
    from exports.findings import ERROR
    from tests.exports.test_writers_checks import ae, ae_row

    def repeats(rows: list[dict]) -> list[tuple[int | None, str]]:
        return [
            (f.row, f.message)
            for f in checks.check_dataset(ae(rows))
            if f.check == "unique-keys" and f.severity == ERROR
        ]

    a, b = "S1-01-A-001", "S1-01-A-002"
    together = [ae_row(1, USUBJID=a), ae_row(2, USUBJID=a), ae_row(1, USUBJID=b), ae_row(1, USUBJID=b)]
    assert repeats(together) == [(4, "USUBJID+AESEQ ('S1-01-A-002', 1) repeats row 3")]
    apart = [ae_row(1, USUBJID=a), ae_row(1, USUBJID=b), ae_row(1, USUBJID=a)]
    assert repeats(apart) == [(3, "USUBJID+AESEQ ('S1-01-A-001', 1) repeats row 1")]
    spooled = ae(together)
    spool = SpooledRows(tmp_path / "ae", [c.name for c in spooled.columns])
    spool.extend(spooled.rows)
    spooled.rows = spool  # type: ignore[assignment]
    assert [(f.row, f.message) for f in checks.check_dataset(spooled) if f.check == "unique-keys"] == [
        (4, "USUBJID+AESEQ ('S1-01-A-002', 1) repeats row 3")
    ]


def _settings_now() -> tuple[str, str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_parallel_workers_per_gather'), current_setting('jit'), "
            "current_setting('work_mem')"
        )
        return cursor.fetchone()


@pytest.mark.django_db
def test_the_chunks_are_read_without_parallel_workers_or_jit_and_the_connection_gets_its_settings_back():
    """exports.chunked.read_settings (issue 29 item 7): inside, no parallel query, no JIT and
    sorts of 64 MB in memory; after, the connection's own values, also after an error that broke
    the transaction (the error itself comes out, not one from putting the settings back)."""
    from django.db import DatabaseError, connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', '5MB', false), set_config('jit', 'on', false)")
        cursor.execute("SELECT set_config('max_parallel_workers_per_gather', '3', false)")
    assert _settings_now() == ("3", "on", "5MB")
    with chunked.read_settings():
        assert _settings_now() == ("0", "off", "64MB")
    assert _settings_now() == ("3", "on", "5MB")
    with (
        pytest.raises(DatabaseError, match="division by zero"),
        transaction.atomic(),
        chunked.read_settings(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1 / 0")
    assert _settings_now() == ("3", "on", "5MB")
