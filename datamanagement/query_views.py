"""Query pages (issue 7 item 1; DESIGN §4 "Queries", §4a): raise a query on a field, take a
step on a query (answer by confirming, close, re-open, cancel), a query's thread, and the
query list per subject, site and study with filters and aging. Thin: gate → form → service."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crf import locks, queries, selectors
from crf.models import DataLock, Query
from crf.registry import crf_model, crf_models
from datamanagement.query_sdv_lock_forms import QueryFilterForm, QueryStepForm, RaiseQueryForm
from study import access
from study.access import access_subject
from study.form_errors import apply_service_errors
from study.language import name_of
from study.models import User
from study.roles import Action


def _next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def _errors(exc: ValidationError) -> list[str]:
    return list(exc.messages)


def _visible_query(request: HttpRequest, pk: int) -> Query:
    """A query the user may see (the visibility gate and "view CRF pages"), else 404."""
    query = selectors.with_steps(queries.queries_for(request.user)).filter(pk=pk).first()
    if query is None:
        raise Http404
    return query


def _form_of(subject_pk: int, code: str, pk: int, request: HttpRequest):  # type: ignore[no-untyped-def]
    model = crf_model(code)
    if model is None:
        raise Http404
    subject = access_subject(request.user, subject_pk, Action.VIEW_CRF)
    form = model._default_manager.select_related("subject__site").filter(pk=pk, subject=subject).first()
    if form is None:
        raise Http404
    return subject, form


@login_required
def raise_query(request: HttpRequest, subject_pk: int, code: str, pk: int) -> HttpResponse:
    """A monitor or data manager raises a query on one field of a saved form. The form page
    posts here from the field's "Raise a query" panel; refused input shows this page."""
    subject, form = _form_of(subject_pk, code, pk, request)
    access.require(request.user, Action.MANAGE_QUERIES, site=subject.site)
    choices = [(name, selectors.field_label(type(form), name)) for name in queries.queryable_fields(type(form), form)]
    page = RaiseQueryForm(request.POST or None, fields=choices, initial={"field_name": request.GET.get("field")})
    back = _next(request, f"/subjects/{subject.pk}/forms/{code}/{form.pk}/")
    if request.method == "POST" and page.is_valid():
        try:
            query = queries.raise_query(
                user=request.user,  # type: ignore[arg-type]
                form=form,
                field_name=page.cleaned_data["field_name"],
                text=page.cleaned_data["text"],
            )
        except ValidationError as exc:
            apply_service_errors(page, exc)
        else:
            messages.success(request, _("Query raised."))
            return redirect(f"{back.split('#')[0]}#q-{query.pk}")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "datamanagement/query_raise.html",
        {"subject": subject, "record": form, "code": code, "page": page, "back": back},
        status=status,
    )


STEPS = {
    "confirm": lambda user, query, text: queries.answer_query(
        user=user, query=query, answer=Query.Answer.CONFIRMED, text=text
    ),
    "corrected": lambda user, query, text: queries.answer_query(
        user=user, query=query, answer=Query.Answer.CORRECTED, text=text
    ),
    "close": lambda user, query, text: queries.close_query(user=user, query=query, note=text),
    "reopen": lambda user, query, text: queries.reopen_query(user=user, query=query, text=text),
    "cancel": lambda user, query, text: queries.cancel_query(user=user, query=query, reason=text),
}
DONE = {
    "confirm": gettext_lazy("Answer saved: value confirmed."),
    "corrected": gettext_lazy("Answer saved: value corrected."),
    "close": gettext_lazy("Query closed."),
    "reopen": gettext_lazy("Query re-opened."),
    "cancel": gettext_lazy("Query cancelled."),
}


@login_required
@require_POST
def query_step(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    """One step on a query, then back to the page it was taken on. A refused step shows the
    query's own page with the reason (400), the typed text kept."""
    if step not in STEPS:
        raise Http404
    query = _visible_query(request, pk)
    page = QueryStepForm(request.POST)
    if page.is_valid():
        try:
            STEPS[step](request.user, query, page.cleaned_data["text"])
        except ValidationError as exc:
            apply_service_errors(page, exc)
        else:
            messages.success(request, str(DONE[step]))
            return redirect(f"{_next(request, selectors.query_link(query)).split('#')[0]}#q-{query.pk}")
    return _detail(request, _visible_query(request, pk), page=page, step=step, status=400)


@login_required
def query_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _visible_query(request, pk))


def _detail(
    request: HttpRequest, query: Query, *, page: QueryStepForm | None = None, step: str = "", status: int = 200
) -> HttpResponse:
    record = query.form
    locked = record is not None and locks.strongest(locks.active_locks_over(record)) == DataLock.Kind.LOCK
    query.may = selectors.query_permissions(request.user, query, locked=locked)  # type: ignore[attr-defined]
    form_title, field_label = selectors.query_label(query)
    context = {
        "query": query,
        "one": [query],
        "subject": query.subject,
        "form_title": form_title,
        "field_label": field_label,
        "link": selectors.query_link(query),
        "page": page,
        "step": step,
        "now": timezone.now(),
    }
    return render(request, "datamanagement/query_detail.html", context, status=status)


@login_required
def query_list(request: HttpRequest, subject_pk: int | None = None) -> HttpResponse:
    """Queries per study (no filter), site or subject, with filters and aging (days open)."""
    sites = access.sites_where(request.user, Action.VIEW_CRF)
    if not sites.exists():
        raise PermissionDenied
    subject = access_subject(request.user, subject_pk, Action.VIEW_CRF) if subject_pk is not None else None
    raisers = User.objects.filter(
        pk__in=Query.objects.filter(subject__site__in=sites).exclude(raised_by=None).values("raised_by")
    ).order_by("username")
    filters = QueryFilterForm(
        request.GET or None,
        sites=[(s.code, f"{s.code} {name_of(s)}") for s in sites.order_by("code")],
        forms_=[
            *sorted(((code, str(m.crf_title)) for code, m in crf_models().items()), key=lambda c: c[1]),
            ("visit", _("Visit date")),
        ],
        raisers=[(str(u.pk), u.display_name) for u in raisers],
    )
    chosen = filters.cleaned_data if filters.is_valid() else {}
    query_set = selectors.query_list(
        request.user,
        selectors.QueryFilters(
            site=chosen.get("site") or "",
            subject=subject.pk if subject is not None else None,
            status=chosen.get("status") or "",
            form=chosen.get("form") or "",
            origin=chosen.get("origin") or "",
            min_days=chosen.get("min_days"),
        ),
    )
    if filters.is_bound and not filters.is_valid():
        query_set = query_set.none()  # a refused filter lists nothing rather than everything
    rows = [
        {"query": q, "label": selectors.query_label(q), "link": selectors.query_link(q)}
        for q in query_set.select_related("subject__site")
    ]
    return render(
        request,
        "datamanagement/query_list.html",
        {"rows": rows, "filters": filters, "subject": subject},
        status=200 if not filters.is_bound or filters.is_valid() else 400,
    )
