"""One archive of an export (issue 29 item 4): every file of the export in a ZIP with a manifest
(file, rows, SHA-256, format, standard), streamed as it is written — the ZIP is never built in
memory: one stored file is read at a time and its compressed bytes are handed on at once (a
non-seekable sink makes zipfile write data descriptors)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

CHUNK = 1 << 20
MANIFEST = "manifest.json"


class _Sink:
    """A write-only, non-seekable file object whose bytes are taken out as they come."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks = []
        return out


def standard_of(name: str, fmt: str) -> str:
    """The standard (and version) a file of an export follows, for the manifest."""
    stem, _dot, suffix = name.rpartition(".")
    if fmt == "odm":
        return "CDISC ODM 1.3.2"
    if name.startswith("define") and suffix in {"xml", "html"}:
        return "Define-XML 2.1"
    if suffix == "xsl":
        return "XSLT 1.0 stylesheet of the define.xml"
    if name == "define.json":
        return "TrialSite define.json"
    if suffix == "xlsx":
        return "SDTMIG 3.4 / ADaMIG 1.3, XLSX workbook"
    ig = "ADaMIG 1.3" if stem.startswith("ad") else "SDTMIG 3.4"
    if suffix in {"json", "ndjson"}:
        return f"{ig}, Dataset-JSON 1.1"
    if suffix == "xpt":
        return f"{ig}, SAS transport v5"
    return f"{ig}, CSV"


def manifest(files: Iterable[dict[str, Any]], about: dict[str, Any]) -> bytes:
    """The manifest: what the export is, then one entry per file (name, rows, size, SHA-256,
    format, standard)."""
    entries = [
        {
            "file": f["name"],
            "rows": f["rows"],
            "bytes": f["size_bytes"],
            "sha256": f["sha256"],
            "format": f["name"].rpartition(".")[2],
            "standard": standard_of(f["name"], f["fmt"]),
        }
        for f in files
    ]
    return json.dumps({**about, "files": entries}, indent=1, ensure_ascii=False).encode("utf-8")


def stream_zip(entries: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """The ZIP of `entries` — (name, loader) or (name, loader, size), the loader returning the
    entry's bytes or an iterable of its pieces — yielded piece by piece as it is written: each
    loader is called only when its entry is reached, and a piece is handed on as soon as it is
    compressed (issue 29 item 7: the archive's first bytes leave before any file is read whole)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for name, load, *sized in entries:
            content = load()
            pieces: Iterable[bytes]
            if isinstance(content, bytes | bytearray | memoryview):
                size = len(content)
                pieces = (content[start : start + CHUNK] for start in range(0, len(content), CHUNK))
            else:
                size = sized[0] if sized else 0x7FFF0001  # unknown: allow ZIP64
                pieces = content
            with archive.open(name, "w", force_zip64=size > 0x7FFF0000) as handle:
                for piece in pieces:
                    for start in range(0, len(piece), CHUNK):
                        handle.write(piece[start : start + CHUNK])
                        taken = sink.take()
                        if taken:
                            yield taken
            taken = sink.take()
            if taken:
                yield taken
    yield sink.take()
