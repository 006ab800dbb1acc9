"""The top bar's "My tasks (n)" link (issue 31 item 2)."""

from __future__ import annotations

from typing import Any

from django import template
from django.core.cache import cache

register = template.Library()


@register.simple_tag(takes_context=True)
def my_tasks_count(context: dict[str, Any]) -> int | None:
    """The number of the signed-in user's tasks, None when no role of theirs has any (the link is
    then not shown). A fixed number of SQL queries (`mytasks.selectors.task_counts`)."""
    from mytasks.selectors import COUNT_SECONDS, clock, count_key, task_counts

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    cached = cache.get(count_key(user.pk))
    if cached is not None:
        return int(cached)
    counts = task_counts(user, now=clock())
    if counts is None:
        return None
    if counts.forms_to_verify:
        # The SDV sample makes a monitor's count cost 0.5-2.5 s on the demo study (issue 31 note):
        # kept a minute, and refreshed by the My tasks page whenever it is opened.
        cache.set(count_key(user.pk), counts.total, COUNT_SECONDS)
    return counts.total
