from django.conf import settings
from django.http import HttpRequest


def session_timeouts(request: HttpRequest) -> dict[str, int]:
    """Numbers the expiry warning in base.html counts down from: the idle limit (renewed by this
    request) and what is left of the absolute limit."""
    left = getattr(request, "session_remaining", None) or {}
    return {
        "session_idle_timeout": settings.SESSION_IDLE_TIMEOUT,
        "session_absolute_remaining": left.get("absolute", settings.SESSION_ABSOLUTE_TIMEOUT),
        "session_expiry_warning": settings.SESSION_EXPIRY_WARNING,
    }
