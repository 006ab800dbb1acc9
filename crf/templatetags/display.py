"""Template side of crf.display (issue 25): `{% load display %}`.

- `{{ instance|shown:"field" }}` — one field of a record as its label in the reader's language.
- `{{ value|value_text }}` — any stored value (choices need `shown`, which knows the field).
- `{{ at|when }}` / `{{ at|when_precise }}` — an instant in the reader's zone, zone named.
- `{{ at|when_in:site.time_zone }}` — an instant in a given zone (a subject's site), zone named.
- `{{ site|name_of }}` — a name in the reader's language (site, study, visit definition).
- `{{ subject|dose_level }}`, `{{ code|dose_level:study }}` — a dose level by its name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

from crf import display
from study import language

register = template.Library()


@register.filter
def shown(instance: Any, name: str) -> str:
    if instance is None:
        return language.EMPTY
    # The study day of a date when the page loaded the subject already (never a query here).
    state = getattr(instance, "_state", None)
    subject = state.fields_cache.get("subject") if state is not None else None
    day0 = getattr(subject, "day0", None) if subject is not None else None
    return display.field_text(instance, name, day0=day0)


@register.filter
def value_text(value: Any) -> str:
    return display.value_text(value)


@register.filter
def when(at: datetime | None) -> str:
    return display.when(at)


@register.filter
def when_precise(at: datetime | None) -> str:
    return display.when(at, seconds=True)


@register.filter
def when_in(at: datetime | None, zone: str) -> str:
    return display.when(at, zone or None)


@register.filter
def name_of(obj: Any) -> str:
    return language.name_of(obj)


@register.filter
def dose_level(value: Any, study: Any = None) -> str:
    """A subject's dose level (`{{ subject|dose_level }}`) or a code in a study
    (`{{ level.code|dose_level:study }}`), named in the reader's language."""
    if hasattr(value, "dose_level") and hasattr(value, "site_id"):
        return language.dose_level_name(value.dose_level, value.site.study_id)
    return language.dose_level_name(value, study)


@register.filter
def when_precise_in(at: datetime | None, zone: str) -> str:
    return display.when(at, zone or None, seconds=True)


@register.filter
def system_text(obj: Any, name: str) -> str:
    """`{{ query|system_text:"text" }}`, `{{ alert|system_text:"summary" }}`."""
    return display.system_message(obj, name)


@register.filter
def message_text(value: Any) -> str:
    """`{{ need|message_text }}`: a system message (study.system_text.Message) in the
    reader's language; any other value as text."""
    code = getattr(value, "code", "")
    if code:
        return display.render_message(code, getattr(value, "params", None))
    return str(value or "")


@register.filter
def soc_label(soc: str) -> str:
    """`{{ row.soc|soc_label }}`: a system organ class in the reader's language."""
    return language.soc_label(soc)


@register.filter
def term_label(term: str) -> str:
    """`{{ ae.ctcae_term|term_label }}`: the English CTCAE term, its Chinese name beside it for a
    Chinese reader ("Febrile neutropenia 发热性中性粒细胞减少")."""
    return language.ctcae_term_label(term) if term else ""


@register.filter
def dlt_finding(candidate: Any) -> str:
    """`{{ candidate|dlt_finding }}`: a DLT candidate's finding in the reader's language, from
    its stored message code and parameters (`description_code`, `description_params`), else the
    sentence it stored: a system message, as `adverse_events.dlt_text.finding_text` reads it."""
    return display.system_message(candidate, "description")


@register.filter
def record_name(instance: Any) -> str:
    """A subject's record as a list names it: its type in the reader's language, its number and
    its term or clinical date (crf.display.record_name), not its developer's `__str__`."""
    return display.record_name(instance)
