"""Pages of DLT adjudication, the dose-level monitor, SAE clocks, safety notifications and the
sponsor safety contacts (CLINICAL_SPEC §3, §3.1; DESIGN §4a). Thin: selector → form → service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.core.validators import validate_email
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from adverse_events.dlt_support import supporting_values
from adverse_events.models import AdverseEvent, CandidateStatus, DltCandidate, SaeReport, SafetyAlert, SafetyContacts
from adverse_events.services import alerts as alert_services
from adverse_events.services import dlt as dlt_services
from study import access
from study.access import access_subject, subjects_visible_to
from study.form_errors import apply_service_errors
from study.models import Study
from study.roles import Action


class CandidateAdjudicationForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    # nothing pre-selected: the investigator chooses (issue 24 item 3)
    decision = forms.ChoiceField(
        label=gettext_lazy("decision"),
        choices=[("confirm", gettext_lazy("Confirm as DLT")), ("reject", gettext_lazy("Reject: not a DLT"))],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(label=gettext_lazy("reason"), max_length=500)


class SponsorContactsForm(forms.Form):
    emails = forms.CharField(
        label=gettext_lazy("sponsor safety e-mails"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("One address per line. They receive every SAE and severe-toxicity alert."),
    )

    def clean_emails(self) -> list[str]:
        emails = [line.strip() for line in self.cleaned_data["emails"].splitlines() if line.strip()]
        for email in emails:
            try:
                validate_email(email)
            except ValidationError as exc:
                raise ValidationError(_("%(email)s is not an e-mail address.") % {"email": email}) from exc
        return list(dict.fromkeys(emails))


def _safety_study(request: HttpRequest) -> Study:
    """The study whose safety data the user may view (VIEW_SAFETY at one of its sites)."""
    for study in access.studies_visible_to(request.user).order_by("pk"):
        if access.can_anywhere(request.user, Action.VIEW_SAFETY, study=study):
            return study
    if access.studies_visible_to(request.user).exists():
        raise PermissionDenied
    raise Http404


def visible_candidates(user: Any) -> Any:
    return (
        DltCandidate.objects.filter(subject__in=subjects_visible_to(user))
        .filter(subject__site__in=access.sites_where(user, Action.VIEW_SAFETY))
        .select_related("subject", "subject__site", "adjudicated_by")
        .order_by("subject__subject_id", "onset_day", "pk")
    )


#: Both candidate lists page at this many: those awaiting by subject, the adjudicated newest first.
ADJUDICATED_PER_PAGE = 50


@login_required
def dlt_monitor(request: HttpRequest) -> HttpResponse:
    """Per dose level: enrolled, infused, DLT-evaluable, to replace, awaiting adjudication,
    confirmed DLTs and the decision (pending beside it), computed live (§3.1). Viewing only
    reads: candidates are flagged when data change (the hooks of dlt_services) and, for those
    that appear with time alone, by the hourly `refresh_dlt_candidates` task."""
    study = _safety_study(request)
    levels, missing = dlt_services.dose_level_monitor_or_reason(study)
    if missing:
        messages.warning(request, missing)
    live = visible_candidates(request.user).filter(subject__site__study=study, withdrawn=False)
    adjudicated = Paginator(
        live.exclude(status=CandidateStatus.AWAITING).order_by("-adjudicated_at", "-pk"), ADJUDICATED_PER_PAGE
    ).get_page(request.GET.get("page"))
    awaiting = Paginator(
        live.filter(status=CandidateStatus.AWAITING).order_by("subject__subject_id", "onset_day", "pk"),
        ADJUDICATED_PER_PAGE,
    ).get_page(request.GET.get("awaiting_page"))
    return render(
        request,
        "adverse_events/dlt_monitor.html",
        {
            "study": study,
            "levels": levels,
            "recommended": next((row.code for row in levels if row.recommended), None),
            "awaiting": awaiting.object_list,
            "awaiting_page": awaiting,
            "adjudicated": adjudicated.object_list,
            "page": adjudicated,
        },
    )


@login_required
def dlt_candidate(request: HttpRequest, pk: int) -> HttpResponse:
    """One candidate: the finding and the investigator's confirm/reject with a reason."""
    candidate = (
        DltCandidate.objects.filter(subject__in=subjects_visible_to(request.user), pk=pk)
        .select_related("subject", "subject__site", "adjudicated_by")
        .first()
    )
    if candidate is None:
        raise Http404
    # §4a "view safety dashboards and DLT monitor", as the API (issue 21: a study admin sees none).
    access.require(request.user, Action.VIEW_SAFETY, site=candidate.subject.site)
    can_adjudicate = access.can(request.user, Action.ADJUDICATE, site=candidate.subject.site)
    form = CandidateAdjudicationForm(initial={"version": candidate.version})
    if request.method == "POST":
        if not can_adjudicate:
            raise PermissionDenied
        form = CandidateAdjudicationForm(request.POST)
        if form.is_valid():
            try:
                dlt_services.adjudicate_candidate(
                    user=request.user,  # type: ignore[arg-type]
                    candidate=candidate,
                    confirm=form.cleaned_data["decision"] == "confirm",
                    reason=form.cleaned_data["reason"],
                    expected_version=form.cleaned_data["version"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("adverse_events:dlt_candidate", pk=candidate.pk)
    return render(
        request,
        "adverse_events/dlt_candidate.html",
        {
            "candidate": candidate,
            "form": form,
            "can_adjudicate": can_adjudicate,
            "supporting": supporting_values(candidate),
        },
    )


@login_required
def sae_detail(request: HttpRequest, subject_pk: int, pk: int) -> HttpResponse:
    """An SAE with its 24-hour reporting clock and the delivery of its alert (§3)."""
    subject = access_subject(request.user, subject_pk, Action.VIEW_CRF)
    ae = AdverseEvent.objects.filter(pk=pk, subject=subject, serious=True).first()
    report = SaeReport.objects.filter(adverse_event=ae).select_related("reported_by").first() if ae else None
    if ae is None or report is None:
        raise Http404
    can_sign = access.can(request.user, Action.SIGN, site=subject.site)
    if request.method == "POST":
        if not can_sign:
            raise PermissionDenied
        try:
            version = int(request.POST.get("version", ""))
        except ValueError:
            version = -1
        try:
            alert_services.mark_sae_reported(user=request.user, report=report, expected_version=version)  # type: ignore[arg-type]
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Marked reported to the sponsor."))
        return redirect("adverse_events:sae", subject_pk=subject.pk, pk=ae.pk)
    now = timezone.now()
    remaining = report.due_at - now
    alerts = SafetyAlert.objects.filter(source_key=f"sae:{ae.pk}").prefetch_related("deliveries")
    return render(
        request,
        "adverse_events/sae_detail.html",
        {
            "subject": subject,
            "ae": ae,
            "report": report,
            "can_sign": can_sign,
            "overdue": report.reported_at is None and remaining.total_seconds() < 0,
            "remaining_hours": int(abs(remaining.total_seconds()) // 3600),
            "remaining_minutes": int(abs(remaining.total_seconds()) % 3600 // 60),
            "reported_in_time": report.reported_at is not None and report.reported_at <= report.due_at,
            "alerts": alerts,
        },
    )


@login_required
def alert_deliveries(request: HttpRequest) -> HttpResponse:
    """Every alert at the user's sites with each delivery attempt (status, attempts, last error,
    next retry): failures and retries are visible."""
    _safety_study(request)
    alerts = (
        SafetyAlert.objects.filter(alert_services.alerts_visible_filter(request.user))
        .select_related("subject")
        .prefetch_related("deliveries")[:200]
    )
    return render(request, "adverse_events/alert_list.html", {"alerts": alerts})


@login_required
def sponsor_contacts(request: HttpRequest) -> HttpResponse:
    """Study setting: the sponsor safety contacts (study administrator)."""
    study = access.administered_studies(request.user).order_by("pk").first()
    if study is None:
        if access.studies_visible_to(request.user).exists():
            raise PermissionDenied
        raise Http404
    contacts, _created = SafetyContacts.objects.get_or_create(study=study)
    form = SponsorContactsForm(initial={"emails": "\n".join(contacts.sponsor_emails)})
    if request.method == "POST":
        form = SponsorContactsForm(request.POST)
        if form.is_valid():
            contacts.sponsor_emails = form.cleaned_data["emails"]
            contacts.save()
            messages.success(request, _("Saved."))
            return redirect("adverse_events:sponsor_contacts")
    return render(request, "adverse_events/sponsor_contacts.html", {"form": form, "study": study})
