"""The start pages: the study home (everyone's after sign-in) and the My tasks page (issue 31
item 2: the coordinator's home after sign-in, reached by everyone else from the top bar)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crf.selectors import AGING_DAYS, query_counts
from mytasks import selectors
from study import access
from study import selectors as study_selectors
from study.roles import Action


@login_required
def my_tasks(request: HttpRequest) -> HttpResponse:
    """403 for a user with no role the list serves (statistician, study admin)."""
    tasks = selectors.my_tasks(request.user, now=selectors.clock())
    if not tasks.sites.any:
        raise PermissionDenied
    # the top bar on this page (and the next minute's pages) shows the number listed here
    cache.set(selectors.count_key(request.user.pk), tasks.total, selectors.COUNT_SECONDS)
    return render(request, "mytasks/my_tasks.html", {"tasks": tasks})


@login_required
def study_home(request: HttpRequest) -> HttpResponse:
    """The study home (`/`, URL name "home"): the studies the user may see, what each role may
    open, and the counts of the queries the user may see (crf.selectors.query_counts)."""
    user = request.user
    context = {
        "studies": study_selectors.home_summary(user),  # type: ignore[arg-type]
        "can_view_crf": access.can_anywhere(user, Action.VIEW_CRF),
        "can_administer": access.can_anywhere(user, Action.ADMINISTER),
        # data management (issue 7): query counts and the monitor's and data manager's pages
        "query_counts": query_counts(user) if access.can_anywhere(user, Action.VIEW_CRF) else None,  # type: ignore[arg-type]
        "aging_days": AGING_DAYS,
        "can_mark_sdv": access.can_anywhere(user, Action.MARK_SDV),
        "can_lock": access.can_anywhere(user, Action.FREEZE_LOCK),
        "can_view_endpoints": access.can_anywhere(user, Action.VIEW_ENDPOINT_RESULTS),
        "can_view_safety": access.can_anywhere(user, Action.VIEW_SAFETY),
        "can_export": access.can_anywhere(user, Action.START_ENDPOINT_RUNS),
        "can_pdf": access.can_anywhere(user, Action.CASEBOOK_PDF),
        "can_edit_sdv_plan": access.can_anywhere(user, Action.FREEZE_LOCK)
        or access.can_anywhere(user, Action.ADMINISTER),
    }
    return render(request, "mytasks/study_home.html", context)
