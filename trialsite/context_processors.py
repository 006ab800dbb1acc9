from django.conf import settings
from django.http import HttpRequest


def session_timeouts(request: HttpRequest) -> dict[str, int]:
    """Numbers the expiry warning in base.html counts down from."""
    return {
        "session_idle_timeout": settings.SESSION_IDLE_TIMEOUT,
        "session_expiry_warning": settings.SESSION_EXPIRY_WARNING,
    }
