"""Request plumbing: request ids, language choice, session expiry, no-store for signed-in users
and the guards against input no view should see (issue 21)."""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from urllib.parse import unquote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crf import display
from study.language import names_var, user_language
from study.sessions import LAST_SEEN, LOGIN_AT

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

#: Paths that must answer without a session or a database (health probes).
SESSIONLESS_PREFIXES = ("/health/", "/static/")


class RequestIdMiddleware:
    """Gives each request an id (or keeps a proxy's `X-Request-ID`) for logs and the audit trail."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if 8 <= len(incoming) <= 64 and incoming.isascii() else uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id_var.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        return response


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def _sessionless(request: HttpRequest) -> bool:
    return request.path.startswith(SESSIONLESS_PREFIXES)


class UserLocaleMiddleware(LocaleMiddleware):
    """Before login the browser's Accept-Language (or the language cookie) picks the language;
    after login the user's own choice holds, else the default of their first site."""

    def process_request(self, request: HttpRequest) -> None:
        if not _sessionless(request) and request.user.is_authenticated:
            language = user_language(request.user)
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
            # Times on every page in the reader's site zone, named (crf.display.when; issue 25).
            request._reader_zone_token = display.reader_zone_var.set(display.lazy_zone_of_user(request.user))  # type: ignore[attr-defined]
            request._names_token = names_var.set({})  # type: ignore[attr-defined]
            return
        super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        token = getattr(request, "_reader_zone_token", None)
        if token is not None:
            display.reader_zone_var.reset(token)
            names_var.reset(request._names_token)  # type: ignore[attr-defined]
            # Remember the account's language on this browser, so the sign-in page after a
            # sign-out (or an expired session) speaks it too (issue 25 item 5).
            language = getattr(request, "LANGUAGE_CODE", "")
            if language and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != language:
                response.set_cookie(
                    settings.LANGUAGE_COOKIE_NAME,
                    language,
                    max_age=settings.LANGUAGE_COOKIE_AGE or 365 * 24 * 3600,
                    samesite="Lax",
                    secure=request.is_secure(),
                    httponly=True,
                )
        return super().process_response(request, response)


def _parse(stamp: object) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


class SessionExpiryMiddleware:
    """Ends a session after SESSION_IDLE_TIMEOUT without requests, or SESSION_ABSOLUTE_TIMEOUT
    after login, whichever comes first. The session cookie age enforces the idle limit too; this
    middleware makes both limits explicit, testable and announced to the user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _sessionless(request) and request.user.is_authenticated:
            now = timezone.now()
            login_at = _parse(request.session.get(LOGIN_AT))
            last_seen = _parse(request.session.get(LAST_SEEN))
            expired = (
                login_at is None
                or (now - login_at).total_seconds() > settings.SESSION_ABSOLUTE_TIMEOUT
                or (last_seen is not None and (now - last_seen).total_seconds() > settings.SESSION_IDLE_TIMEOUT)
            )
            if expired:
                # Imported here: this module is loaded by LOGGING before the app registry is ready.
                from django.contrib.auth.views import redirect_to_login

                logout(request)
                if request.path.startswith("/api/"):
                    return self.get_response(request)
                response = redirect_to_login(request.get_full_path())
                _announce_expiry(request, response)
                return response
            if request.path != STATUS_PATH:
                request.session[LAST_SEEN] = now.isoformat()
            request.session_remaining = remaining(login_at, last_seen, now)  # type: ignore[attr-defined]
        return self.get_response(request)


#: Polled by the expiry warning: reports what is left without counting as activity.
STATUS_PATH = "/session/status/"


def remaining(login_at: datetime, last_seen: datetime | None, now: datetime) -> dict[str, int]:
    """Seconds left before the idle and the absolute limit (as of the previous request)."""
    idle_from = last_seen or login_at
    return {
        "idle": max(0, int(settings.SESSION_IDLE_TIMEOUT - (now - idle_from).total_seconds())),
        "absolute": max(0, int(settings.SESSION_ABSOLUTE_TIMEOUT - (now - login_at).total_seconds())),
    }


def _announce_expiry(request: HttpRequest, response: HttpResponse) -> None:
    """Leave "your session has expired" for the sign-in page. This middleware answers before
    MessageMiddleware has run (it sits further in), so it opens the message storage itself and
    writes it onto its own response."""
    from django.contrib.messages.storage import default_storage

    storage = getattr(request, "_messages", None)
    opened_here = storage is None
    if opened_here:
        storage = default_storage(request)
        request._messages = storage  # type: ignore[attr-defined]
    storage.add(messages.WARNING, _("Your session has expired. Please sign in again."))
    if opened_here:
        storage.update(response)


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every response to a signed-in user or an API token (issue 21):
    pages and API answers carry subject data, which no browser or proxy cache may keep."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated) or "HTTP_AUTHORIZATION" in request.META:
            response["Cache-Control"] = "no-store"
        return response


#: the longest reason for change, in the body (serializers) and in the header alike
REASON_MAX_LENGTH = 300


def _refuse(request: HttpRequest, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=400)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


class InputGuardMiddleware:
    """Bad input a view never sees (issue 21): a NUL character in a query parameter (PostgreSQL
    text cannot hold it) and an `X-Reason-For-Change` header with a NUL or over 300 characters are
    a 400 with a reason, before any view runs, so nothing is saved."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return _refuse(
                    request,
                    _("Query parameter “%(name)s” contains a NUL character.") % {"name": key.replace("\x00", "")},
                )
        header = request.headers.get("X-Reason-For-Change")
        if header is not None:
            reason = unquote(header)
            if "\x00" in reason:
                return _refuse(request, _("The X-Reason-For-Change header contains a NUL character."))
            if len(reason.strip()) > REASON_MAX_LENGTH:
                return _refuse(
                    request,
                    _("The reason for change may have at most %(max)s characters.") % {"max": REASON_MAX_LENGTH},
                )
        return self.get_response(request)
