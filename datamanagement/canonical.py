"""The canonical content a signature covers, and its SHA-256 (issue 26 item 1; §11.70 linking).

Format `trialsite-esig-1`: one JSON object, UTF-8, keys sorted, no insignificant whitespace
(`json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`)::

    {"format": "trialsite-esig-1",
     "scope": "form" | "visit" | "casebook",
     "subject": {"id": <pk>, "subject_id": "<code>"},
     "visit": <visit pk> | null,
     "forms": [                                   # sorted by CRF code, then id
        {"form": "<CRF code>", "id": <pk>, "version": <version>, "crf_version": "<x.y>",
         "entered_in_error": <bool>, "entry_status": "<status>",
         "data": {"<column>": <value>, …}}, …]}

`data` holds every data field of the form (crf.services.data_fields: everything but the
bookkeeping columns), keyed by column name (`<fk>_id` for a reference). Values: null, booleans,
integers and strings as stored; decimals as their stored digits (string); dates ISO
`YYYY-MM-DD`; instants ISO 8601 in UTC; JSON values as stored; anything else as its string.
The form scope covers that one form; the visit scope every form of the visit; the casebook scope
every form of the subject. Entered-in-error forms stay covered, flagged.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from crf.models import CrfInstance
from crf.registry import crf_models
from crf.services import record_data_fields

FORMAT = "trialsite-esig-1"


def _value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    return str(value)


def form_entry(form: CrfInstance) -> dict[str, Any]:
    model = type(form)
    data = {}
    for name in record_data_fields(form):  # the fields of the record's own CRF version
        field = model._meta.get_field(name)
        data[field.attname] = _value(field.value_from_object(form))  # type: ignore[union-attr]
    return {
        "form": model.crf_code,
        "id": form.pk,
        "version": form.version,
        "crf_version": form.crf_version,
        "entered_in_error": form.entered_in_error,
        "entry_status": form.entry_status,
        "data": data,
    }


def covered_forms(*, scope: str, subject: Any, visit: Any = None, form: CrfInstance | None = None) -> list[CrfInstance]:
    """The forms a signature of this scope covers now, in canonical order."""
    if scope == "form":
        assert form is not None
        found = [type(form)._default_manager.get(pk=form.pk)]
    else:
        found = []
        for model in crf_models().values():
            rows = model._default_manager.filter(subject=subject)
            if scope == "visit":
                rows = rows.filter(visit=visit)
            found.extend(rows)
    return sorted(found, key=lambda f: (f.crf_code, f.pk))


def document(*, scope: str, subject: Any, visit: Any, forms: list[CrfInstance]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "scope": scope,
        "subject": {"id": subject.pk, "subject_id": subject.subject_id},
        "visit": visit.pk if visit is not None else None,
        "forms": [form_entry(f) for f in forms],
    }


def canonical_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256(doc: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()
