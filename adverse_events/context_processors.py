from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def safety_notifications(request: HttpRequest) -> dict[str, Any]:
    """Unread safety notifications for the header (counted only when a template asks)."""
    from adverse_events.alert_services import unread_notifications

    def count() -> int:
        return unread_notifications(request.user).count()

    return {"unread_safety_notifications": count}
