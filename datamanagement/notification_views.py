"""The notifications list (safety alerts and data-management items in one list, read/unread)
and the user's notification settings (issue 31 item 1)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from datamanagement import notifications as service
from datamanagement.models import NoticeDelivery, NoticeKind


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """GET: the list, filtered by kind and unread; POST `read=<key>` marks one item read,
    `all=1` every item."""
    kind = request.GET.get("kind", "")
    if kind not in {key for key, _label in service.kind_filters()}:
        kind = ""
    unread_only = request.GET.get("unread") == "1"
    if request.method == "POST":
        if request.POST.get("all"):
            service.mark_read(user=request.user, everything=True)  # type: ignore[arg-type]
        else:
            service.mark_read(user=request.user, keys=request.POST.getlist("read"))  # type: ignore[arg-type]
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = ""
        return redirect(back or "datamanagement:notifications")
    items = service.notifications_of(request.user, kind=kind, unread_only=unread_only)  # type: ignore[arg-type]
    return render(
        request,
        "datamanagement/notifications.html",
        {"items": items, "kinds": service.kind_filters(), "kind": kind, "unread_only": unread_only},
    )


@login_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    """Per kind: at once, daily digest or none (digest-only kinds: digest or none)."""
    user = request.user
    chosen = service.preferences_of(user)  # type: ignore[arg-type]
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        choices = {kind.value: request.POST.get(kind.value, "") for kind in NoticeKind}
        try:
            service.set_preferences(user=user, choices=choices)  # type: ignore[arg-type]
        except ValidationError as exc:
            errors = exc.message_dict
            chosen = {**chosen, **choices}
        else:
            messages.success(request, _("Notification settings saved."))
            return redirect("datamanagement:notification_settings")
    rows = [
        {
            "kind": kind.value,
            "label": kind.label,
            "chosen": chosen[kind.value],
            "offered": service.choices_for(kind.value),
            "errors": errors.get(kind.value, []),
        }
        for kind in NoticeKind
    ]
    return render(
        request,
        "datamanagement/notification_settings.html",
        {"rows": rows, "deliveries": NoticeDelivery.choices},
        status=400 if errors else 200,
    )
