"""Audit review page and its exports (issue 26 item 4; DESIGN §4a "audit search and export":
monitor, data manager, study admin): filters by subject, form, record, field, user, date range
and action, 50 events a page (keyset-free paging: the index answers any offset quickly; no total
is counted), and the filtered trail as CSV or CDISC ODM 1.3.2. Thin: filters → selector."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crf.history import role_text
from crf.registry import crf_models
from datamanagement import audit, odm
from datamanagement.models import Signature
from study import access
from study.access import subjects_visible_to
from study.roles import Action

PAGE_SIZE = 50
ACTION_LABELS = {
    "insert": gettext_lazy("Record created"),
    "update": gettext_lazy("Record changed"),
    "delete": gettext_lazy("Record deleted"),
}
CHUNK = 2000


def _params(request: HttpRequest, user: Any) -> tuple[QueryDict, dict[str, str]]:
    """The page speaks subject IDs and user names; the selector subject and user ids."""
    params = request.GET.copy()
    errors: dict[str, str] = {}
    code = params.pop("subject_id", [""])[-1].strip()
    if code:
        found = subjects_visible_to(user).filter(subject_id=code).values_list("pk", flat=True).first()
        if found is None:
            errors["subject_id"] = _("No such subject among those you may see.")
        else:
            params["subject"] = str(found)
    name = params.pop("username", [""])[-1].strip()
    if name:
        found = get_user_model().objects.filter(username=name).values_list("pk", flat=True).first()
        if found is None:
            errors["username"] = _("No such user.")
        else:
            params["user"] = str(found)
    return params, errors


def _search(request: HttpRequest) -> tuple[Any, dict[str, str], Any]:
    user: Any = request.user
    if not access.can_anywhere(user, Action.AUDIT_SEARCH):
        raise PermissionDenied
    params, errors = _params(request, user)
    filters, more = audit.parse_filters(user, params)
    errors.update(more)
    return filters, errors, audit.search(user, filters)


@login_required
def audit_review(request: HttpRequest) -> HttpResponse:
    _filters, errors, rows = _search(request)
    page = request.GET.get("page", "1")
    number = int(page) if page.isdigit() and int(page) > 0 else 1
    found: list[Any] = []
    has_next = False
    if not errors:
        start = (number - 1) * PAGE_SIZE
        found = list(rows[start : start + PAGE_SIZE + 1])
        has_next = len(found) > PAGE_SIZE
        found = found[:PAGE_SIZE]
    events = audit.describe(request.user, found, with_rows=True)  # type: ignore[arg-type]
    codes = audit.subject_codes(found)
    for event in events:
        event["subject_code"] = codes.get(event["subject"], "")
        event["action_label"] = ACTION_LABELS.get(event["action"], event["action"])
        event["changes"] = audit.shown_changes(event)
        event["role_label"] = role_text(event["role"])
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "datamanagement/audit_review.html",
        {
            "events": events,
            "errors": errors,
            "number": number,
            "has_next": has_next,
            "query": query.urlencode(),
            "params": request.GET,
            "forms": sorted((code, str(model.crf_title)) for code, model in crf_models().items()),
            "actions": [(a, ACTION_LABELS[a]) for a in audit.ACTIONS],
        },
    )


def _chunks(request: HttpRequest, rows: Any) -> Iterator[tuple[list[dict[str, Any]], dict[int, str]]]:
    last = None
    while True:
        page = rows if last is None else rows.filter(at__lte=last[0]).exclude(at=last[0], id__gte=last[1])
        found = list(page[:CHUNK])
        if not found:
            return
        yield audit.describe(request.user, found), audit.subject_codes(found)  # type: ignore[arg-type]
        last = (found[-1].at, found[-1].id)


CSV_COLUMNS = [
    "at_utc",
    "subject_id",
    "site",
    "model",
    "form",
    "record_id",
    "action",
    "username",
    "role",
    "reason",
    "request_id",
    "via",
    "field",
    "old",
    "new",
    "event_id",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(request: HttpRequest, rows: Any) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(CSV_COLUMNS)
    for events, codes in _chunks(request, rows):
        for e in events:
            base = [
                e["at"].isoformat(),
                codes.get(e["subject"], ""),
                e["site"],
                e["model"],
                e["form"],
                e["record_id"],
                e["action"],
                e["username"],
                e["role"],
                e["reason"],
                e["request_id"],
                e["via"],
            ]
            for change in e["changes"] or [{"field": "", "old": None, "new": None}]:
                yield writer.writerow([*base, change["field"], _cell(change["old"]), _cell(change["new"]), e["id"]])


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


@login_required
def audit_export(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in ("csv", "xml"):
        raise Http404
    filters, errors, rows = _search(request)
    if errors:
        return HttpResponse("\n".join(f"{k}: {v}" for k, v in errors.items()), status=400, content_type="text/plain")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if fmt == "csv":
        response = StreamingHttpResponse(_csv_lines(request, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audit-trail-{stamp}.csv"'
        return response
    events: list[dict[str, Any]] = []
    codes: dict[int, str] = {}
    for chunk, chunk_codes in _chunks(request, rows):
        events.extend(chunk)
        codes.update(chunk_codes)
    user: Any = request.user
    studies = list(access.studies_visible_to(user))
    if not studies:
        raise PermissionDenied
    subject_pks = set(codes)
    signed = Signature.objects.filter(subject_id__in=subject_pks).select_related("subject__site")
    if filters.date_from is not None or filters.date_to is not None or filters.user is not None or filters.field:
        signed = signed.none()  # a narrowed trail carries its changes only
    users = dict(get_user_model().objects.values_list("pk", "username"))
    body = odm.audit_odm(study=studies[0], events=events, subject_codes=codes, signatures=signed, users=users)
    response = HttpResponse(io.BytesIO(body).getvalue(), content_type="application/xml")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{stamp}.xml"'
    return response
