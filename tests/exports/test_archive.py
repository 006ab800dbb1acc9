"""One archive (issue 29 item 4): "download all" streams a ZIP of every file of the export with a
manifest (file, rows, size, SHA-256, format, standard) whose hashes match the files in the ZIP;
the download is recorded; someone who may not read the export gets a 404."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from exports import archive, services
from exports.models import ExportDownload, ExportFile, ExportStatus
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
