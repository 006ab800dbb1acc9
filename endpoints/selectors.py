"""Reads of endpoint runs through the visibility gate (DESIGN §4a "view endpoint run results")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from endpoints.models import EndpointRun
from study import access
from study.models import Study
from study.roles import Action

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from study.models import User

LIST_FIELDS = ["results_json", "results_csv", "results_xlsx"]


def studies_with_results_for(user: User | AnonymousUser) -> QuerySet[Study]:
    return Study.objects.filter(pk__in=access.sites_where(user, Action.VIEW_ENDPOINT_RESULTS).values("study_id"))


def runs_visible_to(user: User | AnonymousUser) -> QuerySet[EndpointRun]:
    """Runs of the studies where the user may view results, without the result payloads."""
    return (
        EndpointRun.objects.filter(study__in=studies_with_results_for(user))
        .select_related("study", "requested_by")
        .defer(*LIST_FIELDS)
        .order_by("-requested_at", "-pk")
    )


def access_run(user: User | AnonymousUser, pk: int) -> EndpointRun:
    """The run, or 404 outside the user's studies, 403 for a role that may not view results."""
    run = EndpointRun.objects.select_related("study", "requested_by").filter(pk=pk).first()
    if run is None or not access.studies_visible_to(user).filter(pk=run.study_id).exists():
        raise Http404
    if not access.can_anywhere(user, Action.VIEW_ENDPOINT_RESULTS, study=run.study):
        raise PermissionDenied
    return run
