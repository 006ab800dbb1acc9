"""PDF pages (issue 26 item 2): the data-management page listing the documents one may read
with a form to request the study archive, the blank or the annotated CRF; a subject's casebook
requested from the subject's casebook page; a document's page with its progress, SHA-256 and
downloads; the audited download. Thin: gate → form → one service → redirect."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from datamanagement import pdf_jobs
from datamanagement.api_pdfs import file_response
from datamanagement.forms import CasebookPdfForm, PdfRequestForm, reader_pdf_language
from datamanagement.models import PdfDownload, PdfKind
from jobs.models import JobStatus, JobTrigger
from study import access
from study.access import access_subject
from study.form_errors import apply_service_errors
from study.roles import Action


@login_required
def pdf_list(request: HttpRequest) -> HttpResponse:
    studies = list(
        access.studies_visible_to(request.user)
        .filter(sites__in=access.sites_where(request.user, Action.CASEBOOK_PDF))
        .distinct()
        .order_by("code")
    )
    if not studies:
        raise PermissionDenied
    study = next((s for s in studies if s.code == request.GET.get("study")), studies[0])
    form = PdfRequestForm(request.POST or None, initial={"language": reader_pdf_language()})
    if request.method == "POST" and form.is_valid():
        try:
            job = pdf_jobs.request_pdf(
                actor=request.user,  # type: ignore[arg-type]
                study=study,
                kind=form.cleaned_data["kind"],
                language=form.cleaned_data["language"],
                trigger=JobTrigger.PAGE,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Requested: the document is built as soon as a worker is free."))
            return redirect("datamanagement:pdf", pk=job.pk)
    jobs = pdf_jobs.jobs_visible_to(request.user, study=study)[:100]  # type: ignore[arg-type]
    context = {"study": study, "studies": studies, "jobs": jobs, "form": form, "can_request": True}
    return render(request, "datamanagement/pdf_list.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def casebook_pdf(request: HttpRequest, subject_pk: int) -> HttpResponse:
    """Request the casebook of one subject (from the subject's casebook page)."""
    subject = access_subject(request.user, subject_pk, Action.CASEBOOK_PDF)
    form = CasebookPdfForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("subjects:casebook", pk=subject.pk)
    job = pdf_jobs.request_pdf(
        actor=request.user,  # type: ignore[arg-type]
        study=subject.site.study,
        kind=PdfKind.CASEBOOK,
        subject=subject,
        language=form.cleaned_data["language"],
    )
    messages.success(request, _("Requested: the document is built as soon as a worker is free."))
    return redirect("datamanagement:pdf", pk=job.pk)


@login_required
def pdf_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = pdf_jobs.access_job(request.user, pk)  # type: ignore[arg-type]
    context = {
        "job": job,
        "live": job.status in (JobStatus.QUEUED, JobStatus.RUNNING),
        "downloads": PdfDownload.objects.filter(job=job).select_related("user")[:50],
    }
    return render(request, "datamanagement/pdf_detail.html", context)


@login_required
def pdf_download(request: HttpRequest, pk: int) -> HttpResponse:
    job = pdf_jobs.access_job(request.user, pk)  # type: ignore[arg-type]
    if not job.has_file:
        raise Http404
    return file_response(job, request.user, JobTrigger.PAGE)
