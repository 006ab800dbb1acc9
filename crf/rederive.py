"""Re-derivation (DESIGN §4 "derived values"): the one service that writes a form's derived
values when something else changed — another form (its declared dependants) or a new protocol
settings version.

- each cross-form consequence is declared once, in the source form's declaration
  (`dependants=`, crf.declarations), so the graph can be listed (`manage.py show_derivations`).
- `rederive(forms=…, reason=…, user=…)`: for each dependent form, in the transaction of the save
  that caused it: a locked form whose values would change makes that save fail, naming the
  form; a frozen one keeps its values and gets a query saying why; the others are derived,
  written by compare-and-set (only what changed), their edit checks run, under the audit reason
  "re-derived: …". Freezes and locks are read once for the subject, not once per form.
- `rederive_for_settings`: after a new settings version (a background job, not a save): forms
  under a freeze or lock are listed as skipped instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F
from django.db.models.sql import UpdateQuery
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crf import checks, derivations, locks, services
from crf.declarations import EVERY_DERIVED_FORM, declaration_for, declarations
from crf.models import ACTIVE_QUERY_STATUSES, CrfInstance, DataLock, Query, QueryStep
from crf.outbox import enqueue
from study import system_text
from study.audit_context import audit_context
from study.models import ProtocolSettings, Rederivation
from study.system_text import message

if TYPE_CHECKING:
    from study.models import User

#: Rule code of the query raised on a frozen form that a re-derivation would have changed.
FROZEN_RULE = "rederive_frozen"


@dataclass(frozen=True)
class Consequence:
    """One edge of the derivation graph: saving a `source` form re-derives `dependants`."""

    source: str
    dependants: tuple[str, ...]
    through: str
    summary: str


#: the edges of the study-build settings' consumers (`setting_consumer`); the forms' edges are
#: in their declarations
_setting_edges: list[Consequence] = []


def _label(model: type[models.Model] | str) -> str:
    return model if isinstance(model, str) else model._meta.label


def _edge(
    source: type[models.Model] | str, dependants: Sequence[type[models.Model] | str], through: Callable[..., Any]
) -> Consequence:
    return Consequence(
        source=_label(source),
        dependants=tuple(_label(d) for d in dependants),
        through=f"{through.__module__}.{through.__qualname__}",
        summary=" ".join((through.__doc__ or "").strip().split("\n\n")[0].split()),
    )


#: Consumers of a versioned study-build setting (issue 27 item 1), by setting kind: the code in a
#: higher app that re-derives what depends on a new version (e.g. the visit schedule re-times
#: visits, in subjects/). Registered with `setting_consumer`; run by `rederive_for_setting`.
_setting_consumers: dict[str, list[Callable[..., list[Any]]]] = {}


def setting_consumer(
    kind: str, *, source: type[models.Model] | str, dependants: Sequence[type[models.Model] | str]
) -> Callable[[Callable[..., list[Any]]], Callable[..., list[Any]]]:
    """Register `func(version=…, user=…) -> changed rows` as what a new version of the setting
    `kind` re-derives, and declare the edge in the derivation graph."""

    def register(func: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
        consumers = _setting_consumers.setdefault(kind, [])
        if func not in consumers:
            consumers.append(func)
        edge = _edge(source, dependants, func)
        if edge not in _setting_edges:
            _setting_edges.append(edge)
        return func

    return register


def rederive_for_setting(*, kind: str, version: models.Model, user: User | None) -> list[Any]:
    """The one entry point of a study-build setting's re-derivation (the visit schedule…): every
    registered consumer runs in the caller's transaction; returns what they changed."""
    changed: list[Any] = []
    for consumer in _setting_consumers.get(kind, []):
        changed.extend(consumer(version=version, user=user))
    return changed


def graph() -> list[Consequence]:
    """Every declared consequence, sorted by source form."""
    edges = [
        _edge(d.model, _expanded(d.model, dep.forms), dep.through)
        for d in declarations()
        for dep in d.dependants
        if dep.forms
    ]
    return sorted({*edges, *_setting_edges}, key=lambda e: (e.source, e.through))


def _expanded(source: type[models.Model], forms: Sequence[type[models.Model] | str]) -> list[type[models.Model] | str]:
    """`EVERY_DERIVED_FORM` drawn as the forms it stands for: those re-derived form by form (not a
    course's), other than the source."""
    every = [
        model
        for model in derivations.derived_models()
        if model is not source and not declaration_for(model).rederived_by_course
    ]
    return [f for form in forms for f in (every if form == EVERY_DERIVED_FORM else [form])]


