"""Export pages (DESIGN §3 exports/, §4a): the exports of a study with a form to start one, an
export's page with its progress, conformance report and files, and the audited downloads.
Thin: gate → form → one service → redirect."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from exports import archive, metadata, selectors, services
from exports.findings import ERROR, NOTE, WARNING
from exports.forms import ExportRequestForm
from exports.models import DownloadChannel, ExportFile, ExportStatus, ExportTrigger
from study.form_errors import apply_service_errors

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xpt": "application/octet-stream",
    "json": "application/json; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "xsl": "application/xslt+xml; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odm": "application/xml; charset=utf-8",
}


def _titles() -> dict[str, str]:
    """Titles of the response and analysis datasets on the export page (translated); the SDTM
    domains keep the IG's English label, as in the files."""
    return {
        "RS": _("Disease response (overall and MRD response per assessment; day-28 and best response)"),
        "ADSL": _("ADaM subject level: populations, dose level, key dates, baseline disease"),
        "ADAE": _("ADaM adverse events: treatment-emergent, day 0-90, lymphodepletion, maximum grade"),
        "ADTTE": _("ADaM time to event: OS, EFS, RFS, duration of response"),
        "ADRS": _("ADaM response: per assessment, day-28 and best response, MRD status"),
        "ADEX": _("ADaM exposure: lymphodepletion doses and CAR-T dose per kg"),
        "ADCM": _("ADaM medications: prior and concomitant flags"),
        "ADLB": _("ADaM laboratory: CTCAE grades, baseline, change from baseline, worst post-baseline flags"),
    }


def dataset_choices() -> list[tuple[str, str]]:
    labels = metadata.sdtm_dataset_labels() | _titles()
    return [(name, f"{name} · {labels.get(name, name)}") for name in services.available_datasets()]


@login_required
def export_list(request: HttpRequest) -> HttpResponse:
    studies = list(selectors.studies_for_exports(request.user).order_by("code"))
    if not studies:
        raise PermissionDenied
    study = next((s for s in studies if s.code == request.GET.get("study")), studies[0])
    form = ExportRequestForm(
        request.POST or None, initial={"cutoff_date": timezone.localdate()}, dataset_choices=dataset_choices()
    )
    if request.method == "POST" and form.is_valid():
        try:
            export = services.request_export(
                actor=request.user,  # type: ignore[arg-type]
                study=study,
                cutoff_date=form.cleaned_data["cutoff_date"],
                snapshot_at=form.cleaned_data["snapshot_at"],
                dataset_names=form.cleaned_data["datasets"],
                formats=form.cleaned_data["formats"],
                trigger=ExportTrigger.PAGE,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Export requested: it starts as soon as a worker is free."))
            return redirect("exports:detail", pk=export.pk)
    exports = selectors.exports_visible_to(request.user).filter(study=study)[:100]
    context = {"study": study, "studies": studies, "jobs": exports, "form": form, "can_request": True}
    return render(request, "exports/list.html", context)


@login_required
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    export = selectors.access_export(request.user, pk)
    files = list(ExportFile.objects.filter(export=export).defer("content").order_by("pk"))
    findings = export.conformance or []
    by_severity = {severity: [f for f in findings if f["severity"] == severity] for severity in (ERROR, WARNING, NOTE)}
    context = {
        "export": export,
        "files": files,
        "errors": by_severity[ERROR],
        "warnings": by_severity[WARNING],
        "notes": by_severity[NOTE],
        "downloads": selectors.downloads_of(export)[:50],
        "live": export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING),
    }
    return render(request, "exports/detail.html", context)


@login_required
def export_file(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    export = selectors.access_export(request.user, pk)
    file = ExportFile.objects.filter(export=export, name=name).first()
    if file is None:
        raise Http404
    services.record_download(
        user=request.user,  # type: ignore[arg-type]
        export=export,
        file=file,
        what=file.name,
        channel=DownloadChannel.PAGE,
    )
    response = services.file_response(file, CONTENT_TYPES.get(file.fmt, "application/octet-stream"))
    response["Content-Disposition"] = f'attachment; filename="export-{export.pk}-{file.name}"'
    response["X-Content-SHA256"] = file.sha256
    return response


@login_required
def export_archive(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """Every file of the export and its manifest in one ZIP, streamed (exports.archive)."""
    export = selectors.access_export(request.user, pk)
    files = list(
        ExportFile.objects.filter(export=export)
        .order_by("pk")
        .values("pk", "name", "fmt", "rows", "size_bytes", "sha256")
    )
    if not files:
        raise Http404
    services.record_download(
        user=request.user,  # type: ignore[arg-type]
        export=export,
        what=f"export-{export.pk}.zip",
        channel=DownloadChannel.PAGE,
    )
    about = {
        "export": export.pk,
        "study": export.study.code,
        "cutoff_date": export.cutoff_date.isoformat(),
        "snapshot_at": export.snapshot_at.isoformat() if export.snapshot_at else None,
        "code_version": export.code_version,
        "datasets": export.datasets,
        "formats": export.formats,
    }
    head = archive.manifest(files, about)

    def loader(file_pk: int) -> Any:
        return lambda: services.file_pieces(file_pk)  # a part at a time (issue 29 item 7)

    entries = [
        (archive.MANIFEST, lambda: head, len(head)),
        *((f["name"], loader(f["pk"]), f["size_bytes"]) for f in files),
    ]
    response = StreamingHttpResponse(archive.stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="export-{export.pk}.zip"'
    return response
