"""Edit checks and their runner (DESIGN §4 "Queries").

A form module registers rules with `@edit_check(Model, code=..., field=..., message=...)`: a
function of the instance returning True when the rule fires. Every save through
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
from django.utils import timezone
from django.utils.functional import Promise

from crf.models import ACTIVE_QUERY_STATUSES, CrfInstance, Query, QueryStatus, QueryStep

Rule = Callable[[Any], bool]


@dataclass(frozen=True)
class EditCheck:
    model: type[CrfInstance]
    code: str
    field: str
    message: str | Promise
    fires: Rule


_registry: dict[type[CrfInstance], list[EditCheck]] = {}


def edit_check(model: type[CrfInstance], *, code: str, field: str, message: str | Promise) -> Callable[[Rule], Rule]:
    def decorator(func: Rule) -> Rule:
        checks = _registry.setdefault(model, [])
        if any(c.code == code and c.field == field for c in checks):
            raise ValueError(f"edit check {code} on {field} registered twice")
        checks.append(EditCheck(model=model, code=code, field=field, message=message, fires=func))
        return func

    return decorator


def checks_for(model: type[CrfInstance]) -> list[EditCheck]:
    return list(_registry.get(model, []))


def jsonable(value: Any) -> Any:
    """A field value as stored on a query (JSON): decimals and dates as text."""
    if isinstance(value, Decimal | date | datetime | time):
        return str(value)
    return value


def run_edit_checks(instance: CrfInstance) -> list[Query]:
    """Apply every rule of the form; return the queries raised now."""
    if instance.entered_in_error:
        return []
    content_type = ContentType.objects.get_for_model(type(instance))
    raised: list[Query] = []
    now = timezone.now()
    for check in checks_for(type(instance)):
        same_rule = Query.objects.filter(
            content_type=content_type, object_id=instance.pk, field_name=check.field, rule_code=check.code
        )
        active = same_rule.filter(status__in=ACTIVE_QUERY_STATUSES).select_for_update().first()
        value = jsonable(getattr(instance, check.field))
        if check.fires(instance):
            if active is not None:
                continue
            confirmed = same_rule.filter(status=QueryStatus.CLOSED, answer=Query.Answer.CONFIRMED, value=value)
            if confirmed.exists():
                continue
            query = Query.objects.create(
                subject=instance.subject,
                content_type=content_type,
                object_id=instance.pk,
                field_name=check.field,
                rule_code=check.code,
                text=str(check.message),
                value=value,
                raised_at=now,
            )
            QueryStep.objects.create(query=query, action=QueryStep.Action.RAISED, at=now, text=query.text)
            raised.append(query)
        elif active is not None:
            active.status = QueryStatus.CLOSED
            active.closed_at = now
            active.closed_by = None
            active.close_reason = "rule no longer fires"
            active.save(update_fields=["status", "closed_at", "closed_by", "close_reason"])
            QueryStep.objects.create(query=active, action=QueryStep.Action.AUTO_CLOSED, at=now)
    return raised
