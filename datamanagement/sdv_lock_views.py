"""Source data verification and freeze/lock pages (issue 7 items 2–3; DESIGN §4, §4a).

- SDV: a monitor marks a form or one field verified (from the form page); the SDV worklist of a
  site; the study's SDV plan, edited by the study admin or a data manager.
- Freezes and locks: a data manager freezes or locks a form, a subject or the whole study and
  lifts either with a reason; the list of what is in force and what was lifted.
Thin: gate → form → one service → redirect.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import F, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crf import locks, sdv
from crf.models import DataLock
from crf.registry import crf_models
from datamanagement.query_sdv_lock_forms import LiftLockForm, SdvPlanForm, SetLockForm
from datamanagement.query_views import _form_of, _next
from study import access
from study.access import access_subject
from study.form_errors import apply_service_errors
from study.models import Study
from study.roles import Action


def _form_page(subject_pk: int, code: str, pk: int) -> str:
    return f"/subjects/{subject_pk}/forms/{code}/{pk}/"


@login_required
@require_POST
def mark_sdv(request: HttpRequest, subject_pk: int, code: str, pk: int) -> HttpResponse:
    """A monitor verifies the whole form (no `field_name`) or one field."""
    subject, form = _form_of(subject_pk, code, pk, request)
    access.require(request.user, Action.MARK_SDV, site=subject.site)
    field_name = request.POST.get("field_name", "")
    try:
        sdv.mark_verified(user=request.user, form=form, field_name=field_name)  # type: ignore[arg-type]
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect(_next(request, _form_page(subject.pk, code, form.pk)))
    messages.success(request, _("Marked source-verified."))
    return redirect(_next(request, _form_page(subject.pk, code, form.pk)))


@login_required
def sdv_worklist(request: HttpRequest) -> HttpResponse:
    """What remains to verify at one of the monitor's sites (the plan's selection)."""
    sites = list(access.sites_where(request.user, Action.MARK_SDV).select_related("study").order_by("code"))
    if not sites:
        raise PermissionDenied
    chosen = request.GET.get("site") or sites[0].code
    site = next((s for s in sites if s.code == chosen), None)
    if site is None:
        raise Http404
    rows = sdv.sdv_worklist(request.user, site=site)  # type: ignore[arg-type]
    # filters, sorting and paging (issue 24 item 5); the choices come from the site's rows
    chosen_filters = {name: request.GET.get(name, "") for name in ("subject", "form", "visit", "status")}
    sort = request.GET.get("sort", "subject")
    subjects = sorted({str(r.form.subject) for r in rows})
    forms = sorted({(r.form.casebook_order, r.form.crf_code, str(r.form.crf_title)) for r in rows})
    visits = sorted(
        {(r.form.visit.definition.order, r.form.visit.definition.code) for r in rows if r.form.visit is not None}
    )
    filtered = sdv.filter_worklist(rows, sort=sort, **chosen_filters)
    page = Paginator(filtered, WORKLIST_PAGE).get_page(request.GET.get("page"))
    query = {name: value for name, value in chosen_filters.items() if value}
    context = {
        "sites": sites,
        "site": site,
        "rows": page.object_list,
        "page": page,
        "total": len(rows),
        "plan": sdv.plan_for(site.study),
        "filters": chosen_filters,
        "sort": sort,
        "subjects": subjects,
        "forms": [(code, title) for _order, code, title in forms],
        "visits": [code for _order, code in visits],
        "statuses": [
            ("none", _("Not source-verified")),
            ("partial", _("Partly verified")),
            ("cleared", _("SDV cleared by a change")),
        ],
        "sorts": [("subject", _("Subject")), ("form", _("Form")), ("date", _("Date")), ("status", _("SDV"))],
        "keep": urlencode({"site": site.code, **query, "sort": sort}),
    }
    return render(request, "datamanagement/sdv_worklist.html", context)


#: rows per page of the SDV worklist
WORKLIST_PAGE = 50


def _plan_study(request: HttpRequest) -> Study:
    studies = [s for s in access.studies_visible_to(request.user) if sdv.may_edit_plan(request.user, s)]  # type: ignore[arg-type]
    if not studies:
        raise PermissionDenied
    return studies[0]


@login_required
def sdv_plan(request: HttpRequest) -> HttpResponse:
    """The study's SDV plan (study admin or data manager)."""
    study = _plan_study(request)
    plan = sdv.plan_for(study)
    codes = sorted(((code, f"{code} · {m.crf_title}") for code, m in crf_models().items()), key=lambda c: c[0])
    known = {code for code, _label in codes}
    initial = {
        "full_forms": [c for c in plan.full_forms if c in known],
        "sample_percent": plan.sample_percent,
        "seed": plan.seed,
    }
    page = SdvPlanForm(request.POST or None, codes=codes, initial=initial)
    if request.method == "POST" and page.is_valid():
        data = page.cleaned_data
        # Codes of forms not built yet (safety forms) stay in the plan until removed on purpose.
        kept = [c for c in plan.full_forms if c not in known]
        try:
            sdv.save_plan(
                user=request.user,  # type: ignore[arg-type]
                study=study,
                full_forms=[*data["full_forms"], *kept],
                sample_percent=data["sample_percent"],
                seed=data["seed"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            apply_service_errors(page, exc)
        else:
            messages.success(request, _("SDV plan saved."))
            return redirect("crf_dm:sdv_plan")
    return render(
        request,
        "datamanagement/sdv_plan.html",
        {"study": study, "plan": plan, "page": page, "history_pk": plan.pk},
        status=400 if page.errors else 200,
    )


# --- freezes and locks ---------------------------------------------------------------------------


def _lock_study(request: HttpRequest) -> Study:
    studies = [
        s
        for s in access.studies_visible_to(request.user)
        if access.can_anywhere(request.user, Action.FREEZE_LOCK, study=s)
    ]
    if not studies:
        raise PermissionDenied
    return studies[0]


@login_required
def lock_list(request: HttpRequest) -> HttpResponse:
    """Freezes and locks of the study (in force first, then lifted), and the study-wide form."""
    study = _lock_study(request)
    sites = access.sites_where(request.user, Action.FREEZE_LOCK)
    found = (
        DataLock.objects.filter(study=study)
        .filter(Q(subject__isnull=True) | Q(subject__site__in=sites))
        .select_related("subject", "content_type", "set_by", "lifted_by")
        .order_by(F("lifted_at").desc(nulls_first=True), "-set_at")
    )
    return render(
        request,
        "datamanagement/lock_list.html",
        {
            "study": study,
            "locks": [_describe(lock) for lock in found],
            "set_form": SetLockForm(),
            "lift_form": LiftLockForm(),
        },
    )


def _describe(lock: DataLock) -> dict[str, object]:
    scope = _("Whole study")
    link = ""
    if lock.object_id is not None:
        model = lock.content_type.model_class() if lock.content_type else None
        code = getattr(model, "crf_code", "")
        scope = f"{lock.subject} · {getattr(model, 'crf_title', '')} #{lock.object_id}"
        link = _form_page(lock.subject_id, code, lock.object_id) if code else ""  # type: ignore[arg-type]
    elif lock.subject_id is not None:
        scope = _("Subject %(subject)s") % {"subject": lock.subject}
        link = f"/subjects/{lock.subject_id}/casebook/"
    return {"lock": lock, "scope": scope, "link": link}


@login_required
@require_POST
def lock_set(request: HttpRequest) -> HttpResponse:
    """Freeze or lock: the study (no subject), a subject (`subject`) or a form (`subject`,
    `code`, `pk`)."""
    study = _lock_study(request)
    page = SetLockForm(request.POST)
    subject = form = None
    if request.POST.get("subject"):
        if request.POST.get("code"):
            if not request.POST.get("pk", "").isdigit():
                raise Http404
            subject, form = _form_of(request.POST["subject"], request.POST["code"], int(request.POST["pk"]), request)  # type: ignore[arg-type]
        else:
            subject = access_subject(request.user, request.POST["subject"], Action.VIEW_CRF)
        study = subject.site.study
    back = _next(request, "/data/locks/")
    if page.is_valid():
        try:
            lock = locks.set_data_lock(
                user=request.user,  # type: ignore[arg-type]
                kind=page.cleaned_data["kind"],
                study=study,
                subject=subject,
                form=form,
                reason=page.cleaned_data["reason"],
                override_reason=request.POST.get("override_reason", "")[:300],
            )
        except locks.LockChecklistOpen as exc:
            # the checklist page lists what is open and takes an override reason (issue 26 item 3)
            messages.error(request, exc.messages[0])
            return redirect(exc.page_url)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(
                request,
                _("Frozen.") if lock.kind == DataLock.Kind.FREEZE else _("Locked."),
            )
    else:
        messages.error(request, _("Choose freeze or lock and give a reason."))
    return redirect(back)


@login_required
@require_POST
def lock_lift(request: HttpRequest, pk: int) -> HttpResponse:
    study = _lock_study(request)
    lock = DataLock.objects.select_related("subject__site").filter(pk=pk, study=study).first()
    if lock is None or (
        lock.subject is not None and not access.sites_visible_to(request.user).filter(pk=lock.subject.site_id).exists()
    ):
        raise Http404
    page = LiftLockForm(request.POST)
    if page.is_valid():
        try:
            locks.lift_data_lock(user=request.user, lock=lock, reason=page.cleaned_data["reason"])  # type: ignore[arg-type]
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Lifted."))
    else:
        messages.error(request, _("Give a reason for lifting."))
    return redirect(_next(request, "/data/locks/"))
