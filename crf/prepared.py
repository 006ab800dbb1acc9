"""Statements of the write path compiled once per process (issue 22).

Every save runs the same dozen reads (the subject's freezes and locks, its signatures, the
protocol settings, its visits and their "not done" marks…). Building each from a queryset —
the ORM's compiler turning lookups into SQL — was about a third of a save's CPU, for SQL that
differs only in its ids. `prepared` compiles a queryset once, with a placeholder for each named
id, and runs the SQL with the ids substituted:

    @prepared("subject_id")
    def _marks(subject_id: int) -> QuerySet[ExpectedFormNotDone]:
        return ExpectedFormNotDone.objects.filter(visit__subject_id=subject_id, withdrawn_at__isnull=True)

    _marks.objects(subject_id=subject.pk)   # model instances (Manager.raw: field converters apply)
    _marks.rows(subject_id=subject.pk)      # tuples, for a values_list queryset

Only integer ids are placeholders (a lookup on a date or a list changes the SQL's shape): the
queryset must not use `select_related` (raw rows build one model) and must use each
placeholder as a plain parameter. The first call checks that every placeholder was found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)

#: placeholder ids: negative, so never a row's id, and far from any value a query compares with
_BASE = -7_220_022


class Prepared(Generic[M]):
    def __init__(self, build: Callable[..., QuerySet[M]], names: tuple[str, ...]) -> None:
        self.build = build
        self.names = names
        self._compiled: tuple[type[M], str, str, list[Any], list[tuple[int, str]]] | None = None

    def _compile(self) -> tuple[type[M], str, str, list[Any], list[tuple[int, str]]]:
        if self._compiled is None:
            placeholders = {name: _BASE - i for i, name in enumerate(self.names)}
            queryset = self.build(**placeholders)
            if queryset.query.select_related:
                raise ValueError(f"{self.build.__qualname__}: a prepared statement cannot select_related")
            sql, params = queryset.query.get_compiler(queryset.db).as_sql()
            slots = [
                (i, name)
                for i, value in enumerate(params)
                for name, placeholder in placeholders.items()
                if type(value) is int and value == placeholder
            ]
            if {name for _i, name in slots} != set(self.names):
                raise ValueError(f"{self.build.__qualname__}: a placeholder is not a plain parameter of the SQL")
            self._compiled = (queryset.model, queryset.db, sql, list(params), slots)
        return self._compiled

    def _params(self, values: dict[str, int]) -> list[Any]:
        _model, _db, _sql, template, slots = self._compile()
        params = list(template)
        for i, name in slots:
            params[i] = int(values[name])
        return params

    def objects(self, **values: int) -> list[M]:
        model, db, sql, _template, _slots = self._compile()
        return list(model._default_manager.db_manager(db).raw(sql, self._params(values)))

    def rows(self, **values: int) -> list[tuple[Any, ...]]:
        _model, db, sql, _template, _slots = self._compile()
        with connections[db].cursor() as cursor:
            cursor.execute(sql, self._params(values))
            return list(cursor.fetchall())


def prepared(*names: str) -> Callable[[Callable[..., QuerySet[M]]], Prepared[M]]:
    """Compile the queryset `build(**names)` returns once; see the module's docstring."""

    def decorator(build: Callable[..., QuerySet[M]]) -> Prepared[M]:
        return Prepared(build, names)

    return decorator
