"""The My tasks page (issue 31 item 2): the coordinator's home after sign-in, reached by
everyone else from the top bar."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mytasks import selectors


@login_required
def my_tasks(request: HttpRequest) -> HttpResponse:
    """403 for a user with no role the list serves (statistician, study admin)."""
    tasks = selectors.my_tasks(request.user, now=selectors.clock())
    if not tasks.sites.any:
        raise PermissionDenied
    # the top bar on this page (and the next minute's pages) shows the number listed here
    cache.set(selectors.count_key(request.user.pk), tasks.total, selectors.COUNT_SECONDS)
    return render(request, "mytasks/my_tasks.html", {"tasks": tasks})
