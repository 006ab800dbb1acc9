"""Pages: sign-in, language choice, and user administration (study admin). The study home is
mytasks.views.study_home: it reads the apps above study (query counts)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from study import access, selectors, services
from study.form_errors import apply_service_errors
from study.forms import GrantRoleForm, InviteUserForm, LanguageForm, ReasonForm
from study.models import Membership
from study.roles import Action, Role
from study.sessions import stamp_login


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        response = super().form_valid(form)
        stamp_login(self.request)
        return response

    def get_default_redirect_url(self) -> str:
        """A research coordinator starts the day on My tasks (issue 31 item 2); a `next` still wins."""
        user = self.request.user
        if access.active_memberships(user).filter(role=Role.COORDINATOR).exists():
            return reverse("mytasks:home")
        return super().get_default_redirect_url()


@require_POST
def choose_language(request: HttpRequest) -> HttpResponse:
    form = LanguageForm(request.POST)
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    response = HttpResponseRedirect(next_url)
    if form.is_valid():
        language = form.cleaned_data["language"]
        if request.user.is_authenticated:
            services.set_language(user=request.user, language=language)  # type: ignore[arg-type]
        response.set_cookie("django_language", language, samesite="Lax", max_age=365 * 24 * 3600)
    return response


@login_required
def session_status(request: HttpRequest) -> HttpResponse:
    """Seconds left before the idle and absolute limits; polling it is not activity (another tab
    may have kept the session alive, or the 12-hour limit may be near)."""
    from django.http import JsonResponse

    return JsonResponse(getattr(request, "session_remaining", {}))


@require_POST
@login_required
def keepalive(request: HttpRequest) -> HttpResponse:
    """Touching the session is the whole job: the middleware renews its idle timer."""
    return HttpResponse(status=204)


def _admin_sites(request: HttpRequest):  # type: ignore[no-untyped-def]
    sites = access.sites_where(request.user, Action.ADMINISTER)
    if not sites.exists():
        raise PermissionDenied
    # A study admin administers every site of the studies they administer.
    from study.models import Site

    return Site.objects.filter(study__in=access.administered_studies(request.user)).order_by("code")


def _administered_user(request: HttpRequest, pk: int):  # type: ignore[no-untyped-def]
    _admin_sites(request)
    user = selectors.users_administered_by(request.user).filter(pk=pk).first()  # type: ignore[arg-type]
    if user is None:
        raise Http404
    return user


@require_safe
@login_required
def user_list(request: HttpRequest) -> HttpResponse:
    _admin_sites(request)
    users = list(selectors.users_administered_by(request.user))  # type: ignore[arg-type]
    locked = selectors.locked_usernames([u.username for u in users])
    return render(request, "study/user_list.html", {"users": users, "locked": locked})


@login_required
def invite_user(request: HttpRequest) -> HttpResponse:
    sites = _admin_sites(request)
    form = InviteUserForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invite_user(
                actor=request.user,  # type: ignore[arg-type]
                base_url=request.build_absolute_uri("/"),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": user.email})
            return redirect("user_detail", pk=user.pk)
    return render(request, "study/user_invite.html", {"form": form})


@require_safe
@login_required
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _administered_user(request, pk)
    sites = _admin_sites(request)
    context = {
        "person": user,
        "memberships": user.memberships.filter(site__in=sites).select_related("site", "granted_by", "ended_by"),
        "events": user.account_events.select_related("actor")[:50],
        "grant_form": GrantRoleForm(sites=sites),
        "reason_form": ReasonForm(),
        "locked": user.username in selectors.locked_usernames([user.username]),
        "api_tokens": services.live_api_tokens(user),
    }
    return render(request, "study/user_detail.html", context)


@require_POST
@login_required
def grant_role(request: HttpRequest, pk: int) -> HttpResponse:
    user = _administered_user(request, pk)
    form = GrantRoleForm(request.POST, sites=_admin_sites(request))
    if form.is_valid():
        try:
            services.grant_role(actor=request.user, user=user, **form.cleaned_data)  # type: ignore[arg-type]
            messages.success(request, _("Role granted."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, _("Choose a site and a role."))
    return redirect("user_detail", pk=user.pk)


@require_POST
@login_required
def end_role(request: HttpRequest, pk: int) -> HttpResponse:
    sites = _admin_sites(request)
    membership = Membership.objects.filter(pk=pk, site__in=sites).select_related("site", "user").first()
    if membership is None:
        raise Http404
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.end_role(actor=request.user, membership=membership, reason=form.cleaned_data["reason"])  # type: ignore[arg-type]
            messages.success(request, _("Role ended."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, _("Give a reason for ending this role."))
    return redirect("user_detail", pk=membership.user_id)


@require_POST
@login_required
def set_active(request: HttpRequest, pk: int) -> HttpResponse:
    user = _administered_user(request, pk)
    form = ReasonForm(request.POST)
    active = request.POST.get("active") == "1"
    if form.is_valid():
        try:
            services.set_user_active(actor=request.user, user=user, active=active, reason=form.cleaned_data["reason"])  # type: ignore[arg-type]
            messages.success(request, _("Account reactivated.") if active else _("Account deactivated."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, _("Give a reason."))
    return redirect("user_detail", pk=user.pk)


@require_POST
@login_required
def unlock(request: HttpRequest, pk: int) -> HttpResponse:
    user = _administered_user(request, pk)
    services.unlock_user(actor=request.user, user=user)  # type: ignore[arg-type]
    messages.success(request, _("Lockout lifted for %(username)s.") % {"username": user.username})
    return redirect("user_detail", pk=user.pk)


@login_required
def protocol_settings(request: HttpRequest) -> HttpResponse:
    """Study admin: the versions of the protocol settings and a form for the next one."""
    from study.models import ProtocolSettings
    from study.protocol import publish_settings
    from study.settings_forms import ProtocolSettingsForm, settings_differences

    study = access.administered_studies(request.user).order_by("code").first()
    if study is None:
        raise PermissionDenied
    versions = list(
        ProtocolSettings.objects.filter(study=study)
        .select_related("created_by")
        .annotate(
            n_rederived=Count("rederivations", filter=Q(rederivations__outcome="rederived")),
            n_skipped=Count("rederivations", filter=Q(rederivations__outcome="skipped_locked")),
        )
        .order_by("-version")
    )
    current = versions[0].choices() if versions else None
    if current is None:
        from clinical.protocol import ProtocolChoices

        current = ProtocolChoices()
    form = ProtocolSettingsForm(request.POST or None, current=current)
    changes = selectors.listed_changes([v.pk for v in versions])
    for older, newer in zip([*versions[1:], None] if versions else [], versions, strict=True):
        newer.differences = settings_differences(older.values if older else {}, newer.values)  # type: ignore[attr-defined]
        newer.listed = changes.get(newer.pk, [])  # type: ignore[attr-defined]
    today = timezone.localdate()
    in_force = next((v for v in versions if v.effective_from <= today), versions[-1] if versions else None)
    if request.method == "POST" and form.is_valid():
        try:
            row = publish_settings(
                actor=request.user,  # type: ignore[arg-type]
                study=study,
                effective_from=form.cleaned_data["effective_from"],
                values=form.values(),
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Version %(version)s saved. Forms dated on or after %(date)s are being re-derived.")
                % {"version": row.version, "date": row.effective_from},
            )
            return redirect("protocol_settings")
    context = {
        "study": study,
        "versions": versions,
        "form": form,
        "in_force": in_force,
        "in_force_values": settings_differences({}, in_force.values) if in_force else [],
        "today": today,
    }
    return render(request, "study/protocol_settings.html", context)


# --- API tokens ------------------------------------------------------------------------------


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's own API tokens: create one (its value shown once, on this response only),
    list the live ones (key prefix, created, expires) and revoke them (DESIGN §6)."""
    created = None
    if request.method == "POST":
        try:
            token, plain = services.create_api_token(user=request.user)  # type: ignore[arg-type]
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            created = {"token": plain, "expiry": token.expiry}
    context = {"tokens": services.live_api_tokens(request.user), "created": created}  # type: ignore[arg-type]
    response = render(request, "study/api_tokens.html", context)
    response["Cache-Control"] = "no-store"  # the token is shown once: never from a cache
    return response


