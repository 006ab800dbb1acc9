"""The sponsor's reports (issue 31 §3): a page per report with its filters, and the same rows as
CSV or XLSX (`?format=csv|xlsx`). Readers: roles that may view CRF pages, at their own sites."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from datamanagement.reports import REPORTS, Filters, as_csv, as_xlsx, report_sites

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _date(value: str, errors: list[str], label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(_("%(field)s: enter a date as YYYY-MM-DD.") % {"field": label})
        return None


@login_required
def report_index(request: HttpRequest) -> HttpResponse:
    if not report_sites(request.user).exists():
        raise PermissionDenied
    return render(request, "datamanagement/report_index.html", {"reports": REPORTS.values()})


@login_required
def report(request: HttpRequest, key: str) -> HttpResponse:
    spec = REPORTS.get(key)
    if spec is None:
        raise Http404
    sites = report_sites(request.user)
    if not sites.exists():
        raise PermissionDenied
    errors: list[str] = []
    chosen = request.GET.get("site", "")
    if chosen:
        sites = sites.filter(code=chosen)
        if not sites.exists():
            raise Http404
    date_from = _date(request.GET.get("from", ""), errors, _("From"))
    date_to = _date(request.GET.get("to", ""), errors, _("To"))
    if date_from and date_to and date_from > date_to:
        errors.append(_("The start date is after the end date."))
    sections = [] if errors else spec.build(Filters(sites=sites, date_from=date_from, date_to=date_to))
    file_format = request.GET.get("format", "")
    if file_format and not errors:
        stamp = timezone.now()
        name = f"{spec.key}-{stamp:%Y%m%d-%H%M}"
        if file_format == "csv":
            response = HttpResponse(as_csv(sections).encode("utf-8-sig"), content_type="text/csv; charset=utf-8")
        elif file_format == "xlsx":
            response = HttpResponse(as_xlsx(sections, title=str(spec.title), generated=stamp), content_type=XLSX)
        else:
            return HttpResponse(_("Choose csv or xlsx."), status=400, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.{file_format}"'
        return response
    status = 400 if errors else 200
    context = {
        "spec": spec,
        "sections": sections,
        "errors": errors,
        "sites": report_sites(request.user),
        "chosen": chosen,
        "date_from": request.GET.get("from", ""),
        "date_to": request.GET.get("to", ""),
        "query": request.GET.urlencode(),
    }
    return render(request, "datamanagement/report.html", context, status=status)
