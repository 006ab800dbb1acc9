"""REST resource `pdfs` (DESIGN §6; issue 26 item 2): list the PDF documents one may read,
request one (202, queued through the outbox), poll it, download it (recorded). The pages' gate
and permissions (datamanagement.pdf_jobs): outside the gate 404, a role that may not generate
PDFs 403."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crf.api import as_api_error
from crf.jobs import JobTrigger
from datamanagement import pdf_jobs
from datamanagement.models import PdfJob, PdfKind, PdfLanguage
from study import access
from study.access import subjects_visible_to
from study.models import Study

CONTENT_TYPES = {".pdf": "application/pdf", ".zip": "application/zip"}


class PdfJobSerializer(serializers.ModelSerializer[PdfJob]):
    study = serializers.CharField(source="study.code", read_only=True)
    subject = serializers.CharField(source="subject.subject_id", read_only=True, default=None)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True, default=None)
    duration_seconds = serializers.FloatField(read_only=True)

    class Meta:
        model = PdfJob
        fields = [
            "id",
            "study",
            "kind",
            "subject",
            "site_ids",
            "language",
            "requested_by",
            "requested_at",
            "trigger",
            "snapshot_at",
            "code_version",
            "status",
            "progress",
            "attempts",
            "started_at",
            "finished_at",
            "duration_seconds",
            "error",
            "file_name",
            "sha256",
            "size_bytes",
            "pages",
            "documents",
        ]
        read_only_fields = fields


class PdfRequestSerializer(serializers.Serializer[PdfJob]):
    kind = serializers.ChoiceField(choices=PdfKind.values)
    language = serializers.ChoiceField(choices=PdfLanguage.values, default=PdfLanguage.ENGLISH)
    subject = serializers.IntegerField(required=False, help_text="The subject's id, for a casebook.")
    study = serializers.CharField(
        max_length=40, required=False, help_text="Study code; may be left out when you belong to one study."
    )


@extend_schema_view(
    list=extend_schema(summary="PDF documents you may read (casebooks, study archives, blank and annotated CRF)"),
    retrieve=extend_schema(summary="One document: status, progress (0-100), file name, pages, SHA-256"),
)
class PdfJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[PdfJob]):
    serializer_class = PdfJobSerializer

    def get_queryset(self) -> QuerySet[PdfJob]:
        return pdf_jobs.jobs_visible_to(self.request.user)  # type: ignore[arg-type]

    def get_object(self) -> PdfJob:
        return pdf_jobs.access_job(self.request.user, self.kwargs["pk"])  # type: ignore[arg-type]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not pdf_jobs.may_generate(request.user):  # type: ignore[arg-type]
            raise PermissionDenied
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Request a document (queued through the outbox; poll it for progress)",
        request=PdfRequestSerializer,
        responses={202: PdfJobSerializer, 400: OpenApiResponse(description="Field-level reasons.")},
    )
    def create(self, request: Request) -> Response:
        if not pdf_jobs.may_generate(request.user):  # type: ignore[arg-type]
            raise PermissionDenied
        data = PdfRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subject = None
        if data.validated_data.get("subject") is not None:
            subject = (
                subjects_visible_to(request.user)
                .select_related("site__study")
                .filter(pk=data.validated_data["subject"])
                .first()
            )
            if subject is None:
                raise ValidationError({"subject": ["No such subject among yours."]})
            study = subject.site.study
        else:
            study = self._study(data.validated_data.get("study"))
        try:
            job = pdf_jobs.request_pdf(
                actor=request.user,  # type: ignore[arg-type]
                study=study,
                kind=data.validated_data["kind"],
                language=data.validated_data["language"],
                subject=subject,
                trigger=JobTrigger.API,
            )
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        except DjangoPermissionDenied:
            raise PermissionDenied from None
        return Response(PdfJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    def _study(self, code: str | None) -> Study:
        visible = access.studies_visible_to(self.request.user)
        if code:
            study = visible.filter(code=code).first()
            if study is None:
                raise ValidationError({"study": ["No such study among yours."]})
            return study
        studies = list(visible[:2])
        if len(studies) != 1:
            raise ValidationError({"study": ["Give the study code."]})
        return studies[0]

    @extend_schema(
        summary="Download the document (recorded)",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, 404: OpenApiResponse()},
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> HttpResponse:
        job = self.get_object()
        if not job.has_file:
            raise NotFound
        return file_response(job, request.user, JobTrigger.API)


def file_response(job: PdfJob, user: Any, channel: str) -> HttpResponse:
    """The document as an attachment, its download recorded (page and API alike)."""
    pdf_jobs.record_download(user=user, job=job, channel=channel)
    content = bytes(PdfJob.objects.values_list("content", flat=True).get(pk=job.pk))
    suffix = job.file_name[job.file_name.rfind(".") :]
    response = HttpResponse(content, content_type=CONTENT_TYPES.get(suffix, "application/octet-stream"))
    response["Content-Disposition"] = f'attachment; filename="{job.file_name}"'
    response["ETag"] = f'"{job.sha256}"'
    response["X-Content-SHA256"] = job.sha256
    return response
