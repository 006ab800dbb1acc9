"""Edit checks and their runner (DESIGN §4 "Queries").

A module defines rules with `@edit_check(code=..., field=..., message=...)` on a function of the
instance returning True when the rule fires; the form's declaration lists them (`checks=`,
crf.declarations), which is what ties a rule to its form. Every save through
`crf.services.save_form` runs the rules of its form: a firing rule raises one automatic query
per rule and field (never a duplicate); its active query closes itself when the rule stops
firing; a query closed after the site confirmed the value is not raised again for the same
rule, field and value — a changed value runs the rule afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import BigIntegerField, Model, Q, Value
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_noop

from crf.declarations import declaration_for
from crf.display import SYSTEM_CLOSE_NOTES
from crf.models import ACTIVE_QUERY_STATUSES, CrfInstance, Query, QueryStatus, QueryStep
from dbtools.prepared import Prepared
from study import system_text

Rule = Callable[[Any], bool]


#: A form, or another record of a subject that carries queries (a visit and its date).
Checked = type[CrfInstance] | type[Model]


@dataclass(frozen=True)
class EditCheck:
    """One rule on one field; calling it applies the rule to a record."""

    code: str
    field: str
    message: str | Promise
    fires: Rule

    def __call__(self, instance: Any) -> bool:
        return self.fires(instance)


def edit_check(*, code: str, field: str, message: str | Promise) -> Callable[[Rule], EditCheck]:
    """Make `func` an edit check, for a form's declaration to list."""

    def decorator(func: Rule) -> EditCheck:
        return EditCheck(code=code, field=field, message=message, fires=func)

    return decorator


def checks_for(model: Checked) -> list[EditCheck]:
    """The rules of `model` as its declaration lists them (crf.declarations), in order."""
    return list(declaration_for(model).edit_checks)


def jsonable(value: Any) -> Any:
    """A field value as stored on a query (JSON): decimals and dates as text.

    Decimals are written without exponent or trailing zeros, so the same number compares equal
    however it was typed or read back (`Decimal("38")` on a new form, `Decimal("38.0")` from the
    database)."""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text == "-0" else text
    if isinstance(value, date | datetime | time):
        return str(value)
    return value


#: per model and rule codes, the read of a form's queries of its rules (dbtools.prepared:
#: compiled once, not on every save and re-derivation that runs the checks)
_stored: dict[tuple[type[Model], tuple[str, ...]], Prepared[Query]] = {}


def _stored_queries(model: type[Model], rules: list[EditCheck]) -> Prepared[Query]:
    codes = tuple(sorted({check.code for check in rules}))
    key = (model, codes)
    if key not in _stored:
        _stored[key] = Prepared(
            lambda type_id, object_id: (
                # the id as an expression: a placeholder's negative value is out of the positive
                # field's range, which Django turns into an empty result for a plain value
                Query.objects.filter(
                    content_type_id=type_id,
                    object_id=Value(object_id, output_field=BigIntegerField()),
                    rule_code__in=codes,
                )
                .filter(
                    Q(status__in=ACTIVE_QUERY_STATUSES) | Q(status=QueryStatus.CLOSED, answer=Query.Answer.CONFIRMED)
                )
                .select_for_update()
                .order_by("pk")
            ),
            ("type_id", "object_id"),
        )
    return _stored[key]


def run_edit_checks(instance: CrfInstance | Model, *, new: bool = False) -> list[Query]:
    """Apply every rule of the form (or record with a `subject`); return the queries raised now.
    `new`: the record was inserted just now, so no query is stored on it yet (none is read)."""
    if getattr(instance, "entered_in_error", False):
        return []
    content_type = ContentType.objects.get_for_model(type(instance))
    raised: list[Query] = []
    now = timezone.now()
    rules = checks_for(type(instance))
    if not rules:
        return raised
    # The form's queries of its rules in one read (not one or two per rule: every save runs
    # this), the active ones locked; in pk order, as `.first()` per rule read them.
    stored = (
        [] if new else _stored_queries(type(instance), rules).objects(type_id=content_type.pk, object_id=instance.pk)
    )
    for check in rules:
        same_rule = [q for q in stored if q.field_name == check.field and q.rule_code == check.code]
        active = next((q for q in same_rule if q.status in ACTIVE_QUERY_STATUSES), None)
        value = jsonable(getattr(instance, check.field))
        if check.fires(instance):
            if active is not None:
                if active.answer == Query.Answer.CONFIRMED and active.value != value:
                    # The site confirmed one value, then changed it and the rule still fires:
                    # the confirmation no longer covers the form, so the query asks again.
                    _reopen_for_changed_value(active, value=value, now=now)
                continue
            # Only a close by a monitor or data manager accepts a confirmation; an automatic
            # close (the value was changed meanwhile) does not.
            if any(
                q.status == QueryStatus.CLOSED
                and q.answer == Query.Answer.CONFIRMED
                and q.closed_by_id is not None
                and q.value == value
                for q in same_rule
            ):
                continue
            # The message is stored as its code (the English msgid) and shown in each reader's
            # language, whoever was working when the rule fired (issue 25).
            with translation.override("en"):
                code = str(check.message)
            query = Query.objects.create(
                subject=instance.subject,
                content_type=content_type,
                object_id=instance.pk,
                field_name=check.field,
                rule_code=check.code,
                text=code,
                text_code=code,
                value=value,
                raised_at=now,
            )
            QueryStep.objects.create(query=query, action=QueryStep.Action.RAISED, at=now, text=code, text_code=code)
            raised.append(query)
        elif active is not None:
            active.status = QueryStatus.CLOSED
            active.closed_at = now
            active.closed_by = None
            active.close_reason = SYSTEM_CLOSE_NOTES[0]  # stored in English, shown in the reader's language
            active.save(update_fields=["status", "closed_at", "closed_by", "close_reason"])
            QueryStep.objects.create(query=active, action=QueryStep.Action.AUTO_CLOSED, at=now)
    return raised


def _reopen_for_changed_value(query: Query, *, value: Any, now: datetime) -> None:
    query.status = QueryStatus.OPEN
    query.value = value
    query.answer = ""
    query.answer_text = ""
    query.answered_by = None
    query.answered_at = None
    query.save(update_fields=["status", "value", "answer", "answer_text", "answered_by", "answered_at"])
    code, params = system_text.compose(
        gettext_noop("The value changed after the site confirmed it: %(value)s."), value=value
    )
    with translation.override("en"):
        english = system_text.render(code, params)
    QueryStep.objects.create(
        query=query,
        action=QueryStep.Action.REOPENED,
        at=now,
        text=english,
        text_code=code,
        text_params=params,
    )