@require_POST
@login_required
def revoke_api_token(request: HttpRequest, token_key: str) -> HttpResponse:
    try:
        services.revoke_api_token(user=request.user, token_key=token_key)  # type: ignore[arg-type]
    except ValidationError:
        raise Http404 from None
    messages.success(request, _("API token revoked."))
    return redirect("api_tokens")


@require_POST
@login_required
def revoke_user_api_tokens(request: HttpRequest, pk: int) -> HttpResponse:
    user = _administered_user(request, pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        count = services.revoke_user_api_tokens(
            actor=request.user,  # type: ignore[arg-type]
            user=user,
            reason=form.cleaned_data["reason"],
        )
        messages.success(request, _("%(count)s API tokens revoked.") % {"count": count})
    else:
        messages.error(request, _("Give a reason."))
    return redirect("user_detail", pk=user.pk)


# --- names in both languages (issue 25 item 4) ----------------------------------------------------


@login_required
def names(request: HttpRequest) -> HttpResponse:
    """Study admin: the English and Chinese names of the study, its sites, dose levels and
    schedule visits (study.names), with their recent changes from the audit trail."""
    from study import names as study_names
    from study.forms import NamesForm

    study = access.administered_studies(request.user).order_by("code").first()
    if study is None:
        raise PermissionDenied
    live = study_names.is_live(study)
    rows = study_names.name_rows(study)
    form = NamesForm(request.POST or None, rows=rows, live=live)
    if request.method == "POST" and form.is_valid():
        try:
            changed = study_names.save_names(
                actor=request.user,  # type: ignore[arg-type]
                study=study,
                names=form.names(),
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            if changed:
                messages.success(
                    request,
                    _("Names saved: %(codes)s.") % {"codes": ", ".join(row.code for row in changed)},
                )
            else:
                messages.info(request, _("No name changed."))
            return redirect("study_names")
    context = {"study": study, "form": form, "live": live, "changes": selectors.name_changes(study)}
    return render(request, "study/names.html", context)
