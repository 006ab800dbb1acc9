"""load_cut on a bench database and its input digest, the old way (an isinstance chain per value
and a float-refusing walk of the whole document) against the new (one type lookup, no walk):
the same SHA-256, and the time of each (issue 30 item 6).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trialsite_endpoints_bench_150 \\
        .venv/bin/python bench/input_digest.py
"""

from __future__ import annotations

import hashlib
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from _common import setup_django


def old_plain(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, date | datetime | Decimal):
            out[key] = value.isoformat() if isinstance(value, date | datetime) else str(value)
        elif isinstance(value, float):
            out[key] = repr(value)
        else:
            out[key] = value
    return out


def main() -> None:
    setup_django()
    from django.utils import timezone

    from endpoints import services, tables
    from study.models import Study

    study = Study.objects.get(code="synthetic")
    started = time.monotonic()
    data, version, digest = services.load_cut(study, cutoff=date(2026, 10, 31), at=timezone.now())
    total = time.monotonic() - started

    def document(plain: Any) -> dict[str, Any]:
        inputs = {name: [plain(row) for row in getattr(data, name)] for name in tables.CutData.INPUTS}
        settings = data.choices.to_json()
        return {"cutoff": "2026-10-31", "settings": settings, "settings_version": version, "inputs": inputs}

    started = time.monotonic()
    old = hashlib.sha256(tables.canonical_json(document(old_plain)).encode()).hexdigest()
    old_s = time.monotonic() - started
    started = time.monotonic()
    new = hashlib.sha256(tables.canonical_json(document(services._plain), refuse_floats=False).encode()).hexdigest()
    new_s = time.monotonic() - started
    rows = sum(len(getattr(data, name)) for name in tables.CutData.INPUTS)
    print(
        f"load_cut {total:.2f} s; input rows {rows}; digest old {old_s:.2f} s, new {new_s:.2f} s; "
        f"same digest {old == new == digest}"
    )


if __name__ == "__main__":
    main()
