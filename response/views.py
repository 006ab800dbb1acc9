"""Response pages: the live derived response of a marrow assessment being typed (an htmx
partial) and the investigator's adjudication page (DESIGN §4a: investigators only)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crf.forms import form_class_for
from crf.services import StaleVersionError
from response import services
from response.derive import derive_response
from response.models import MarrowAssessment, ResponseCategory, boundary_display
from study import access
from study.access import access_subject
from study.form_errors import apply_service_errors
from study.protocol import NoProtocolSettings
from study.roles import Action


@login_required
@require_POST
def live_response(request: HttpRequest, subject_pk: int) -> HttpResponse:
    """The response the typed values would derive, nothing saved (CLINICAL_SPEC §5.1). Partial
    input shows what is still missing."""
    subject = access_subject(request.user, subject_pk, Action.EDIT_CRF)
    pk = request.POST.get("assessment_pk", "")
    instance = MarrowAssessment(subject=subject)
    if pk.isdigit():
        instance = MarrowAssessment.objects.filter(pk=int(pk), subject=subject).first() or instance
    form = form_class_for(MarrowAssessment)(request.POST, instance=instance)
    form.is_valid()
    needed = ("assessment_date", "marrow_blasts_pct", "peripheral_blasts_pct", "anc", "platelets")
    missing = [
        str(form.fields[name].label)
        for name in needed
        if name not in form.cleaned_data or form.cleaned_data[name] is None
    ]
    derived = None
    if not missing:
        candidate = form.instance
        for name in needed:
            setattr(candidate, name, form.cleaned_data[name])
        try:
            derived = derive_response(candidate)
        except NoProtocolSettings:
            derived = None
    boundary = boundary_display(derived["boundary"]) if derived else []
    context = {"derived": derived, "missing": missing, "boundary": boundary}
    return render(request, "response/_live_response.html", context)


class AdjudicationForm(forms.Form):
    response = forms.ChoiceField(label=gettext_lazy("Adjudicated response"), choices=ResponseCategory.choices)
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))
    opened_version = forms.IntegerField(widget=forms.HiddenInput)


@login_required
def adjudicate(request: HttpRequest, subject_pk: int, pk: int) -> HttpResponse:
    """Investigators adjudicate the response of one assessment; others get 403, other sites 404."""
    subject = access_subject(request.user, subject_pk, Action.VIEW_CRF)
    assessment = MarrowAssessment.objects.filter(pk=pk, subject=subject, entered_in_error=False).first()
    if assessment is None:
        raise Http404
    if not access.can(request.user, Action.ADJUDICATE, site=subject.site):
        raise PermissionDenied
    if request.method == "POST":
        form = AdjudicationForm(request.POST)
        if form.is_valid():
            try:
                services.adjudicate_response(
                    user=request.user,  # type: ignore[arg-type]
                    assessment=assessment,
                    response=form.cleaned_data["response"],
                    reason=form.cleaned_data["reason"],
                    expected_version=form.cleaned_data["opened_version"],
                )
            except StaleVersionError as exc:
                form.add_error(None, exc)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Response adjudicated."))
                return redirect("subjects:form_edit", subject_pk=subject.pk, code="MA", pk=assessment.pk)
    else:
        form = AdjudicationForm(
            initial={
                "response": assessment.adjudicated_response or assessment.response,
                "opened_version": assessment.version,
            }
        )
    context = {"subject": subject, "assessment": assessment, "form": form}
    return render(request, "response/adjudicate.html", context)
