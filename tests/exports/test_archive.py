"""One archive (issue 29 item 4): "download all" streams a ZIP of every file of the export with a
manifest (file, rows, size, SHA-256, format, standard) whose hashes match the files in the ZIP;
the download is recorded; someone who may not read the export gets a 404."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile

import pytest

from exports import archive, services
from exports.models import (
    ExportDataset,
    ExportDatasetPart,
    ExportDownload,
    ExportFile,
    ExportFilePart,
    ExportStatus,
)
from tests.exports.conftest import CUTOFF, populate_for_export

pytestmark = pytest.mark.req("ISSUE-29")


def test_download_all_streams_a_zip_whose_manifest_matches_its_files(world, client, login):
    populate_for_export(world)
    export = services.request_export(
        actor=world.statistician,
        study=world.study,
        cutoff_date=CUTOFF,
        dataset_names=["DM", "AE", "ADSL"],
        formats=["csv", "xpt", "json"],
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    login(world.statistician)
    response = client.get(f"/exports/{export.pk}/archive.zip")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="export-{export.pk}.zip"'
    chunks = list(response.streaming_content)
    assert len(chunks) > 3  # handed on file by file, not built first
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as zipped:
        assert zipped.testzip() is None
        names = zipped.namelist()
        manifest = json.loads(zipped.read("manifest.json"))
        stored = {f.name: f for f in ExportFile.objects.filter(export=export)}
        assert names == ["manifest.json", *sorted(stored, key=lambda n: stored[n].pk)]
        assert {e["file"] for e in manifest["files"]} == set(stored)
        for entry in manifest["files"]:
            content = zipped.read(entry["file"])
            assert hashlib.sha256(content).hexdigest() == entry["sha256"] == stored[entry["file"]].sha256
            assert (entry["rows"], entry["bytes"]) == (stored[entry["file"]].rows, len(content))
    by_name = {e["file"]: e for e in manifest["files"]}
    assert (by_name["ae.xpt"]["standard"], by_name["ae.xpt"]["rows"]) == ("SDTMIG 3.4, SAS transport v5", 8)
    assert by_name["adsl.ndjson"]["standard"] == "ADaMIG 1.3, Dataset-JSON 1.1"
    assert by_name["define.xml"]["standard"] == by_name["define-adam.xml"]["standard"] == "Define-XML 2.1"
    assert (manifest["study"], manifest["cutoff_date"]) == ("trial7", "2026-06-30")
    assert ExportDownload.objects.filter(export=export, what=f"export-{export.pk}.zip").count() == 1

    client.logout()  # the same gate as every file of the export (selectors.access_export)
    assert client.get(f"/exports/{export.pk}/archive.zip").status_code == 302


def test_the_zip_is_written_as_entries_are_reached():
    loaded = []

    def entry(name: str, size: int):
        def load() -> bytes:
            loaded.append(name)
            return bytes(range(256)) * (size // 256)

        return name, load

    stream = archive.stream_zip([entry("a.bin", 4 << 20), entry("b.bin", 1024)])
    first = next(stream)
    assert first.startswith(b"PK\x03\x04") and loaded == ["a.bin"]  # b not read yet
    rest = b"".join(stream)
    with zipfile.ZipFile(io.BytesIO(first + rest)) as zipped:
        assert zipped.read("a.bin") == bytes(range(256)) * (4 << 12)
        assert zipped.namelist() == ["a.bin", "b.bin"]


def test_large_files_and_datasets_are_stored_in_parts_and_read_back_piece_by_piece(
    world, client, login, api_token, monkeypatch
):
    """Issue 29 item 7: a file over INLINE_MAX_BYTES is stored in parts of PART_BYTES (its
    content column empty), a dataset over INLINE_MAX_ROWS rows in pages of PART_ROWS; the file
    download, the archive and the API's pages give back the same bytes and rows (the limits are
    lowered here so that the small study's files cross them)."""
    monkeypatch.setattr(services, "INLINE_MAX_BYTES", 3000)
    monkeypatch.setattr(services, "PART_BYTES", 1000)
    monkeypatch.setattr(services, "INLINE_MAX_ROWS", 3)
    monkeypatch.setattr(services, "PART_ROWS", 2)
    populate_for_export(world)
    export = services.request_export(
        actor=world.statistician,
        study=world.study,
        cutoff_date=CUTOFF,
        dataset_names=["DM", "AE", "ADSL"],
        formats=["csv", "xpt", "json"],
    )
    export = services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    ae = ExportFile.objects.get(export=export, name="ae.xpt")
    assert bytes(ae.content) == b"" and ae.size_bytes > 3000
    parts = list(ExportFilePart.objects.filter(file=ae).order_by("number"))
    assert [len(p.data) for p in parts[:-1]] == [1000] * (len(parts) - 1) and len(parts) == -(-ae.size_bytes // 1000)
    whole = b"".join(bytes(p.data) for p in parts)
    assert hashlib.sha256(whole).hexdigest() == ae.sha256
    inline = 0
    for file in ExportFile.objects.filter(export=export):
        stored = ExportFilePart.objects.filter(file=file).count()
        if file.size_bytes <= 3000:
            inline += 1
            assert (len(bytes(file.content)), stored) == (file.size_bytes, 0), file.name
        else:
            assert (bytes(file.content), stored) == (b"", -(-file.size_bytes // 1000)), file.name
    assert inline >= 3  # e.g. dm.csv, dm.xpt, adsl.csv

    login(world.statistician)
    download = client.get(f"/exports/{export.pk}/files/ae.xpt")
    assert download.streaming and b"".join(download.streaming_content) == whole
    assert download["Content-Length"] == str(ae.size_bytes)
    zipped = zipfile.ZipFile(io.BytesIO(b"".join(client.get(f"/exports/{export.pk}/archive.zip").streaming_content)))
    for file in ExportFile.objects.filter(export=export):
        assert hashlib.sha256(zipped.read(file.name)).hexdigest() == file.sha256, file.name

    stored = ExportDataset.objects.get(export=export, name="AE")
    assert stored.rows == [] and stored.row_count == 8
    assert ExportDatasetPart.objects.filter(dataset=stored).count() == 4  # 8 rows, 2 a page
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(world.statistician)}"}
    paged = client.get(f"/api/v1/exports/{export.pk}/datasets/AE/?offset=3&limit=4", **auth).json()
    everything = client.get(f"/api/v1/exports/{export.pk}/datasets/AE/?offset=0&limit=100", **auth).json()
    assert len(everything["rows"]) == 8 and paged["rows"] == everything["rows"][3:7]
    assert everything["count"] == 8


def test_the_archive_starts_within_a_second(world, client, login):
    """Issue 29 item 7: "download all" hands on its first bytes (the manifest) before any file is
    read — well within 1 s here."""
    populate_for_export(world)
    export = services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, formats=["csv", "xpt", "json", "xlsx"]
    )
    export = services.compute_export(export_id=export.pk)
    login(world.statistician)
    started = time.monotonic()
    response = client.get(f"/exports/{export.pk}/archive.zip")
    first = next(iter(response.streaming_content))
    assert time.monotonic() - started < 1.0
    assert first.startswith(b"PK\x03\x04") and b"manifest.json" in first
