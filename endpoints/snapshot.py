"""The data as they stood at the snapshot time, rebuilt from the audit trail (DESIGN §5).

Every clinical model is tracked by django-pghistory: each insert, update and delete leaves an
event row holding the whole record as it was after the change. The state at a time S is, per
object, the last event at or before S (ties inside one transaction broken by the event's id);
an object whose last event is a delete is gone, and one marked entered in error is dropped
(DESIGN §4 "No hard deletes"). The live tables are never read, so a run at S gives the same
inputs today and after any later edit — the basis of byte-identical re-runs.

One code path for every snapshot, "now" included: the snapshot of a run that starts now is its
start time, and reading it from the events keeps the two cases identical by construction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import compress, repeat
from operator import itemgetter
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import F, Lookup
from django.db.models.functions import Cast
from django.db.models.sql.constants import MULTI

DELETE_LABEL = "delete"

#: Rows fetched per round trip from the server-side cursor of a snapshot read (issue 30 item 6):
#: the reads stream instead of holding the whole result in the client and again as a list.
CHUNK_ROWS = 5000


def event_model(model: type[models.Model]) -> type[models.Model]:
    """The pghistory event model of `model` (`<Model>Event` in the same app)."""
    return apps.get_model(model._meta.app_label, f"{model.__name__}Event")


def field_names(model: type[models.Model]) -> list[str]:
    """The fields a snapshot row of `model` has by default (every field its events keep but the
    key, which the row has as `id`): what `rows_as_of`'s `fields` chooses from."""
    return _field_names(model)


def _field_names(model: type[models.Model]) -> list[str]:
    event = event_model(model)
    event_fields = {f.attname for f in event._meta.concrete_fields}
    return [f.attname for f in model._meta.concrete_fields if f.attname in event_fields and f.attname != "id"]


class Shared:
    """One object per distinct value of the immutable types a snapshot repeats on every row
    (texts, dates, date-times, decimals: a status, a term, a visit date), so 10,000 subjects' rows
    hold each of them once instead of once per row (issue 30 item 6: the snapshot's rows were most
    of a run's memory). A value is replaced only by one of the same type that is equal AND written
    the same way (a decimal's exponent, a date-time's time zone and fold: date-times and decimals
    are matched by their `repr`), so every use of a row, its JSON and the run's input digest
    included, is unchanged. Mutable values (JSON lists and dicts) are never shared. The reads
    share a whole column of a chunk at once (`share_column`), in C: `map` over the dicts'
    `setdefault`."""

    __slots__ = ("_others", "_seen", "other", "plain")

    def __init__(self) -> None:
        self._seen: dict[Any, Any] = {}
        #: for columns of texts and dates (and None): equal values of these are the same value
        self.plain = self._seen.setdefault
        self._others: dict[str, Any] = {}
        #: for date-times and decimals (and None), keyed by their repr
        self.other = self._others.setdefault

    def __call__(self, value: Any) -> Any:
        kind = type(value)
        if kind is str or kind is date:
            return self.plain(value, value)
        if kind is datetime or kind is Decimal:
            return self.other(repr(value), value)
        return value

    def share_column(self, values: Sequence[Any], *, plain: bool) -> list[Any]:
        """The values of one column (texts and dates when `plain`, else decimals or date-times;
        None anywhere) with the ones seen before replaced by the first seen."""
        if plain:
            return list(map(self.plain, values, values))
        return list(map(self.other, map(repr, values), values))


def _shared_columns(
    model: type[models.Model], names: list[str], text: Collection[str] = ()
) -> tuple[list[int], list[int]]:
    """Positions (in a snapshot row: pgh_obj_id, pgh_label, *names) of the columns whose values
    `Shared` may replace: texts and dates (any equal value is the same; the decimals read as
    their `text`), then decimals (`Shared` compares how they are written too). Date-times are not
    shared: they are time stamps, nearly all distinct, and matching them by `repr` was a third of
    the sharing's time for nothing."""
    fields = {f.attname: f for f in event_model(model)._meta.concrete_fields}
    plain, other = [], []
    for i, name in enumerate(names, start=2):
        field = fields[name]
        if isinstance(field, models.DateTimeField):
            continue
        if name in text:
            plain.append(i)
        elif isinstance(field, models.DecimalField):
            other.append(i)
        elif isinstance(field, models.CharField | models.TextField | models.DateField):
            plain.append(i)
    return plain, other