def save_hooks_outside_graph() -> list[tuple[str, Consequence]]:
    """The declared save hooks that re-derive no stored form (alerts, DLT candidates…), by form."""
    hooks = [
        (d.model._meta.label, _edge(d.model, (), dep.through))
        for d in declarations()
        for dep in d.dependants
        if not dep.forms
    ]
    return sorted(hooks, key=lambda item: item[0])


def form_name(form: CrfInstance) -> str:
    """ "CRS assessment of 2026-03-25 (subject S-001-0001)": how a refusal names a form."""
    when = form.clinical_date()
    subject = getattr(form.subject, "subject_id", form.subject_id)
    if when is None:
        return _("%(form)s (subject %(subject)s)") % {"form": form._meta.verbose_name, "subject": subject}
    return _("%(form)s of %(date)s (subject %(subject)s)") % {
        "form": form._meta.verbose_name,
        "date": when.isoformat() if hasattr(when, "isoformat") else when,
        "subject": subject,
    }


def _shown(value: Any) -> str:
    return "—" if value is None or value == "" else str(checks.jsonable(value))


def _raise_frozen_query(form: CrfInstance, changed: dict[str, Any], *, reason: str) -> None:
    """A frozen form keeps its values; an open query on it says what the re-derivation would
    have changed and why, so the data manager can lift the freeze and save it again. One active
    query per form: a later re-derivation adds nothing while one is open."""
    content_type = ContentType.objects.get_for_model(type(form))
    if Query.objects.filter(
        content_type=content_type, object_id=form.pk, rule_code=FROZEN_RULE, status__in=ACTIVE_QUERY_STATUSES
    ).exists():
        return
    # Stored as a message code with parameters (issue 25): each reader sees it in their language,
    # the field labels and the reason included; the values are the stored ones (codes, numbers).
    items = [
        message(
            gettext_noop("%(field)s: %(old)s → %(new)s"),
            field=type(form)._meta.get_field(name).verbose_name,
            old=_shown(getattr(form, name)),
            new=_shown(value),
        )
        for name, value in changed.items()
        if name != "settings_version"
    ]
    values = items[0] if items else message(gettext_noop("its stored derivation"))
    for item in items[1:]:
        values = message(gettext_noop("%(earlier)s; %(later)s"), earlier=values, later=item)
    text = message(
        gettext_noop(
            "Not re-derived because this form is frozen (%(reason)s). Re-deriving it would change %(values)s. "
            "Once the freeze is lifted, open the form and save it to bring it in step."
        ),
        reason=reason,
        values=values,
    )
    now = timezone.now()
    query = Query.objects.create(
        subject_id=form.subject_id,
        content_type=content_type,
        object_id=form.pk,
        field_name=next(iter(changed)),
        rule_code=FROZEN_RULE,
        text=str(text),
        text_code=text.code,
        text_params=text.params,
        value=None,
        raised_at=now,
    )
    QueryStep.objects.create(
        query=query,
        action=QueryStep.Action.RAISED,
        at=now,
        text=str(text),
        text_code=text.code,
        text_params=text.params,
    )


def raise_copied_value_query(
    *, form: CrfInstance, field_name: str, rule_code: str, message: tuple[str, dict[str, Any]]
) -> Query | None:
    """A form holding a copy of another form's value (the CRS form pre-filled from that day's
    vital signs, issue 24 item 4) is not rewritten when the source is corrected — the copy was
    the user's to edit — but gets an open query on the field saying what changed, for the site
    to confirm or correct. One active query per form and rule: nothing is added while one is
    open. Runs inside the causing save's transaction, like `rederive`."""
    content_type = ContentType.objects.get_for_model(type(form))
    if Query.objects.filter(
        content_type=content_type, object_id=form.pk, rule_code=rule_code, status__in=ACTIVE_QUERY_STATUSES
    ).exists():
        return None
    code, params = message  # stored as its code, read in each reader's language (issue 25)
    with translation.override("en"):
        text = system_text.render(code, params)
    now = timezone.now()
    query = Query.objects.create(
        subject_id=form.subject_id,
        content_type=content_type,
        object_id=form.pk,
        field_name=field_name,
        rule_code=rule_code,
        text=text,
        text_code=code,
        text_params=params,
        value=checks.jsonable(getattr(form, field_name)),
        raised_at=now,
    )
    QueryStep.objects.create(query=query, action=QueryStep.Action.RAISED, at=now, text=text)
    return query


