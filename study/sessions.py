"""The session stamps of a sign-in, read by `trialsite.middleware.SessionExpiryMiddleware` to end a
session after its idle or absolute limit (issue 21)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

LOGIN_AT = "trialsite_login_at"
LAST_SEEN = "trialsite_last_seen"


def stamp_login(request: HttpRequest) -> None:
    now = timezone.now().isoformat()
    request.session[LOGIN_AT] = now
    request.session[LAST_SEEN] = now