class _AnyOf(Lookup):
    """`column = ANY(%s)` with the keys as ONE array parameter: a snapshot of 10,000 subjects
    filters each of its ~20 history tables by their keys, and `__in` prepared the 10,000 values
    one by one for every query (about 30 ms each; issue 30 item 6)."""

    lookup_name = "snapshot_any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, [int(key) for key in self.rhs]]


def any_of(column: str, keys: list[int]) -> Lookup:
    """A filter for `rows_as_of` / `history_as_of`: `column` (a key) is one of `keys`."""
    return _AnyOf(F(column), list(keys))


def _columns(
    queryset: Any, model: type[models.Model], names: list[str], shared: Shared, text: Collection[str] = ()
) -> Iterator[list[Any]]:
    """The rows of a `values_list("pgh_obj_id", "pgh_label", *names)` query, read from a
    server-side cursor `CHUNK_ROWS` at a time, each chunk as its list of columns, with Django's
    converters applied (the JSON fields' parsing) and repeated values shared (`Shared`).

    Column by column instead of row by row (issue 30 item 6): the queryset's own iterator ran a
    Python generator step per row (Django's converters) and the sharing a Python loop per value,
    together most of `load_cut`'s time at 10,000 subjects; here every step over a whole column is
    `zip`, `map` or a list comprehension over that column alone. Same SQL, same values."""
    compiler = queryset.query.get_compiler(queryset.db)
    chunks = compiler.execute_sql(MULTI, chunked_fetch=True, chunk_size=CHUNK_ROWS)
    selected = [column[0] for column in compiler.select[0 : compiler.col_count]]
    converters = compiler.get_converters(selected)
    plain_positions, other_positions = _shared_columns(model, names, text)
    for chunk in chunks:
        if not chunk:
            continue
        columns: list[Any] = list(zip(*chunk, strict=True))
        for position, (functions, expression) in converters.items():
            values = columns[position]
            for convert in functions:
                if _plain_json(convert):
                    values = _json_column(values)
                else:
                    values = [convert(value, expression, compiler.connection) for value in values]
            columns[position] = values
        for position in plain_positions:
            columns[position] = shared.share_column(columns[position], plain=True)
        for position in other_positions:
            columns[position] = shared.share_column(columns[position], plain=False)
        yield columns


def _plain_json(convert: Any) -> bool:
    """Whether a converter is a JSON field's parsing with the standard decoder."""
    return getattr(convert, "__func__", None) is models.JSONField.from_db_value and convert.__self__.decoder is None


def _json_column(values: Sequence[str | None]) -> list[Any]:
    """A column of JSON texts (None for SQL NULL) parsed as `JSONField.from_db_value` parses
    each: one `json.loads` of the whole column as a JSON array (in C) instead of a Python call
    per value (issue 30 item 6: the AEs' two JSON fields were a fifth of their read). A JSON
    null and SQL NULL both give None, as there; each value is a new object, never shared."""
    return json.loads(f"[{','.join('null' if text is None else text for text in values)}]")


def _filtered(event: type[models.Model], at: datetime, where: Lookup | None, filters: dict[str, Any]) -> Any:
    found = event.objects.filter(pgh_created_at__lte=at, **filters)
    return found if where is None else found.filter(where)


def rows_as_of(
    model: type[models.Model],
    at: datetime,
    *,
    fields: list[str] | None = None,
    shared: Shared | None = None,
    where: Lookup | None = None,
    text: Collection[str] = (),
    **filters: Any,
) -> list[dict[str, Any]]:
    """Each object of `model` as it stood at `at`, as a dict of its fields (`id` = the object's
    key), sorted by id; deleted objects and those entered in error are left out. `fields` keeps
    only the named columns (plus `entered_in_error` when the model has it), to read less.
    `shared` shares repeated values across the reads of one cut (`Shared`); `where` is one more
    filter of the history rows (`any_of`). `text` names decimal fields read as their text (the
    server's `numeric::text`, e.g. "36.500000"; None for NULL) instead of a `Decimal`: for a
    reader that only formats them or makes them floats (the export's LB and VS, issue 29 item 7:
    a `Decimal` made per value, then written back to text, was a tenth of their build)."""
    keys, chunks = _latest(model, at, fields, shared, where, text, filters)
    rows: list[dict[str, Any]] = []
    for columns in chunks:
        rows.extend(map(dict, map(zip, repeat(keys), zip(*columns, strict=True))))
    rows.sort(key=itemgetter("id"))
    return rows


