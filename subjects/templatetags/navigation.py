"""The top bar's links per role (issue 24 item 5): each link only where its reader may follow it
(DESIGN §4a), decided by the same permission checks as the pages."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.translation import gettext as _

from study import access
from study.roles import Action, role_may

register = template.Library()


@register.simple_tag(takes_context=True)
def role_links(context: dict[str, Any]) -> list[tuple[str, str]]:
    """(url, label) for the work lists the signed-in user may open: subjects, due visits and own
    queries for those who enter data; queries and the SDV worklist for those who review it."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    # the active roles come with the header's one query (adverse_events.context_processors)
    found = context.get("nav_roles")
    roles = set(found() if callable(found) else access.active_memberships(user).values_list("role", flat=True))

    def may(action: Action) -> bool:
        return any(role_may(role, action) for role in roles)

    links: list[tuple[str, str]] = []
    views = may(Action.VIEW_CRF)
    edits = may(Action.EDIT_CRF)
    if views:
        links.append((reverse("subjects:list"), _("Subjects")))
    if edits:
        links.append((reverse("subjects:worklist"), _("Due visits")))
    if views:
        links.append((reverse("crf_dm:query_list"), _("My queries") if edits else _("Queries")))
    if may(Action.MARK_SDV):
        links.append((reverse("crf_dm:sdv_worklist"), _("SDV worklist")))
    return links
