from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def safety_notifications(request: HttpRequest) -> dict[str, Any]:
    """Unread safety notifications and whether the safety links show in the header (each
    evaluated only when a template asks: one query each)."""
    from adverse_events.alert_services import unread_notifications
    from study import access
    from study.roles import Action

    def count() -> int:
        return unread_notifications(request.user).count()

    def may_view_safety() -> bool:
        return access.can_anywhere(request.user, Action.VIEW_SAFETY)

    return {"unread_safety_notifications": count, "nav_safety": may_view_safety}
