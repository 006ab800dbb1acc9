"""REST resource `exports` (DESIGN §6): list the exports one may read, start one (202, queued
through the outbox), poll it, read its conformance report, download a file, and read each
dataset as JSON or CSV in pages. The pages' gate and permissions (DESIGN §4a "start endpoint
runs and de-identified exports"): exports outside the user's sites are 404, a role that may not
export 403. Every download and dataset read is recorded (who, what, when)."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crf.api import as_api_error
from crf.api_fields import AwareDateTimeField
from exports import selectors, services, writers
from exports.models import DownloadChannel, Export, ExportDataset, ExportFile, ExportFormat, ExportTrigger
from study import access
from study.models import Study

MAX_LIMIT = 1000


class ExportFileSerializer(serializers.ModelSerializer[ExportFile]):
    class Meta:
        model = ExportFile
        fields = ["name", "dataset", "fmt", "rows", "size_bytes", "sha256"]
        read_only_fields = fields


class ExportSerializer(serializers.ModelSerializer[Export]):
    study = serializers.CharField(source="study.code", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True, default=None)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)  # null until the job finished
    passes_conformance = serializers.BooleanField(read_only=True)
    files = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id",
            "study",
            "requested_by",
            "requested_at",
            "trigger",
            "datasets",
            "formats",
            "cutoff_date",
            "snapshot_at",
            "protocol_version",
            "code_version",
            "status",
            "progress",
            "attempts",
            "started_at",
            "finished_at",
            "duration_seconds",
            "error",
            "row_counts",
            "conformance_errors",
            "conformance_warnings",
            "passes_conformance",
            "files",
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


@extend_schema_view(
    list=extend_schema(summary="Dataset exports you may read"),
    retrieve=extend_schema(summary="One export: status, progress (0-100), cut, row counts, files with SHA-256"),
)
class ExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Export]):
    serializer_class = ExportSerializer

    def get_queryset(self) -> QuerySet[Export]:
        return selectors.exports_visible_to(self.request.user)

    def get_object(self) -> Export:
        try:
            pk = int(self.kwargs["pk"])
        except (TypeError, ValueError):
            raise NotFound from None
        return selectors.access_export(self.request.user, pk)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not selectors.studies_for_exports(request.user).exists():
            raise PermissionDenied
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        export = self.get_object()
        data = ExportSerializer(export).data
        etag = hashlib.sha256(f"{export.pk}:{export.status}:{export.progress}:{export.attempts}".encode()).hexdigest()
        return Response(data, headers={"ETag": f'"{etag}"'})

    @extend_schema(
        summary="Start an export (queued through the outbox; poll the export for progress)",
        request=ExportRequestSerializer,
        responses={202: ExportSerializer, 400: OpenApiResponse(description="Field-level reasons.")},
    )
    def create(self, request: Request) -> Response:
        data = ExportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        study = self._study(data.validated_data.get("study"))
        try:
            export = services.request_export(
                actor=request.user,  # type: ignore[arg-type]
                study=study,
                cutoff_date=data.validated_data["cutoff_date"],
                snapshot_at=data.validated_data.get("snapshot_at"),
                dataset_names=data.validated_data.get("datasets"),
                formats=data.validated_data.get("formats"),
                trigger=ExportTrigger.API,
            )
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response(ExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)

    def _study(self, code: str | None) -> Study:
        visible = access.studies_visible_to(self.request.user)
        if code:
            study = visible.filter(code=code).first()
            if study is None:
                raise ValidationError({"study": ["No such study among yours."]})
        else:
            studies = list(visible[:2])
            if len(studies) != 1:
                raise ValidationError({"study": ["Give the study code."]})
            study = studies[0]
        if not access.can_anywhere(self.request.user, services.EXPORT_ACTION, study=study):
            raise PermissionDenied
        return study

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
