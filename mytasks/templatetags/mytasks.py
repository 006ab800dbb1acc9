"""The top bar's "My tasks (n)" link (issue 31 item 2)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def my_tasks_count(context: dict[str, Any]) -> int | None:
    """The number of the signed-in user's tasks, None when no role of theirs has any (the link is
    then not shown). A fixed number of SQL queries (`mytasks.selectors.task_counts`)."""
    from mytasks.selectors import clock, task_counts

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    counts = task_counts(user, now=clock())
    if counts is None:
        return None
    return counts.total
