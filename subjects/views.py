from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crf.registry import crf_models
from study import access
from study.roles import Action
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
            "instances": list(model._default_manager.filter(subject=subject).order_by("pk")),
        }
        for code, model in sorted(crf_models().items())
    ]
    context = {
        "subject": subject,
        "forms": forms,
        "can_edit": access.can(request.user, Action.EDIT_CRF, site=subject.site),
        "can_view_history": access.can(request.user, Action.VIEW_HISTORY, site=subject.site),
    }
    return render(request, "subjects/subject_detail.html", context)
