"""Endpoint run pages (DESIGN §5, §4a): the runs of a study with a form to start one, a run's
page with its progress and tables, and its files. Thin: gate → form → one service → redirect."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from endpoints import files, labels, selectors, services
from endpoints.forms import RunRequestForm
from endpoints.models import RunStatus, RunTrigger
from study import access
from study.form_errors import apply_service_errors
from study.roles import Action

CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    studies = list(selectors.studies_with_results_for(request.user).order_by("code"))
    if not studies:
        raise PermissionDenied
    study = next((s for s in studies if s.code == request.GET.get("study")), studies[0])
    can_start = access.can_anywhere(request.user, Action.START_ENDPOINT_RUNS, study=study)
    form = RunRequestForm(request.POST or None, initial={"cutoff_date": timezone.localdate()})
    if request.method == "POST":
        if not can_start:
            raise PermissionDenied
        if form.is_valid():
            try:
                run = services.request_run(
                    actor=request.user,  # type: ignore[arg-type]
                    study=study,
                    cutoff_date=form.cleaned_data["cutoff_date"],
                    snapshot_at=form.cleaned_data["snapshot_at"],
                    trigger=RunTrigger.PAGE,
                    rederive_at_cutoff=form.cleaned_data["rederive_at_cutoff"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Endpoint run requested: it starts as soon as a worker is free."))
                return redirect("endpoints:run_detail", pk=run.pk)
    runs = selectors.runs_visible_to(request.user).filter(study=study)[:100]
    context = {"study": study, "studies": studies, "jobs": runs, "form": form, "can_request": can_start}
    return render(request, "endpoints/run_list.html", context)


#: A table longer than this shows its first rows on the page; CSV and XLSX hold every row.
PAGE_TABLE_ROWS = 100


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.access_run(request.user, pk)
    tables = []
    sensitivity_tables = []
    sensitivity = None
    cut = {}
    if run.has_results:
        document = selectors.gated_document(request.user, run, json.loads(run.results_json))
        cut = document["cut"]
        tables = _page_tables(document["tables"])
        sensitivity = document.get("sensitivity")
        if sensitivity is not None:
            sensitivity_tables = _page_tables(sensitivity["tables"])
            sensitivity = {**sensitivity, "rederived": labels.rederived_counts(sensitivity.get("rederived", {}))}
    live = run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
    versions = labels.input_versions(run.settings_version, run.input_settings_versions or {})
    return render(
        request,
        "endpoints/run_detail.html",
        {
            "run": run,
            "tables": tables,
            "cut": cut,
            "live": live,
            "input_versions": versions,
            "sensitivity": sensitivity,
            "sensitivity_tables": sensitivity_tables,
        },
    )


def _page_tables(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tables = [labels.display_table(table) for table in found]
    for table in tables:  # a curve at 10,000 subjects has thousands of rows: the files hold them
        table["more"] = max(0, len(table["rows"]) - PAGE_TABLE_ROWS)
        table["rows"] = table["rows"][:PAGE_TABLE_ROWS]
    return tables


@login_required
def run_file(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    run = selectors.access_run(request.user, pk)
    if fmt not in CONTENT_TYPES or not run.has_results:
        raise Http404
    body: bytes | str
    if selectors.hidden_subject_labels(request.user, run.study) is not None:
        # Some subjects are outside the viewer's sites: the files are rebuilt from the gated tables.
        document = selectors.gated_document(request.user, run, json.loads(run.results_json))
        every = document["tables"] + document.get("sensitivity", {}).get("tables", [])
        assert run.snapshot_at is not None
        if fmt == "json":
            body = json.dumps(document, ensure_ascii=False, sort_keys=True)
        elif fmt == "csv":
            body = files.tables_csv(every)
        else:
            body = files.tables_xlsx(every, stamped=run.snapshot_at)
    elif fmt == "json":
        body = run.results_json
    elif fmt == "csv":
        body = run.results_csv
    else:
        body = bytes(run.results_xlsx or b"")
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="endpoint-run-{run.pk}-{run.cutoff_date}.{fmt}"'
    return response


TABLE_FORMATS = ("csv", "xlsx")


@login_required
def table_file(request: HttpRequest, pk: int, key: str, fmt: str) -> HttpResponse:
    """One table of a run as CSV or XLSX, rendered from the stored canonical JSON (the record);
    `?analysis=sensitivity` for the table of the sensitivity analysis."""
    run = selectors.access_run(request.user, pk)
    analysis = request.GET.get("analysis", "main")
    if fmt not in TABLE_FORMATS or not run.has_results or analysis not in selectors.ANALYSES:
        raise Http404
    found = selectors.tables_of(json.loads(run.results_json), analysis) or []
    table = next((t for t in found if t["key"] == key), None)
    if table is None:
        raise Http404
    table = selectors.gated_tables(request.user, run, [table])[0]
    body: bytes | str
    if fmt == "csv":
        body = files.tables_csv([table])
    else:
        assert run.snapshot_at is not None
        body = files.tables_xlsx([table], stamped=run.snapshot_at)
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    mark = "-sensitivity" if analysis == "sensitivity" else ""
    response["Content-Disposition"] = (
        f'attachment; filename="endpoint-run-{run.pk}-{run.cutoff_date}-{key}{mark}.{fmt}"'
    )
    return response
