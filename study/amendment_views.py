"""The protocol versions page (issue 27 item 2): the study admin records a protocol version
(amendment) and groups the settings versions that came in with it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from study import access, amendments
from study.amendment_forms import AttachForm, ProtocolVersionForm
from study.form_errors import apply_service_errors
from study.models import ProtocolVersion


@login_required
def protocol_versions(request: HttpRequest) -> HttpResponse:
    study = access.administered_studies(request.user).order_by("code").first()
    if study is None:
        raise PermissionDenied
    versions = list(
        ProtocolVersion.objects.filter(study=study).select_related("created_by").order_by("-approval_date", "-pk")
    )
    for version in versions:
        version.items = amendments.settings_of(version)  # type: ignore[attr-defined]
    free = amendments.unattached(study)
    posted = request.POST if request.method == "POST" else None
    which = request.POST.get("action") if posted else None
    form = ProtocolVersionForm(posted if which == "record" else None, items=free)
    attach_form = AttachForm(posted if which == "attach" else None, items=free, versions=versions)
    if which == "record" and form.is_valid():
        data = form.cleaned_data
        try:
            row = amendments.record_amendment(
                actor=request.user,  # type: ignore[arg-type]
                study=study,
                number=data["number"],
                protocol_date=data["protocol_date"],
                approval_date=data["approval_date"],
                summary=data["summary"],
                reason=data["reason"],
                attach=data["attach"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Protocol version %(number)s recorded.") % {"number": row.number})
            return redirect("protocol_versions")
    if which == "attach" and attach_form.is_valid():
        version = next(v for v in versions if v.pk == attach_form.cleaned_data["version"])
        try:
            amendments.attach_settings(
                actor=request.user,  # type: ignore[arg-type]
                version=version,
                keys=attach_form.cleaned_data["attach"],
                reason=attach_form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            apply_service_errors(attach_form, exc)
        else:
            messages.success(
                request, _("Settings versions grouped under protocol version %(number)s.") % {"number": version.number}
            )
            return redirect("protocol_versions")
    today = timezone.localdate()
    context = {
        "study": study,
        "versions": versions,
        "in_force": amendments.version_in_force(study, today),
        "today": today,
        "free": free,
        "form": form,
        "attach_form": attach_form,
    }
    return render(request, "study/protocol_versions.html", context)
