"""Pages of the safety forms beyond the generic form page (crf.views.form_entry): the CTCAE term
search behind the AE picker, the live grade partials, and the episode pages with grade in
source and adjudication (CLINICAL_SPEC §1.3; DESIGN §4a). Thin: selector → form → service."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from adverse_events.derive import derive_crs_assessment, derive_icans_assessment
from adverse_events.forms import AdjudicationForm, SourceGradeForm
from adverse_events.models import (
    AdverseEvent,
    CrsAssessment,
    CrsEpisode,
    GvhdStaging,
    IcahtDerivation,
    IcansAssessment,
    IcansEpisode,
)
from adverse_events.selectors import search_ctcae_terms
from adverse_events.services import ae_crs_icans as services
from adverse_events.toxicity_derive import derive_gvhd_staging
from crf.forms import form_class_for
from crf.models import ACTIVE_QUERY_STATUSES, Query
from study import access
from study.access import access_subject
from study.form_errors import apply_service_errors
from study.language import ctcae_term_label, soc_label
from study.roles import Action

EPISODE_MODELS: dict[str, type[CrsEpisode] | type[IcansEpisode]] = {"crs": CrsEpisode, "icans": IcansEpisode}


@login_required
@require_GET
def ctcae_terms(request: HttpRequest) -> JsonResponse:
    """CTCAE v5.0 terms matching part of the term, the SOC, or the MedDRA code (CLINICAL_SPEC §3)."""
    if not access.sites_where(request.user, Action.VIEW_CRF).exists():  # type: ignore[arg-type]
        raise Http404
    terms = search_ctcae_terms(request.GET.get("q", "")[:100])
    return JsonResponse(
        {
            "terms": [
                {
                    "term": t.name,
                    "soc": t.soc,
                    # In the reader's language (the project's working translation; issue 25).
                    "label": ctcae_term_label(t.name),
                    "soc_label": soc_label(t.soc),
                    "meddra_code": t.meddra_code,
                    "grades": list(t.grades),
                    "verbatim_required": t.requires_verbatim,
                }
                for t in terms
            ]
        }
    )


def _live(
    request: HttpRequest, subject_pk: int, model: type[CrsAssessment] | type[IcansAssessment] | type[GvhdStaging]
) -> HttpResponse:
    subject = access_subject(request.user, subject_pk, Action.EDIT_CRF)
    form_pk = request.GET.get("form", "")
    instance = None
    if form_pk.isdigit():
        instance = model._default_manager.filter(pk=int(form_pk), subject=subject).first()
    if instance is None:
        instance = model(subject=subject)
    kind = {CrsAssessment: "crs", IcansAssessment: "icans", GvhdStaging: "gvhd"}[model]
    context: dict[str, Any] = {"kind": kind, "subject": subject}
    with timezone.override(subject.site.time_zone):
        form = form_class_for(model)(request.POST, instance=instance)
        if form.is_valid():
            edited = form.save(commit=False)
            try:
                derive = {
                    "crs": derive_crs_assessment,
                    "icans": derive_icans_assessment,
                    "gvhd": derive_gvhd_staging,
                }[kind]
                context["result"] = derive(edited)  # type: ignore[operator]
                if kind == "gvhd":
                    context["result"]["overall_grade_roman"] = ("0", "I", "II", "III", "IV")[
                        context["result"]["overall_grade"]
                    ]
            except ValidationError as exc:
                context["problems"] = exc.messages
        else:
            context["problems"] = [
                f"{form.fields[name].label if name in form.fields else ''}: {' '.join(errs)}".lstrip(": ")
                for name, errs in form.errors.items()
            ]
    return render(request, "adverse_events/_live_grade.html", context)


@login_required
@require_POST
def crs_live_grade(request: HttpRequest, subject_pk: int) -> HttpResponse:
    """The ASTCT CRS grade of what is typed, computed by the derivation the save uses (§1.1–1.3)."""
    return _live(request, subject_pk, CrsAssessment)


@login_required
@require_POST
def icans_live_grade(request: HttpRequest, subject_pk: int) -> HttpResponse:
    """The ASTCT ICANS grade of what is typed (§2), or "not evaluable"."""
    return _live(request, subject_pk, IcansAssessment)


@login_required
@require_POST
def gvhd_live_grade(request: HttpRequest, subject_pk: int) -> HttpResponse:
    """The MAGIC organ stages and overall grade of what is typed (CLINICAL_SPEC §4.3), computed by
    the derivation the save uses."""
    return _live(request, subject_pk, GvhdStaging)


@login_required
def icaht_page(request: HttpRequest, subject_pk: int) -> HttpResponse:
    """The subject's ICAHT (CLINICAL_SPEC §4.1): early and late grades with the ANC values they
    were derived from, the criteria, and when they were last re-derived."""
    subject = access_subject(request.user, subject_pk, Action.VIEW_CRF)
    derivation = IcahtDerivation.objects.filter(subject=subject).first()
    inputs = derivation.inputs if derivation is not None else []
    run = (
        (derivation.early_run_first_day, derivation.early_run_last_day)
        if derivation is not None and derivation.early_run_first_day is not None
        else None
    )
    rows = [
        {
            **value,
            "in_run": run is not None and run[0] <= value["day"] <= run[1],
            "window": "early" if 0 <= value["day"] <= 30 else ("late" if value["day"] > 30 else "before"),
        }
        for value in inputs
    ]
    return render(
        request,
        "adverse_events/icaht.html",
        {"subject": subject, "derivation": derivation, "rows": rows},
    )


@login_required
def episode_list(request: HttpRequest, subject_pk: int) -> HttpResponse:
    subject = access_subject(request.user, subject_pk, Action.VIEW_CRF)
    context = {
        "subject": subject,
        "crs": list(CrsEpisode.objects.filter(subject=subject).order_by("number")),
        "icans": list(IcansEpisode.objects.filter(subject=subject).order_by("number")),
    }
    return render(request, "adverse_events/episode_list.html", context)


@login_required
def episode_detail(request: HttpRequest, subject_pk: int, kind: str, pk: int) -> HttpResponse:
    """One episode: its derived course, its AE, the grade in source and the adjudication."""
    model = EPISODE_MODELS.get(kind)
    if model is None:
        raise Http404
    subject = access_subject(request.user, subject_pk, Action.VIEW_CRF)
    episode = model.objects.filter(pk=pk, subject=subject).first()
    if episode is None:
        raise Http404
    can_edit = access.can(request.user, Action.EDIT_CRF, site=subject.site)
    can_adjudicate = access.can(request.user, Action.ADJUDICATE, site=subject.site)
    source_form = SourceGradeForm(initial={"version": episode.version, "source_grade": episode.source_grade})
    adjudication_form = AdjudicationForm(
        initial={"version": episode.version, "grade": episode.adjudicated_grade or episode.derived_grade}
    )
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "source":
                source_form = SourceGradeForm(request.POST)
                if not can_edit:
                    raise PermissionDenied
                if source_form.is_valid():
                    services.record_source_grade(
                        user=request.user,  # type: ignore[arg-type]
                        episode=episode,
                        source_grade=source_form.cleaned_data["source_grade"],
                        expected_version=source_form.cleaned_data["version"],
                        reason=source_form.cleaned_data["reason"],
                    )
                    messages.success(request, _("Saved."))
                    return redirect("adverse_events:episode", subject_pk=subject.pk, kind=kind, pk=episode.pk)
            elif action == "adjudicate":
                adjudication_form = AdjudicationForm(request.POST)
                if not can_adjudicate:
                    raise PermissionDenied
                if adjudication_form.is_valid():
                    services.adjudicate_episode(
                        user=request.user,  # type: ignore[arg-type]
                        episode=episode,
                        grade=adjudication_form.cleaned_data["grade"],
                        reason=adjudication_form.cleaned_data["reason"],
                        expected_version=adjudication_form.cleaned_data["version"],
                    )
                    messages.success(request, _("Saved."))
                    return redirect("adverse_events:episode", subject_pk=subject.pk, kind=kind, pk=episode.pk)
            else:
                raise Http404
        except ValidationError as exc:
            apply_service_errors(adjudication_form if action == "adjudicate" else source_form, exc)
    assessments_model = CrsAssessment if kind == "crs" else IcansAssessment
    assessments = assessments_model.objects.filter(
        subject=subject,
        entered_in_error=False,
        assessment_date__gte=episode.onset_date,
        assessment_date__lte=episode.resolved_date or episode.last_date,
    ).order_by("assessment_date", "assessment_time", "pk")
    context = {
        "subject": subject,
        "episode": episode,
        "kind": kind,
        "assessments": list(assessments),
        "assessment_code": assessments_model.crf_code,
        "adverse_event": AdverseEvent.objects.filter(**{f"{kind}_episode": episode}).first(),
        "queries": list(
            Query.objects.filter(
                subject=subject,
                content_type__model=model._meta.model_name,
                content_type__app_label="adverse_events",
                object_id=episode.pk,
                status__in=ACTIVE_QUERY_STATUSES,
            )
        ),
        "can_edit": can_edit and not episode.superseded,
        "can_adjudicate": can_adjudicate and not episode.superseded,
        "source_form": source_form,
        "adjudication_form": adjudication_form,
    }
    return render(request, "adverse_events/episode_detail.html", context)