def rederive(
    *,
    forms: Iterable[CrfInstance],
    reason: str,
    user: User | None,
    values: Callable[[CrfInstance], dict[str, Any]] | None = None,
    subject: models.Model | None = None,
    removed_too: bool = False,
) -> list[CrfInstance]:
    """Re-derive `forms` (dependants of a save, all of one subject) inside the caller's
    transaction; return those written. `values(form)` gives a form's derived fields when the
    caller computed them for the whole course at once (default: its registered derivation).

    Only changed fields are written, by compare-and-set on the version the form was read at
    (a concurrent write fails the save with the stale-version error rather than being lost),
    then the form's edit checks run. A locked form that would change raises ValidationError
    naming it (code "dependant_locked"); a frozen one keeps its values and gets a query.
    Forms entered in error are left out unless `removed_too` (a system-owned AE whose episode
    comes back is restored by its re-derivation)."""
    todo = [form for form in forms if removed_too or not form.entered_in_error]
    if not todo:
        return []
    compute = values or derivations.compute
    subject = subject or todo[0].subject
    # once for a save and its re-derivations (a save does not change freezes or locks)
    found_locks = locks.locks_for_save(subject)
    pending: list[tuple[CrfInstance, dict[str, Any]]] = []
    for form in todo:
        changed = {name: value for name, value in compute(form).items() if getattr(form, name) != value}
        if not changed:
            continue
        over = locks.covering(found_locks, form) if found_locks else []
        if any(lock.kind == DataLock.Kind.LOCK for lock in over):
            raise ValidationError(
                _(
                    "This change would re-derive the %(form)s, which is locked: nothing was saved. "
                    "Ask a data manager to unlock it first."
                )
                % {"form": form_name(form)},
                code="dependant_locked",
            )
        if over:
            _raise_frozen_query(form, changed, reason=reason)
            continue
        pending.append((form, changed))
    if not pending:
        return []
    with audit_context(user=user, site=subject.site, reason=reason):
        for form, changed in pending:
            model = type(form)
            # signatures covering the form break (datamanagement's hook), named in this audit row
            services.notify_form_changed(user=user, form=form, changed=sorted(changed), reason=reason)
            rows = update_with_version(model, pk=form.pk, expected_version=form.version, **changed)
            if rows != 1:
                raise services.StaleVersionError(model._default_manager.get(pk=form.pk))
            services.forget_after_write(model)
            for name, value in changed.items():
                setattr(form, name, value)
            form.version += 1
            checks.run_edit_checks(form)
    return [form for form, _changed in pending]


def update_with_version(
    model: type[models.Model], *, pk: int, expected_version: int | None = None, **values: Any
) -> int:
    """`UPDATE … SET …, version = version + 1 WHERE id = … [AND version = …]`: the one place a
    versioned row outside a form save is bumped (an adjudication, a stored derivation of the
    subject such as ICAHT, a re-derived dependant: `rederive`). Returns the row count, to be
    checked by a compare-and-set caller.

    The statement is the one `QuerySet.update` compiles, compiled once per model, fields, NULLs
    and compare-and-set (issue 22: compiling it was ~6 % of an ANC result's save, which updates
    the ICAHT derivation); each value is prepared for the database as the compiler prepares it.
    Values the compiler would turn into SQL of their own (expressions) go through the ORM."""
    rows = model._default_manager.filter(pk=pk)
    if expected_version is not None:
        rows = rows.filter(version=expected_version)
    db = rows.db
    connection = transaction.get_connection(db)
    prepared = _prepared_values(model, values, connection)
    if prepared is None:
        return rows.update(**values, version=F("version") + 1)
    key = (model, db, tuple((name, value is None) for name, value in prepared), expected_version is None)
    sql = _UPDATE_SQL.get(key)
    if sql is None:
        query = rows.query.chain(UpdateQuery)
        query.add_update_values({**values, "version": F("version") + 1})
        sql, params = query.get_compiler(db).as_sql()
        # the values not NULL, version's 1, the id [and the version compared]
        assert len(params) == sum(value is not None for _name, value in prepared) + (
            2 if expected_version is None else 3
        ), sql
        if len(_UPDATE_SQL) < 256:
            _UPDATE_SQL[key] = sql
    params = [value for _name, value in prepared if value is not None]
    params += [1, pk] if expected_version is None else [1, pk, expected_version]
    with transaction.mark_for_rollback_on_error(using=db), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


