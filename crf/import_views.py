"""The CSV import page (issue 6 item 3): upload → preview (encoding and delimiter as detected,
row count, first rows, and every row checked) → confirm → result. The file waits on the server
(ImportUpload) between the steps; the user may read it again in another encoding. Open to
users who may create/edit CRF data at one of their sites (DESIGN §4a); subjects elsewhere are
"not found" in the report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.views.decorators.http import require_POST

from crf import csvfiles, display
from crf.forms import ImportUploadForm
from crf.imports import RowError, describe_columns, error_report_csv, import_forms, template_csv
from crf.models import ImportRecord, ImportUpload
from crf.registry import crf_model, crf_models
from study import access
from study.roles import Action

PREVIEW_ROWS = 5
UPLOAD_LIFETIME = timedelta(days=1)


def _require_editor(request: HttpRequest) -> None:
    access.require_anywhere(request.user, Action.EDIT_CRF)


def _csv_response(content: bytes, file_name: str) -> HttpResponse:
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response


@login_required
def start(request: HttpRequest) -> HttpResponse:
    _require_editor(request)
    form = ImportUploadForm(request.POST or None, request.FILES or None, initial={"crf_code": request.GET.get("form")})
    if request.method == "POST" and form.is_valid():
        ImportUpload.objects.filter(uploaded_at__lt=timezone.now() - UPLOAD_LIFETIME).delete()
        upload = form.cleaned_data["file"]
        pending = ImportUpload.objects.create(
            user=request.user,
            crf_code=form.cleaned_data["crf_code"],
            file_name=(upload.name or "upload.csv")[:255],
            content=upload.read(),
            uploaded_at=timezone.now(),
        )
        url = reverse("crf_import:preview", args=[pending.pk])
        if form.cleaned_data["encoding"]:
            url += f"?encoding={form.cleaned_data['encoding']}"
        return redirect(url)
    forms_listed = sorted(crf_models().items(), key=lambda item: (item[1].casebook_order, item[0]))
    records = ImportRecord.objects.filter(user=request.user)[:10]
    return render(request, "crf/import_start.html", {"form": form, "forms_listed": forms_listed, "records": records})


def _pending(request: HttpRequest, pk: int) -> ImportUpload:
    _require_editor(request)
    return get_object_or_404(ImportUpload, pk=pk, user=request.user)


def _read(pending: ImportUpload, encoding: str) -> tuple[csvfiles.CsvFile | None, str]:
    if encoding not in csvfiles.ENCODINGS:
        encoding = ""
    try:
        return csvfiles.read_csv(bytes(pending.content), file_name=pending.file_name, encoding=encoding), ""
    except csvfiles.UnreadableFile as exc:
        return None, str(exc)


def _cleared_for_reading(model: Any, cleared: list[dict[str, object]]) -> list[dict[str, object]]:
    """The values an import would clear, as a person reads them (issue 21): the field's label
    beside the CSV column, the stored value through the display layer (choice labels, units,
    a visit by its name)."""
    forms_by_pk = model.objects.in_bulk([entry["id"] for entry in cleared])
    shown = []
    for entry in cleared:
        column = str(entry["column"])
        instance = forms_by_pk.get(entry["id"])
        try:
            label = capfirst(str(model._meta.get_field(column).verbose_name))
        except FieldDoesNotExist:
            label = column
        value = display.field_text(instance, column) if instance is not None else str(entry["value"])
        shown.append({**entry, "label": label, "shown": value})
    return shown


@login_required
def preview(request: HttpRequest, pk: int) -> HttpResponse:
    """What was read, and the check of every row (saved nothing): the user confirms from here."""
    pending = _pending(request, pk)
    model = crf_model(pending.crf_code)
    if model is None:
        raise Http404
    csv_file, unreadable = _read(pending, request.GET.get("encoding", ""))
    errors: list[RowError] = []
    created = updated = 0
    cleared: list[dict[str, object]] = []
    if csv_file is not None:
        check = import_forms(
            user=request.user, model=model, csv_file=csv_file, channel="page", dry_run=True, record=False
        )  # type: ignore[arg-type]
        errors, created, updated = check.errors, len(check.created), len(check.updated)
        cleared = _cleared_for_reading(model, check.cleared)
    context = {
        "pending": pending,
        "model": model,
        "csv_file": csv_file,
        "unreadable": unreadable,
        "first_rows": csv_file.rows[:PREVIEW_ROWS] if csv_file else [],
        "errors": errors,
        "created": created,
        "updated": updated,
        "cleared": cleared,
        "encodings": csvfiles.ENCODINGS.items(),
    }
    return render(request, "crf/import_preview.html", context)


@login_required
def preview_report(request: HttpRequest, pk: int) -> HttpResponse:
    pending = _pending(request, pk)
    model = crf_model(pending.crf_code)
    csv_file, _unreadable = _read(pending, request.GET.get("encoding", ""))
    if model is None or csv_file is None:
        raise Http404
    check = import_forms(user=request.user, model=model, csv_file=csv_file, channel="page", dry_run=True, record=False)  # type: ignore[arg-type]
    return _csv_response(error_report_csv(check.errors), f"{pending.crf_code}-errors.csv")


@login_required
@require_POST
def confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """Import the file as previewed (same bytes, same encoding): all rows or none."""
    pending = _pending(request, pk)
    model = crf_model(pending.crf_code)
    if model is None:
        raise Http404
    csv_file, _unreadable = _read(pending, request.POST.get("encoding", ""))
    if csv_file is None or csv_file.sha256 != request.POST.get("sha256"):
        return redirect("crf_import:preview", pk=pending.pk)
    result = import_forms(user=request.user, model=model, csv_file=csv_file, channel=ImportRecord.Channel.PAGE)  # type: ignore[arg-type]
    if result.ok:
        pending.delete()
    assert result.record is not None
    return redirect("crf_import:record", pk=result.record.pk)


@login_required
def record(request: HttpRequest, pk: int) -> HttpResponse:
    kept = get_object_or_404(ImportRecord, pk=pk, user=request.user)
    model = crf_model(kept.crf_code)
    saved = [
        {**entry, "kind": kind} for kind in ("created", "updated") for entry in (kept.saved_ids or {}).get(kind, [])
    ]
    return render(request, "crf/import_record.html", {"kept": kept, "model": model, "saved": saved})


@login_required
def record_report(request: HttpRequest, pk: int) -> HttpResponse:
    kept = get_object_or_404(ImportRecord, pk=pk, user=request.user)
    errors = [RowError(e["row"], e["field"], e["message"], e.get("value", "")) for e in kept.errors]
    return _csv_response(error_report_csv(errors), f"{kept.crf_code}-errors-{kept.pk}.csv")


@login_required
def template(request: HttpRequest, code: str) -> HttpResponse:
    """The form's template: header row and a documentation row (skipped on import)."""
    _require_editor(request)
    model = crf_model(code)
    if model is None:
        raise Http404
    return _csv_response(template_csv(model), f"{code}-template.csv")


@login_required
def columns_page(request: HttpRequest, code: str) -> HttpResponse:
    """The companion description of a form's template: each column and what to write in it."""
    _require_editor(request)
    model = crf_model(code)
    if model is None:
        raise Http404
    return render(
        request, "crf/import_columns.html", {"model": model, "code": code, "described": describe_columns(model)}
    )
