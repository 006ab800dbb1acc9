"""REST resource `exports` (DESIGN §6): list the exports one may read, start one (202, queued
through the outbox), poll it, read its conformance report, download a file, and read each
dataset as JSON or CSV in pages. The pages' gate and permissions (DESIGN §4a "start endpoint
runs and de-identified exports"): exports outside the user's sites are 404, a role that may not
export 403. Every download and dataset read is recorded (who, what, when)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crf.api_fields import AwareDateTimeField
from exports import selectors, services, writers
from exports.models import DownloadChannel, Export, ExportDataset, ExportFile, ExportFormat, ExportTrigger
from jobs.api import JOB_FIELDS, JobSerializer, JobViewSet, job_resource

MAX_LIMIT = 1000


class ExportFileSerializer(serializers.ModelSerializer[ExportFile]):
    class Meta:
        model = ExportFile
        fields = ["name", "dataset", "fmt", "rows", "size_bytes", "sha256"]
        read_only_fields = fields


class ExportSerializer(JobSerializer):
    passes_conformance = serializers.BooleanField(read_only=True)
    files = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            *("id", "study", "datasets", "formats", "cutoff_date", "protocol_version"),
            *JOB_FIELDS,
            *("row_counts", "conformance_errors", "conformance_warnings", "passes_conformance", "files"),
        ]
        read_only_fields = fields

    def get_files(self, export: Export) -> list[dict[str, Any]]:
        files = ExportFile.objects.filter(export=export).defer("content").order_by("pk")
        return list(ExportFileSerializer(files, many=True).data)


class ExportRequestSerializer(serializers.Serializer[Export]):
    study = serializers.CharField(
        max_length=40, required=False, help_text="Study code; may be left out when you belong to one study."
    )
    cutoff_date = serializers.DateField(help_text="Clinical cut-off date: records dated after it are left out.")
    snapshot_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        help_text="The data as they stood at this instant (ISO 8601 with zone); empty: when the export starts.",
    )
    datasets = serializers.ListField(
        child=serializers.CharField(max_length=8),
        required=False,
        help_text="Dataset names; default: every dataset (SDTM, RS, ADaM).",
    )
    formats = serializers.ListField(
        child=serializers.ChoiceField(choices=ExportFormat.values), required=False, help_text="Default: csv and xpt."
    )


PAGING = [
    OpenApiParameter("offset", OpenApiTypes.INT, description="First row (0-based)."),
    OpenApiParameter("limit", OpenApiTypes.INT, description=f"Rows per page (1-{MAX_LIMIT}, default 100)."),
    OpenApiParameter("output", OpenApiTypes.STR, enum=["json", "csv"], description="json (default) or csv."),
]


@job_resource(
    listed="Dataset exports you may read",
    one="One export: status, progress (0-100), cut, row counts, files with SHA-256",
    start="Start an export (queued through the outbox; poll the export for progress)",
    request=ExportRequestSerializer,
    answer=ExportSerializer,
)
class ExportViewSet(JobViewSet):
    serializer_class = ExportSerializer
    request_serializer_class = ExportRequestSerializer
    start_action = services.EXPORT_ACTION

    visible = staticmethod(selectors.exports_visible_to)
    access_job = staticmethod(selectors.access_export)
    may_list = staticmethod(lambda user: selectors.studies_for_exports(user).exists())

    def request_job(self, data: dict[str, Any]) -> Export:
        return services.request_export(
            actor=self.request.user,  # type: ignore[arg-type]
            study=self.study_from(data.get("study")),
            cutoff_date=data["cutoff_date"],
            snapshot_at=data.get("snapshot_at"),
            dataset_names=data.get("datasets"),
            formats=data.get("formats"),
            trigger=ExportTrigger.API,
        )

    @extend_schema(summary="The export's conformance report (findings with severity, dataset, variable, row)")
    @action(detail=True, methods=["get"])
    def conformance(self, request: Request, pk: str | None = None) -> Response:
        export = self.get_object()
        if export.status != "succeeded":
            return Response({"detail": "This export has no report yet.", "status": export.status}, status=409)
        return Response(
            {
                "errors": export.conformance_errors,
                "warnings": export.conformance_warnings,
                "passes": export.passes_conformance,
                "findings": export.conformance,
            }
        )

    @extend_schema(
        summary="Download one file of the export (recorded)",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: OpenApiResponse()},
    )
    @action(detail=True, methods=["get"], url_path=r"files/(?P<name>[a-z0-9_]+\.[a-z]+)")
    def files(self, request: Request, pk: str | None = None, name: str = "") -> HttpResponse:
        export = self.get_object()
        file = ExportFile.objects.filter(export=export, name=name).first()
        if file is None:
            raise NotFound
        services.record_download(
            user=request.user,  # type: ignore[arg-type]
            export=export,
            file=file,
            what=file.name,
            channel=DownloadChannel.API,
        )
        response = services.file_response(file, "application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="export-{export.pk}-{file.name}"'
        response["ETag"] = f'"{file.sha256}"'
        return response

    @extend_schema(
        summary="One dataset of the export, a page of rows as JSON (columns with labels and types) or CSV (recorded)",
        parameters=PAGING,
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiResponse()},
    )
    @action(detail=True, methods=["get"], url_path=r"datasets/(?P<name>[A-Za-z0-9]{1,8})")
    def datasets(self, request: Request, pk: str | None = None, name: str = "") -> Any:
        export = self.get_object()
        errors = {}
        try:
            offset = int(request.query_params.get("offset", 0))
            if offset < 0:
                raise ValueError
        except ValueError:
            errors["offset"] = ["A whole number from 0."]
            offset = 0
        try:
            limit = int(request.query_params.get("limit", 100))
            if not 1 <= limit <= MAX_LIMIT:
                raise ValueError
        except ValueError:
            errors["limit"] = [f"A whole number from 1 to {MAX_LIMIT}."]
            limit = 100
        output = request.query_params.get("output", "json")
        if output not in ("json", "csv"):
            errors["output"] = ["json or csv."]
        if errors:
            raise ValidationError(errors)
        dataset = ExportDataset.objects.filter(export=export, name=name.upper()).first()
        if dataset is None:
            raise NotFound
        rows = services.dataset_rows(dataset, offset, limit)
        services.record_download(
            user=request.user,  # type: ignore[arg-type]
            export=export,
            what=f"{dataset.name} rows {offset}-{offset + len(rows)} {output}",
            channel=DownloadChannel.API,
        )
        if output == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow([c["name"] for c in dataset.columns])
            for row in rows:
                writer.writerow([writers.csv_value(v) for v in row])
            response = HttpResponse(out.getvalue().encode(), content_type="text/csv; charset=utf-8")
            response["X-Total-Count"] = str(dataset.row_count)
            return response
        return Response(
            {
                "name": dataset.name,
                "label": dataset.label,
                "columns": dataset.columns,
                "count": dataset.row_count,
                "offset": offset,
                "limit": limit,
                "rows": rows,
            }
        )
