"""Study build pages (issue 27 item 1), study admin only (DESIGN §4a; every other role 403):
sites. Thin: the administered study → a form → one service in study.build → redirect."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from study import access, build
from study.build_forms import SiteForm
from study.models import Site, Study
from study.names import is_live


def administered_study(request: HttpRequest) -> Study:
    """The study the user administers (the first by code), else 403."""
    study = access.administered_studies(request.user).order_by("code").first()
    if study is None:
        raise PermissionDenied
    return study


def add_errors(form: Form, exc: ValidationError) -> None:
    """A service's refusal onto the form: each field's message beside the field, the rest on top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, errors in exc.message_dict.items():
        form.add_error(key if key in form.fields else None, errors)


@require_safe
@login_required
def site_list(request: HttpRequest) -> HttpResponse:
    study = administered_study(request)
    sites = Site.objects.filter(study=study).annotate(n_subjects=Count("subjects")).order_by("code")
    countries = build.COUNTRIES
    rows = [(site, countries.get(site.country, "—")) for site in sites]
    return render(request, "study/build/site_list.html", {"study": study, "rows": rows})


@login_required
def site_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    study = administered_study(request)
    site = None
    if pk is not None:
        site = Site.objects.filter(pk=pk, study=study).first()
        if site is None:
            raise Http404
    live = is_live(study)
    form = SiteForm(request.POST or None, site=site, live=live)
    if request.method == "POST" and form.is_valid():
        try:
            saved = build.save_site(actor=request.user, study=study, site=site, **form.cleaned_data)  # type: ignore[arg-type]
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Site %(code)s saved.") % {"code": saved.code})
            return redirect("study_build:sites")
    has_subjects = site is not None and build.site_has_subjects(site)
    context = {"study": study, "site": site, "form": form, "live": live, "has_subjects": has_subjects}
    return render(request, "study/build/site_form.html", context)
