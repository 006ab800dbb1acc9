from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def notifications(request: HttpRequest) -> dict[str, Any]:
    """The top bar's unread data-management notifications: one count on the partial index of
    unread rows, only when a template asks (added to the safety count beside it)."""
    found: dict[str, int] = {}

    def count() -> int:
        if "n" not in found:
            user = request.user
            if not user.is_authenticated or not user.is_active:
                found["n"] = 0
            else:
                from datamanagement.notifications import unread_count

                found["n"] = unread_count(user)  # type: ignore[arg-type]
        return found["n"]

    return {"unread_notices": count}