def columns_as_of(
    model: type[models.Model],
    at: datetime,
    *,
    fields: list[str] | None = None,
    shared: Shared | None = None,
    where: Lookup | None = None,
    text: Collection[str] = (),
    **filters: Any,
) -> dict[str, list[Any]]:
    """`rows_as_of` as one list per field (and `id`), in the same order and with the same values,
    without a dict per object: for a reader that takes its records a column at a time (the
    export's LB and VS, issue 29 item 7: the dicts were a third of their read)."""
    keys, chunks = _latest(model, at, fields, shared, where, text, filters)
    out: list[list[Any]] = [[] for _key in keys]
    for columns in chunks:
        for target, values in zip(out, columns, strict=True):
            target.extend(values)
    ids = out[-1]
    if any(map(int.__gt__, ids, ids[1:])):  # (read in the key's order: sorted already)
        order = sorted(range(len(ids)), key=ids.__getitem__)
        out = [list(map(values.__getitem__, order)) for values in out]
    return dict(zip(keys, out, strict=True))


def _latest(
    model: type[models.Model],
    at: datetime,
    fields: list[str] | None,
    shared: Shared | None,
    where: Lookup | None,
    text: Collection[str],
    filters: dict[str, Any],
) -> tuple[tuple[str, ...], Iterator[list[Sequence[Any]]]]:
    """The keys (the fields read, then `id`) and, a block of rows at a time, the columns of each
    object's latest version at `at` in that order, deleted objects and those entered in error
    left out: what `rows_as_of` and `columns_as_of` make their rows or columns of."""
    event = event_model(model)
    names = _field_names(model)
    if fields is not None:
        wanted = set(fields) | {"entered_in_error"}
        names = [name for name in names if name in wanted]
    latest = (
        _filtered(event, at, where, filters)
        .order_by("pgh_obj_id", "-pgh_created_at", "-pgh_id")
        .distinct("pgh_obj_id")
        .values_list("pgh_obj_id", "pgh_label", *_selected(event, names, text))
    )
    in_error = names.index("entered_in_error") + 2 if "entered_in_error" in names else None

    def chunks() -> Iterator[list[Sequence[Any]]]:
        for columns in _columns(latest, model, names, shared or Shared(), text):
            kept = [*columns[2:], columns[0]]
            if DELETE_LABEL in columns[1] or (in_error is not None and any(columns[in_error])):
                keep = [label != DELETE_LABEL for label in columns[1]]
                if in_error is not None:
                    keep = [kept and not error for kept, error in zip(keep, columns[in_error], strict=True)]
                kept = [list(compress(values, keep)) for values in kept]
            yield kept

    return (*names, "id"), chunks()


def _selected(event: type[models.Model], names: list[str], text: Collection[str]) -> list[Any]:
    """The columns a snapshot read selects: each field, or its text for a decimal in `text`."""
    if not text:
        return names
    decimals = {f.attname for f in event._meta.concrete_fields if isinstance(f, models.DecimalField)}
    unknown = set(text) - decimals
    if unknown:
        raise ValueError(f"not decimal fields of {event.__name__}: {sorted(unknown)}")
    return [Cast(name, output_field=models.TextField()) if name in text else name for name in names]


def history_as_of(
    model: type[models.Model],
    at: datetime,
    *,
    fields: list[str] | None = None,
    shared: Shared | None = None,
    where: Lookup | None = None,
    **filters: Any,
) -> list[dict[str, Any]]:
    """Every version of every object up to `at`, in the order they were written. `fields`
    keeps only the named columns (the label and the key come with every version)."""
    event = event_model(model)
    names = _field_names(model)
    if fields is not None:
        names = [name for name in names if name in fields]
    versions = (
        _filtered(event, at, where, filters)
        .order_by("pgh_obj_id", "pgh_created_at", "pgh_id")
        .values_list("pgh_obj_id", "pgh_label", *names)
    )
    keys = ("pgh_label", *names, "id")
    rows: list[dict[str, Any]] = []
    for columns in _columns(versions, model, names, shared or Shared()):
        rows.extend(map(dict, map(zip, repeat(keys), zip(*columns[1:], columns[0], strict=True))))
    return rows
