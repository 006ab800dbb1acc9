"""Statements of the write path compiled once per process (issue 22), in the lowest layer (a
study/ read uses it too).

Every save runs the same dozen reads (the subject's freezes and locks, its signatures, the
protocol settings, its visits and their "not done" marks…). Building each from a queryset —
the ORM's compiler turning lookups into SQL — was about a third of a save's CPU, for SQL that
differs only in its ids. `prepared` compiles a queryset once, with a placeholder for each named
id, and runs the SQL with the ids substituted:

    @prepared("subject_id")
    def _marks(subject_id: int) -> QuerySet[ExpectedFormNotDone]:
        return ExpectedFormNotDone.objects.filter(visit__subject_id=subject_id, withdrawn_at__isnull=True)

    _marks.objects(subject_id=subject.pk)   # model instances (field converters apply)
    _marks.rows(subject_id=subject.pk)      # tuples, for a values_list queryset

Only integer ids are placeholders (a lookup on a date or a list changes the SQL's shape), and
text compared as it is (`Prepared(…, texts=("token_key",))`: `token_key=value`, no pattern): the
queryset must use each placeholder as a plain parameter. The first call checks that every
placeholder was found.

`objects` builds the instances itself when the SQL selects exactly the model's columns (a plain
`filter`/`exclude`/`order_by`, the usual case; with `select_related`, each joined model's
columns too, the joined instances attached as the ORM attaches them) and the model has nothing
that runs when an instance is made (no `pre_init`/`post_init` receiver, Django's own `__init__`
and `from_db`, no field descriptor that acts on assignment): the row's values, through the same database
converters, straight into the instance's `__dict__` (issue 22, sixth pass: `Manager.raw`'s
column mapping, converter lookup and `Model.__init__` were a tenth of a save's CPU). Anything
else goes through `Manager.raw`, as before, and a `select_related` it cannot build directly
is refused.

`objects` (when it builds directly) and `rows` also have PostgreSQL plan the statement once per
connection (seventh pass): PREPARE with the ids as typed parameters, sent with the first EXECUTE,
then EXECUTE only (`Prepared._execute`). The statements, their rows and the query count are the
same; in the query log (DEBUG, a test's CaptureQueriesContext) an EXECUTE carries the compiled
SQL as a comment. A PREPAREd statement lives as long as its connection: after a migration that
changes the type of a column such a statement returns, restart the web and worker processes (a
new connection prepares again; an old one would be refused "cached plan must not change result
type").
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import DatabaseError, connections, router, transaction
from django.db.models import Model, QuerySet, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from pghistory.runtime import _inject_history_context

M = TypeVar("M", bound=Model)

#: placeholder ids: negative, so never a row's id, and far from any value a query compares with
_BASE = -7_220_022
#: a text placeholder's prefix (`texts`): no stored value looks like it
_TEXT = "\x1fprepared-text-7220022:"

#: where a database connection's wrapper keeps the names of the statements PREPAREd on it: (the
#: DB-API connection they were prepared on, the names); a new connection starts with none
_SERVER_NAMES = "_dbtools_server_prepared"
#: each `Prepared`'s server-side name in this process
_names = itertools.count(1)


#: a field's class attribute that only reads (or, for a foreign key's id, only forgets a cached
#: object on assignment, which a new instance has none of): a value may go into `__dict__`
_PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)


@dataclass(frozen=True)
class _Build:
    """How one model's instance is made from a row: its columns' positions and attribute names,
    the position of its primary key (None there: no related object), how it is attached to the
    instance it was joined from (`select_related`), and the instances joined from it."""

    model: type[Model]
    positions: tuple[int, ...]
    attnames: tuple[str, ...]
    pk_position: int
    local_setter: Callable[[Any, Any], None] | None
    remote_setter: Callable[[Any, Any], None] | None
    joined: tuple[_Build, ...]


def _plain_model(model: type[Model]) -> bool:
    """Nothing runs when an instance of `model` is made: Django's own `__init__` and `from_db`,
    and no field descriptor that acts on assignment (`pre_init`/`post_init` receivers are asked
    at each call: one may be connected later)."""
    if model.__init__ is not Model.__init__ or model.from_db.__func__ is not Model.from_db.__func__:  # type: ignore[attr-defined]
        return False
    for field in model._meta.concrete_fields:
        found = next((k.__dict__[field.attname] for k in model.__mro__ if field.attname in k.__dict__), None)
        if type(found) not in _PLAIN_DESCRIPTORS:
            return False
    return True


def _plan(klass_info: dict[str, Any], select: list[Any]) -> _Build | None:
    """The build of the compiler's `klass_info` (and its `select_related` joins) when every model
    in it selects exactly its concrete fields, in order, and is `_plain_model`; None otherwise."""
    model = klass_info["model"]
    positions = tuple(klass_info["select_fields"])
    fields = model._meta.concrete_fields
    if klass_info.get("from_parent") or len(positions) != len(fields) or not _plain_model(model):
        return None
    if any(getattr(select[pos][0], "target", None) is not f for pos, f in zip(positions, fields, strict=True)):
        return None
    joined = []
    for info in klass_info.get("related_klass_infos", []):
        build = _plan(info, select)
        if build is None:
            return None
        joined.append(build)
    return _Build(
        model=model,
        positions=positions,
        attnames=tuple(f.attname for f in fields),
        pk_position=positions[fields.index(model._meta.pk)],
        local_setter=klass_info.get("local_setter"),
        remote_setter=klass_info.get("remote_setter"),
        joined=tuple(joined),
    )


def _make(build: _Build, row: list[Any], db: str) -> Model | None:
    if row[build.pk_position] is None:
        return None
    model = build.model
    instance = model.__new__(model)
    state = instance._state = ModelState()
    state.adding, state.db = False, db
    instance.__dict__.update(zip(build.attnames, [row[pos] for pos in build.positions], strict=True))
    for joined in build.joined:
        other = _make(joined, row, db)
        joined.local_setter(instance, other)  # type: ignore[misc]
        if other is not None:
            joined.remote_setter(other, instance)  # type: ignore[misc]
    return instance


def _models(build: _Build) -> Iterator[type[Model]]:
    yield build.model
    for joined in build.joined:
        yield from _models(joined)


class Prepared(Generic[M]):
    def __init__(
        self, build: Callable[..., QuerySet[M]], names: tuple[str, ...], *, texts: tuple[str, ...] = ()
    ) -> None:
        self.build = build
        self.names = names
        #: names whose values are text compared as they are (`field=value`), not ids
        self.texts = texts
        self._compiled: tuple[type[M], str, str, list[Any], list[tuple[int, str]]] | None = None
        #: the build and {column: (converters, expression)} when `objects` builds directly
        self._direct: tuple[_Build, dict[int, tuple[list[Any], Any]], tuple[type[Model], ...]] | None = None
        #: (PREPARE …, EXECUTE …, the SQL as a comment for the query log); ("", "", "") where the
        #: statement is not prepared on the server (see `_execute`)
        self._server: tuple[str, str, str] | None = None
        self._name = f"dbtools_{next(_names)}"

    def _compile(self) -> tuple[type[M], str, str, list[Any], list[tuple[int, str]]]:
        if self._compiled is None:
            placeholders: dict[str, int | str] = {name: _BASE - i for i, name in enumerate(self.names)}
            placeholders.update({name: f"{_TEXT}{name}" for name in self.texts})
            queryset = self.build(**placeholders)
            compiler = queryset.query.get_compiler(queryset.db)
            sql, params = compiler.as_sql()
            slots = [
                (i, name)
                for i, value in enumerate(params)
                for name, placeholder in placeholders.items()
                if type(value) is type(placeholder) and value == placeholder
            ]
            if {name for _i, name in slots} != set(placeholders):
                raise ValueError(f"{self.build.__qualname__}: a placeholder is not a plain parameter of the SQL")
            plan = None
            if compiler.klass_info is not None and not compiler.annotation_col_map:
                plan = _plan(compiler.klass_info, compiler.select)
            if plan is not None:
                converters = compiler.get_converters([col for col, _s, _a in compiler.select])
                self._direct = (plan, converters, tuple(_models(plan)))
            elif queryset.query.select_related:
                raise ValueError(
                    f"{self.build.__qualname__}: a prepared statement can select_related only models built "
                    "directly from their columns"
                )
            self._compiled = (queryset.model, queryset.db, sql, list(params), slots)
        return self._compiled

    def _params(self, values: dict[str, Any]) -> list[Any]:
        _model, _db, _sql, template, slots = self._compile()
        params = list(template)
        for i, name in slots:
            params[i] = str(values[name]) if name in self.texts else int(values[name])
        return params

    def _server_statements(self, cursor: Any, db: str) -> tuple[str, str, str]:
        """The statement as PostgreSQL prepares it, once per connection: the constant parameters
        written into its text as literals (psycopg2's own quoting, once per process) and the
        placeholders as its typed parameters ($1 bigint, $2 text, …): (PREPARE …, EXECUTE …
        with `%s` for the placeholders' values, the compiled SQL as a comment)."""
        if self._server is None:
            self._server = ("", "", "")
            raw = getattr(cursor, "cursor", None)
            if connections[db].vendor == "postgresql" and hasattr(raw, "mogrify"):
                from psycopg2.extensions import AsIs

                _model, _db, sql, template, slots = self._compile()
                numbers = {i: n for n, (i, _name) in enumerate(slots, start=1)}
                values = [AsIs(f"${numbers[i]}") if i in numbers else value for i, value in enumerate(template)]
                text = raw.mogrify(sql, values).decode()
                types = ", ".join("text" if name in self.texts else "bigint" for _i, name in slots)
                prepare = f"PREPARE {self._name} ({types}) AS {text}" if slots else f"PREPARE {self._name} AS {text}"
                execute = (
                    f"EXECUTE {self._name} ({', '.join(['%s'] * len(slots))})" if slots else f"EXECUTE {self._name}"
                )
                logged = " /* " + sql.replace("*/", "* /") + " */"
                self._server = (prepare.replace("%", "%%"), execute, logged.replace("%", "%%"))
        return self._server

    def _execute(self, cursor: Any, db: str, values: dict[str, Any]) -> None:
        """Run the statement with these values, prepared on the server (issue 22, seventh pass:
        planning the dozen reads of a save was about a third of their PostgreSQL CPU). The
        first use on a connection sends PREPARE and EXECUTE together (one round trip, one entry
        in the query log); later ones EXECUTE. A PREPAREd statement outlives a rolled-back
        transaction, so it is counted as prepared from the moment it is sent. While queries are
        logged (DEBUG, a test's CaptureQueriesContext) the compiled SQL follows as a comment,
        so the log still shows what was read. A statement PostgreSQL refuses to prepare is run
        as plain SQL from then on in this process."""
        prepare, execute, logged = self._server_statements(cursor, db)
        if not prepare:
            cursor.execute(self._compile()[2], self._params(values))
            return
        args = [str(values[name]) if name in self.texts else int(values[name]) for _i, name in self._compile()[4]]
        _run_on_server(self, cursor, db, (prepare, execute, logged), args)

    def objects(self, **values: Any) -> list[M]:
        model, db, sql, _template, _slots = self._compile()
        direct = self._direct
        if direct is None or any(
            signals.pre_init.has_listeners(m) or signals.post_init.has_listeners(m) for m in direct[2]
        ):
            if direct is not None and direct[0].joined:
                raise ValueError(f"{self.build.__qualname__}: a model it joins has pre_init/post_init receivers")
            return list(model._default_manager.db_manager(db).raw(sql, self._params(values)))
        plan, converters, _models_built = direct
        connection = connections[db]
        with connection.cursor() as cursor:
            self._execute(cursor, db, values)
            rows = cursor.fetchall()
        found = []
        for fetched in rows:
            row = list(fetched)
            for pos, (functions, expression) in converters.items():
                value = row[pos]
                for convert in functions:
                    value = convert(value, expression, connection)
                row[pos] = value
            found.append(_make(plan, row, db))
        return found  # type: ignore[return-value]

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        _model, db, _sql, _template, _slots = self._compile()
        with connections[db].cursor() as cursor:
            self._execute(cursor, db, values)
            return list(cursor.fetchall())


def _run_on_server(
    holder: Prepared[Any] | ServerSQL, cursor: Any, db: str, statements: tuple[str, str, str], args: list[Any]
) -> None:
    """`Prepared._execute`'s run on the server, for `holder` (its `_name`, and its `_server`
    reset when PostgreSQL refuses to prepare it)."""
    prepare, execute, logged = statements
    connection = connections[db]
    raw = connection.connection
    state = connection.__dict__.get(_SERVER_NAMES)
    if state is None or state[0] is not raw:
        state = (raw, set())
        connection.__dict__[_SERVER_NAMES] = state
    first = holder._name not in state[1]
    statement = f"{prepare}; {execute}" if first else execute
    if connection.queries_logged:
        statement += logged
    state[1].add(holder._name)
    wrappers = connection.execute_wrappers
    try:
        if wrappers:
            # A read needs no audit context: pghistory would put it in front of the EXECUTE
            # (which does not start with `select`) as two set_config calls (issue 22, eighth pass)
            connection.execute_wrappers = [w for w in wrappers if w is not _inject_history_context]
        cursor.execute(statement, args)
    except DatabaseError as error:
        if first and str(getattr(error, "pgcode", "") or "").startswith(("42", "0A")):
            # refused by PREPARE (it runs first): not prepared, and never again here
            state[1].discard(holder._name)
            holder._server = ("", "", "")
        raise
    finally:
        connection.execute_wrappers = wrappers


class ServerSQL:
    """A read written as SQL (`%s` parameters), run PREPAREd on the server as `Prepared`'s
    statements are (issue 22, ninth pass: the visits' state reads the forms near the touched
    visits with one UNION ALL, planned on every save). The parameters at the `typed` positions
    (with their PostgreSQL types) become the statement's parameters, given to `execute` in that
    order; every other one is written into the statement once, by psycopg2's quoting."""

    def __init__(self, sql: str, template: list[Any], typed: list[tuple[int, str]]) -> None:
        self.sql = sql
        self.template = list(template)
        self.typed = list(typed)
        self._name = f"dbtools_{next(_names)}"
        self._server: tuple[str, str, str] | None = None

    def _statements(self, cursor: Any, db: str) -> tuple[str, str, str]:
        if self._server is None:
            self._server = ("", "", "")
            raw = getattr(cursor, "cursor", None)
            if connections[db].vendor == "postgresql" and hasattr(raw, "mogrify"):
                from psycopg2.extensions import AsIs

                numbers = {i: n for n, (i, _type) in enumerate(self.typed, start=1)}
                values = [AsIs(f"${numbers[i]}") if i in numbers else value for i, value in enumerate(self.template)]
                text = raw.mogrify(self.sql, values).decode()
                types = ", ".join(kind for _i, kind in self.typed)
                prepare = f"PREPARE {self._name} ({types}) AS {text}"
                execute = f"EXECUTE {self._name} ({', '.join(['%s'] * len(self.typed))})"
                logged = " /* " + self.sql.replace("*/", "* /") + " */"
                self._server = (prepare.replace("%", "%%"), execute, logged.replace("%", "%%"))
        return self._server

    def execute(self, cursor: Any, db: str, args: list[Any]) -> None:
        """Run with `args` at the typed positions (as plain SQL where it is not prepared)."""
        statements = self._statements(cursor, db)
        if not statements[0]:
            params = list(self.template)
            for (i, _type), value in zip(self.typed, args, strict=True):
                params[i] = value
            cursor.execute(self.sql, params)
            return
        _run_on_server(self, cursor, db, statements, args)


def prepared(*names: str) -> Callable[[Callable[..., QuerySet[M]]], Prepared[M]]:
    """Compile the queryset `build(**names)` returns once; see the module's docstring."""

    def decorator(build: Callable[..., QuerySet[M]]) -> Prepared[M]:
        return Prepared(build, names)

    return decorator


#: model, database -> (the INSERT's SQL, its fields, the fields it returns), compiled once
_inserts: dict[tuple[type[Model], str], tuple[str, list[Any], list[Any]] | None] = {}


def _insert_statement(model: type[Model], db: str) -> tuple[str, list[Any], list[Any]] | None:
    """`Model.save(force_insert=True)`'s INSERT of a new row of `model` (no primary key given),
    with a placeholder a field; None where the ORM would write it otherwise (a parent model, a
    generated or database-default column, a field with its own placeholder)."""
    key = (model, db)
    if key not in _inserts:
        meta = model._meta
        fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
        returning = list(meta.db_returning_fields)
        plain = (
            not meta.parents
            and meta.auto_field is not None
            and returning == [meta.auto_field]
            and not any(f.generated or f.has_db_default() or hasattr(f, "get_placeholder") for f in fields)
        )
        if not plain:
            _inserts[key] = None
        else:
            ops = connections[db].ops
            columns = ", ".join(ops.quote_name(f.column) for f in fields)
            values = ", ".join(["%s"] * len(fields))
            # names from the model's metadata, quoted; the values are parameters
            table, pk = ops.quote_name(meta.db_table), ops.quote_name(meta.auto_field.column)
            sql = f"INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {pk}"  # noqa: S608
            _inserts[key] = (sql, fields, returning)
    return _inserts[key]


def insert(instance: Model) -> None:
    """Write a new `instance` as `instance.save(force_insert=True)` writes it, from an INSERT
    compiled once per model (issue 22, sixth pass: compiling it was a twentieth of a save's
    CPU): the related objects checked, each field's `pre_save` (auto_now…) and database
    preparation, the new id set, the instance marked saved. Falls back to `save` where the save
    does more: `pre_save`/`post_save` receivers, an id already given, a value that is an
    expression, or `_insert_statement`'s cases. The caller does what the model's own `save()`
    adds before (e.g. `CrfInstance.save`'s CRF version)."""
    model = type(instance)
    db = router.db_for_write(model, instance=instance)
    statement = _insert_statement(model, db)
    if (
        statement is None
        or instance.pk is not None
        or signals.pre_save.has_listeners(model)
        or signals.post_save.has_listeners(model)
    ):
        Model.save(instance, force_insert=True)
        return
    sql, fields, returning = statement
    instance._prepare_related_fields_for_save(operation_name="save")
    connection = connections[db]
    values = [field.pre_save(instance, True) for field in fields]
    if any(hasattr(value, "resolve_expression") for value in values):
        Model.save(instance, force_insert=True)
        return
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)]
    with transaction.mark_for_rollback_on_error(db), connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    for value, field in zip(row, returning, strict=True):
        setattr(instance, field.attname, value)
    instance._state.adding = False
    instance._state.db = db
