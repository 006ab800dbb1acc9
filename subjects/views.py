from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from crf.registry import crf_models
from study import access
from study.roles import Action
from subjects import services
from subjects.forms import IdentityRecordForm
from subjects.models import IdentityRecord
from subjects.selectors import access_subject, subjects_visible_to


@login_required
def subject_list(request: HttpRequest) -> HttpResponse:
    sites = access.sites_where(request.user, Action.VIEW_CRF)
    if not sites.exists():
        raise PermissionDenied
    subjects = list(subjects_visible_to(request.user).filter(site__in=sites))
    return render(request, "subjects/subject_list.html", {"subjects": subjects})


@login_required
def subject_detail(request: HttpRequest, pk: int) -> HttpResponse:
    subject = access_subject(request.user, pk, Action.VIEW_CRF)
    forms = [
        {
            "code": code,
            "title": model.crf_title,
            "lifecycle": getattr(model, "lifecycle_form", False),
            "instances": list(model._default_manager.filter(subject=subject).order_by("pk")),
        }
        for code, model in sorted(crf_models().items())
    ]
    context = {
        "subject": subject,
        "forms": forms,
        "can_edit": access.can(request.user, Action.EDIT_CRF, site=subject.site),
        "can_view_history": access.can(request.user, Action.VIEW_HISTORY, site=subject.site),
        "can_view_identity": access.can(request.user, Action.VIEW_IDENTITY, site=subject.site),
    }
    return render(request, "subjects/subject_detail.html", context)


@login_required
def identity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The identity record: only roles that may view it (DESIGN §4a); 404 outside the gate."""
    subject = access_subject(request.user, pk, Action.VIEW_IDENTITY)
    context = {
        "subject": subject,
        "identity": IdentityRecord.objects.filter(subject=subject).first(),
        "can_edit": access.can(request.user, Action.EDIT_CRF, site=subject.site),
        "can_view_history": access.can(request.user, Action.VIEW_HISTORY, site=subject.site),
    }
    return render(request, "subjects/identity_detail.html", context)


@login_required
def identity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    subject = access_subject(request.user, pk, Action.VIEW_IDENTITY)
    access.require(request.user, Action.EDIT_CRF, site=subject.site)
    record = IdentityRecord.objects.filter(subject=subject).first()
    form = IdentityRecordForm(request.POST or None, instance=record or IdentityRecord(subject=subject))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.save_identity_record(
                user=request.user,  # type: ignore[arg-type]
                subject=subject,
                full_name=data["full_name"],
                date_of_birth=data["date_of_birth"],
                hospital_number=data["hospital_number"],
                phone=data["phone"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("subjects:identity", pk=subject.pk)
    return render(request, "subjects/identity_edit.html", {"subject": subject, "form": form, "record": record})


def add_errors(form, exc: ValidationError) -> None:  # type: ignore[no-untyped-def]
    """A service's refusal on the page, beside the field it names where the form has one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)
