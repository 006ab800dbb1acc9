from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crf.history import record_history, resolve_record


@login_required
def history(request: HttpRequest, label: str, pk: str) -> HttpResponse:
    record, subject = resolve_record(request.user, label, pk)  # type: ignore[arg-type]
    rows = record_history(viewer=request.user, record=record, subject=subject)  # type: ignore[arg-type]
    context = {
        "record": record,
        "record_type": record._meta.verbose_name,
        "subject": subject,
        "rows": rows,
        "site_zone": subject.site.time_zone,
    }
    return render(request, "crf/history.html", context)
