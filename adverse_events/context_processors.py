from __future__ import annotations

from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from adverse_events.services.alerts import unread_notifications
from study.access import active_memberships
from study.models import Membership, User
from study.roles import PERMISSIONS, Action


def safety_notifications(request: HttpRequest) -> dict[str, Any]:
    """The header's unread safety notifications and whether its safety links show (roles that
    may view safety dashboards, DESIGN §4a): both read by ONE query, only when a template asks."""
    found: dict[str, Any] = {}

    def header() -> dict[str, Any]:
        user = request.user
        if "row" not in found:
            if not user.is_authenticated or not user.is_active:
                found["row"] = {"unread": 0, "safety": False, "roles": []}
            else:
                unread = (
                    unread_notifications(user)
                    .filter(user=OuterRef("pk"))
                    .order_by()
                    .values("user")
                    .annotate(n=Count("pk"))
                    .values("n")
                )
                safety = active_memberships(user).filter(role__in=list(PERMISSIONS[Action.VIEW_SAFETY]))
                # the user's active roles, for the top bar's links per role (issue 24)
                roles = (
                    active_memberships(user)
                    .order_by()
                    .values("user")
                    .annotate(roles=ArrayAgg("role", distinct=True))
                    .values("roles")
                )
                found["row"] = (
                    User.objects.filter(pk=user.pk)
                    .annotate(
                        unread=Coalesce(Subquery(unread), 0),
                        safety=Exists(Membership.objects.filter(pk__in=safety.values("pk"))),
                        roles=Subquery(roles),
                    )
                    .values("unread", "safety", "roles")
                    .get()
                )
        return found["row"]

    def count() -> int:
        return int(header()["unread"])

    def may_view_safety() -> bool:
        return bool(header()["safety"])

    def nav_roles() -> list[str]:
        return list(header()["roles"] or [])

    return {"unread_safety_notifications": count, "nav_safety": may_view_safety, "nav_roles": nav_roles}