#: `update_with_version`'s compiled statements
_UPDATE_SQL: dict[tuple[Any, ...], str] = {}


def _prepared_values(model: type[models.Model], values: dict[str, Any], connection: Any) -> list[Any] | None:
    """(field name, value as `SQLUpdateCompiler.as_sql` prepares it) of each value, in order; None
    when a value or field is one the compiler makes SQL of its own for (an expression, a field
    with its own placeholder, a field of a parent table)."""
    prepared = []
    for name, value in values.items():
        field = model._meta.get_field(name)
        if (
            hasattr(value, "resolve_expression")
            or hasattr(field, "get_placeholder")
            or not getattr(field, "concrete", False)
            or field.model._meta.concrete_model is not model._meta.concrete_model
        ):
            return None
        if hasattr(value, "prepare_database_save"):
            if not field.remote_field:
                return None
            value = value.prepare_database_save(field)
        value = field.get_db_prep_save(value, connection=connection)
        if hasattr(value, "as_sql"):
            return None
        prepared.append((name, value))
    return prepared


#: The outbox task of `rederive_for_settings` (crf/tasks.py). Its name is the one it had when
#: study/tasks.py held it: a task name is an identifier that outbox rows carry, not an import path.
SETTINGS_TASK = "study.tasks.rederive_for_settings"


def request_rederivation_for_settings(*, settings_id: int) -> None:
    """study.hooks.request_settings_rederivation: an outbox row, in the publisher's transaction,
    for the background `rederive_for_settings` of the new version."""
    enqueue(task_name=SETTINGS_TASK, settings_id=settings_id)


def rederive_for_settings(*, settings_id: int) -> list[Rederivation]:
    """Recompute derived values of every form of the study dated on or after the version's
    effective date with the audit reason "re-derived: …". Idempotent: a form already listed for
    this version is skipped. Forms under a freeze or lock keep their values and are listed as
    "skipped_locked" (re-deriving them after the lock lifts comes with the lock pages, #7).

    Forms are re-derived in clinical-date order within each form type, each in its own
    transaction: a marrow assessment's response reads the subject's earlier responses (CR
    before relapse, CLINICAL_SPEC §5.1), which must already carry the new version's values."""
    version = ProtocolSettings.objects.select_related("study").get(pk=settings_id)
    done: list[Rederivation] = []
    reason = message(
        gettext_noop("re-derived: protocol settings v%(version)s effective %(date)s"),
        version=version.version,
        date=version.effective_from,
    )
    for model in derivations.derived_models():
        if not declaration_for(model).derived_from_protocol_settings:
            continue  # e.g. lab unit conversion: a settings version changes nothing there
        date_field = model.clinical_date_field
        label = model._meta.label_lower
        candidates = (
            model._default_manager.filter(
                subject__site__study=version.study,
                entered_in_error=False,
                **{f"{date_field}__gte": version.effective_from},
            )
            .exclude(pk__in=Rederivation.objects.filter(settings=version, form_label=label).values("object_id"))
            .order_by(date_field, "pk")
        )
        for pk in candidates.values_list("pk", flat=True):
            row = _rederive_one(model, pk, version, label, reason)
            if row is not None:
                done.append(row)
    return done


@transaction.atomic
def _rederive_one(
    model: type[CrfInstance], pk: int, version: ProtocolSettings, label: str, reason: str
) -> Rederivation | None:
    instance = model._default_manager.select_for_update().select_related("subject__site").get(pk=pk)
    try:
        locks.assert_data_writable(instance)
    except ValidationError:
        # Listed, so the data manager sees what still carries the old derivation.
        return Rederivation.objects.create(
            settings=version,
            outcome=Rederivation.Outcome.SKIPPED_LOCKED,
            form_label=label,
            object_id=pk,
            clinical_date=instance.clinical_date(),
            at=timezone.now(),
        )
    changed = derivations.derive(instance)
    previous = model._default_manager.filter(pk=pk).values(*changed).get() if changed else {}
    if changed:
        with audit_context(user=None, site=instance.subject.site, reason=reason):
            services.notify_form_changed(user=None, form=instance, changed=sorted(changed), reason=reason)
            model._default_manager.filter(pk=pk).update(**changed, version=F("version") + 1)
    return Rederivation.objects.create(
        settings=version,
        form_label=label,
        object_id=pk,
        clinical_date=instance.clinical_date(),
        changed={k: str(v) for k, v in changed.items()},
        previous={k: str(v) for k, v in previous.items()},
        at=timezone.now(),
    )
