"""REST resource `pdfs` (DESIGN §6; issue 26 item 2): list the PDF documents one may read,
request one (202, queued through the outbox), poll it, download it (recorded). The pages' gate
and permissions (datamanagement.pdf_jobs): outside the gate 404, a role that may not generate
PDFs 403."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request

from datamanagement import pdf_jobs
from datamanagement.models import PdfJob, PdfKind, PdfLanguage
from jobs.api import JOB_FIELDS, JobSerializer, JobViewSet, job_resource
from jobs.models import JobTrigger
from study.access import subjects_visible_to

CONTENT_TYPES = {".pdf": "application/pdf", ".zip": "application/zip"}


class PdfJobSerializer(JobSerializer):
    subject = serializers.CharField(source="subject.subject_id", read_only=True, default=None)

    class Meta:
        model = PdfJob
        fields = [
            *("id", "study", "kind", "subject", "site_ids", "language"),
            *JOB_FIELDS,
            *("file_name", "sha256", "size_bytes", "pages", "documents"),
        ]
        read_only_fields = fields


class PdfRequestSerializer(serializers.Serializer[PdfJob]):
    kind = serializers.ChoiceField(choices=PdfKind.values)
    language = serializers.ChoiceField(choices=PdfLanguage.values, default=PdfLanguage.ENGLISH)
    subject = serializers.IntegerField(required=False, help_text="The subject's id, for a casebook.")
    study = serializers.CharField(
        max_length=40, required=False, help_text="Study code; may be left out when you belong to one study."
    )


@job_resource(
    listed="PDF documents you may read (casebooks, study archives, blank and annotated CRF)",
    one="One document: status, progress (0-100), file name, pages, SHA-256",
    start="Request a document (queued through the outbox; poll it for progress)",
    request=PdfRequestSerializer,
    answer=PdfJobSerializer,
)
class PdfJobViewSet(JobViewSet):
    serializer_class = PdfJobSerializer
    request_serializer_class = PdfRequestSerializer

    visible = staticmethod(pdf_jobs.jobs_visible_to)
    access_job = staticmethod(pdf_jobs.access_job)
    may_list = staticmethod(pdf_jobs.may_generate)
    may_request = staticmethod(pdf_jobs.may_generate)

    def request_job(self, data: dict[str, Any]) -> PdfJob:
        subject = None
        if data.get("subject") is not None:
            subject = (
                subjects_visible_to(self.request.user).select_related("site__study").filter(pk=data["subject"]).first()
            )
            if subject is None:
                raise ValidationError({"subject": ["No such subject among yours."]})
            study = subject.site.study
        else:
            study = self.study_from(data.get("study"))
        return pdf_jobs.request_pdf(
            actor=self.request.user,  # type: ignore[arg-type]
            study=study,
            kind=data["kind"],
            language=data["language"],
            subject=subject,
            trigger=JobTrigger.API,
        )

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
