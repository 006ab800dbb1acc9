"""Error pages. A database outage answers 503 with a clear message (JSON with Retry-After for
the API), never a bare 500."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _

RETRY_AFTER_SECONDS = 30


def _database_unavailable() -> bool:
    exc = sys.exc_info()[1]
    while exc is not None:
        if isinstance(exc, OperationalError | InterfaceError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def server_error(request: HttpRequest) -> HttpResponse:
    if _database_unavailable():
        return service_unavailable(request)
    if _is_api(request):
        return JsonResponse({"detail": _("Internal server error."), "code": "server_error"}, status=500)
    return HttpResponse(loader.render_to_string("500.html"), status=500)


def service_unavailable(request: HttpRequest) -> HttpResponse:
    message = _("The database is unavailable. Nothing was saved; please try again in a minute.")
    if _is_api(request):
        response: HttpResponse = JsonResponse({"detail": message, "code": "database_unavailable"}, status=503)
    else:
        response = HttpResponse(loader.render_to_string("503.html", {"message": message}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": _("Not found."), "code": "not_found"}, status=404)
    return HttpResponse(loader.render_to_string("404.html", request=request), status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"detail": _("You do not have permission to perform this action."), "code": "permission_denied"},
            status=403,
        )
    return HttpResponse(loader.render_to_string("403.html", request=request), status=403)
