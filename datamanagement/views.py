"""Pages of issue 26: signing (with re-authentication), the signature list with the
investigator's "to re-sign" list, and the lock checklist. Thin: gate → form → one service."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from crf import locks
from crf.models import CrfInstance, DataLock
from crf.registry import crf_model
from datamanagement import canonical, checklist, signatures
from datamanagement.forms import ChecklistLockForm, SignForm
from datamanagement.models import SignatureScope
from study import access
from study.access import access_subject
from study.form_errors import apply_service_errors
from study.models import Study
from study.roles import Action
from study.subject_models import visit_model


def _target(request: HttpRequest) -> tuple[Any, str, Any, CrfInstance | None]:
    params = request.GET if request.method == "GET" else request.POST
    subject_pk = params.get("subject", "")
    if not subject_pk.isdigit():
        raise Http404
    subject = access_subject(request.user, subject_pk, Action.VIEW_CRF)
    scope = params.get("scope", "")
    visit = form = None
    if scope == SignatureScope.VISIT:
        visit = (
            visit_model()
            .objects.select_related("definition")
            .filter(pk=params.get("visit") or 0, subject=subject)
            .first()
        )
        if visit is None or not str(params.get("visit", "")).isdigit():
            raise Http404
    elif scope == SignatureScope.FORM:
        model = crf_model(params.get("code", ""))
        pk = params.get("pk", "")
        if model is None or not pk.isdigit():
            raise Http404
        form = model._default_manager.filter(pk=int(pk), subject=subject).first()
        if form is None:
            raise Http404
    elif scope != SignatureScope.CASEBOOK:
        raise Http404
    return subject, scope, visit, form


def _back(subject: Any, visit: Any, form: CrfInstance | None) -> str:
    if form is not None:
        return reverse("subjects:form_edit", args=[subject.pk, form.crf_code, form.pk])
    if visit is not None:
        return reverse("subjects:visit", args=[subject.pk, visit.pk])
    return reverse("subjects:casebook", args=[subject.pk])


@login_required
def sign(request: HttpRequest) -> HttpResponse:
    """§11.200(a)(1): user ID and password the first time in a session, the password later."""
    subject, scope, visit, form = _target(request)
    access.require(request.user, Action.SIGN, site=subject.site)  # type: ignore[arg-type]
    user: Any = request.user
    needs_id = not signatures.identified_in_session(request, user)
    page = SignForm(request.POST or None, needs_id=needs_id, initial={"username": ""})
    if request.method == "POST" and page.is_valid():
        try:
            signatures.sign(
                request=request,
                user=user,
                subject=subject,
                scope=scope,
                meaning=page.cleaned_data["meaning"],
                username=page.cleaned_data.get("username", ""),
                password=page.cleaned_data["password"],
                visit=visit,
                form=form,
            )
        except ValidationError as exc:
            apply_service_errors(page, exc)
        else:
            messages.success(request, _("Signed."))
            return redirect(_back(subject, visit, form))
    covered = canonical.covered_forms(scope=scope, subject=subject, visit=visit, form=form)
    context = {
        "subject": subject,
        "scope": scope,
        "scope_label": SignatureScope(scope).label,
        "visit": visit,
        "form_instance": form,
        "covered": covered,
        "page": page,
        "needs_id": needs_id,
        "existing": signatures.signatures_on(subject=subject, form=form, visit=visit),
        "back": _back(subject, visit, form),
    }
    return render(request, "datamanagement/sign.html", context)


@login_required
def signature_list(request: HttpRequest) -> HttpResponse:
    """Signatures the user may see (newest first, paged) and, for investigators, what to re-sign."""
    user: Any = request.user
    if not access.can_anywhere(user, Action.VIEW_CRF):
        raise PermissionDenied
    rows = signatures.signatures_visible_to(user)
    subject = None
    if request.GET.get("subject", "").isdigit():
        subject = access_subject(user, request.GET["subject"], Action.VIEW_CRF)
        rows = rows.filter(subject=subject)
    paged = Paginator(rows.order_by("-signed_at", "-pk"), 50).get_page(request.GET.get("page"))
    to_resign = signatures.to_resign(user) if access.can_anywhere(user, Action.SIGN) else []
    return render(
        request,
        "datamanagement/signature_list.html",
        {"paged": paged, "to_resign": to_resign, "subject": subject},
    )


def _checklist_scope(request: HttpRequest) -> tuple[Study, Any]:
    params = request.GET if request.method == "GET" else request.POST
    user: Any = request.user
    if params.get("subject", "").isdigit():
        subject = access_subject(user, params["subject"], Action.VIEW_CRF)
        access.require(user, Action.FREEZE_LOCK, site=subject.site)
        return subject.site.study, subject
    # the study-wide lock's rule (crf.locks): the role at every site, else other sites' subjects show
    studies = [
        s
        for s in access.studies_visible_to(user)
        if all(access.can(user, Action.FREEZE_LOCK, site=x) for x in s.sites.all())
    ]
    if not studies:
        raise PermissionDenied
    return studies[0], None


@login_required
def lock_checklist(request: HttpRequest) -> HttpResponse:
    """What is still open before a subject (`?subject=`) or the study is locked, each item
    linking to where it is fixed; locking with items open needs a reason (issue 26 item 3)."""
    study, subject = _checklist_scope(request)
    page = ChecklistLockForm(request.POST or None)
    if request.method == "POST" and page.is_valid():
        try:
            locks.set_data_lock(
                user=request.user,  # type: ignore[arg-type]
                kind=DataLock.Kind.LOCK,
                study=study,
                subject=subject,
                reason=page.cleaned_data["reason"],
                override_reason=page.cleaned_data["override_reason"],
            )
        except locks.LockChecklistOpen as exc:
            page.add_error("override_reason", exc.messages)
        except ValidationError as exc:
            apply_service_errors(page, exc)
        else:
            messages.success(request, _("Locked."))
            return redirect("crf_dm:lock_list")
    items = checklist.open_items(study=study, subject=subject)
    by_kind: dict[str, list[checklist.Item]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    sections = [(key, title, by_kind.get(key, [])) for key, title in checklist.sections()]
    locked = DataLock.objects.filter(
        study=study, subject=subject, object_id__isnull=True, kind=DataLock.Kind.LOCK, lifted_at__isnull=True
    ).first()
    return render(
        request,
        "datamanagement/lock_checklist.html",
        {
            "study": study,
            "subject": subject,
            "sections": sections,
            "open_count": len(items),
            "page": page,
            "locked": locked,
        },
    )
