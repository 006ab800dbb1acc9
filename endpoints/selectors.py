"""Reads of endpoint runs through the visibility gate (DESIGN §4a "view endpoint run results")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from endpoints.models import EndpointRun
from study import access
from study.access import subjects_visible_to
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


#: the column that names a subject in a per-subject listing (DLT candidates, AE listings)
SUBJECT_COLUMN = "subject"


def hidden_subject_labels(user: User | AnonymousUser, study: Study) -> set[str] | None:
    """Labels (subject ID, else screening number — as the tables write them) of the study's
    subjects outside the user's visibility gate; None when the user sees every subject."""
    from subjects.models import Subject

    everyone = Subject.objects.filter(site__study=study)
    visible = subjects_visible_to(user).filter(site__study=study)
    hidden = everyone.exclude(pk__in=visible.values("pk"))
    labels = {subject_id or screening for subject_id, screening in hidden.values_list("subject_id", "screening_number")}
    return labels or None


def gated_tables(user: User | AnonymousUser, run: EndpointRun, tables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-subject rows of a run's tables through the visibility gate (DESIGN §4a notes, issue 21):
    a viewer sees only subjects of the sites where they hold a role. Aggregate tables (no subject
    column) are returned whole."""
    hidden = hidden_subject_labels(user, run.study)
    if hidden is None:
        return tables
    return [
        {**table, "rows": [row for row in table["rows"] if str(row.get(SUBJECT_COLUMN, "")) not in hidden]}
        if SUBJECT_COLUMN in table.get("columns", [])
        else table
        for table in tables
    ]


#: The analyses a run's document may hold: the main tables, and the sensitivity analysis
#: "re-derive under the settings in force at the cut-off" (issue 30) when the run asked for it.
ANALYSES = ("main", "sensitivity")


def tables_of(document: dict[str, Any], analysis: str = "main") -> list[dict[str, Any]] | None:
    """The tables of one analysis of a run's document; None when the run has no such analysis."""
    if analysis == "sensitivity":
        part = document.get("sensitivity")
        return None if part is None else list(part["tables"])
    return list(document["tables"]) if analysis == "main" else None


def gated_document(user: User | AnonymousUser, run: EndpointRun, document: dict[str, Any]) -> dict[str, Any]:
    """The document with the per-subject rows of both analyses through the visibility gate."""
    gated = {**document, "tables": gated_tables(user, run, document["tables"])}
    if "sensitivity" in document:
        gated["sensitivity"] = {
            **document["sensitivity"],
            "tables": gated_tables(user, run, document["sensitivity"]["tables"]),
        }
    return gated
