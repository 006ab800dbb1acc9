"""Audit context (DESIGN §4 "Audit trail"): who, in which role, at which site, why, and which
request — attached by pghistory to every history row the triggers write.

Context fields: `user` (id), `username`, `role` (the user's active roles at the site, comma
separated), `site` (site code), `reason` (reason for change), `request_id`, `url`, `method`, and `via` = "api" for
REST API requests. A reason the system writes (`study.system_text.message`) also stores
`reason_code` and `reason_params`, the audited truth a history page renders in the reader's
language (issue 25 item 3; `crf.display.reason_text`); `reason` then holds its English text.

It lives in study/, the lowest app with models: every app's audited writes run inside it,
study's own included (DESIGN §3 layers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pghistory
from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from study.models import Site, User


def _current_context() -> dict[str, object]:
    from pghistory import runtime

    tracked = getattr(runtime._tracker, "value", None)
    return dict(tracked.metadata) if tracked is not None else {}


@contextmanager
def audit_context(*, user: User | None, site: Site | None = None, reason: str = "") -> Iterator[None]:
    from study import access

    fields: dict[str, object] = {}
    if user is not None and user.is_authenticated:
        fields["user"] = user.pk
        fields["username"] = user.username
    if site is not None:
        fields["site"] = site.code
        if user is not None:
            fields["role"] = ",".join(sorted(access.roles_at(user, site)))
    if reason:
        fields["reason"] = str(reason)
        code = getattr(reason, "code", "")
        if code:
            fields["reason_code"] = code
            fields["reason_params"] = getattr(reason, "params", {})
        elif "reason_code" in _current_context():  # a person's reason inside a system one
            fields["reason_code"] = ""
            fields["reason_params"] = {}
    with pghistory.context(**fields):
        yield


class AuditContextMiddleware:
    """Opens a pghistory context for the whole request with the request id and the user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(("/health/", "/static/")):
            return self.get_response(request)
        fields: dict[str, object] = {
            "request_id": getattr(request, "request_id", ""),
            "url": request.path[:500],
            "method": request.method or "",
        }
        if request.path.startswith("/api/"):
            fields["via"] = "api"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            fields["user"] = user.pk
            fields["username"] = user.username
        with pghistory.context(**fields):
            return self.get_response(request)
