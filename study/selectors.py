from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from study import access
from study.models import Membership, Site, Study, User


def users_administered_by(actor: User) -> QuerySet[User]:
    """Users holding (or having held) a role in a study the actor administers."""
    studies = access.administered_studies(actor)
    return (
        User.objects.filter(memberships__site__study__in=studies)
        .distinct()
        .order_by("username")
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=Membership.objects.filter(site__study__in=studies).select_related("site"),
            )
        )
    )


def locked_usernames(usernames: list[str]) -> set[str]:
    from axes.models import AccessAttempt
    from django.conf import settings

    return set(
        AccessAttempt.objects.filter(
            username__in=usernames, failures_since_start__gte=settings.AXES_FAILURE_LIMIT
        ).values_list("username", flat=True)
    )


def home_summary(user: User) -> list[dict[str, object]]:
    """Per visible study: its sites with subject counts and the user's roles there."""
    memberships = list(access.active_memberships(user))
    site_ids = {m.site_id for m in memberships}
    sites = (
        Site.objects.filter(pk__in=site_ids)
        .select_related("study")
        .annotate(n_subjects=Count("subjects", filter=Q(subjects__isnull=False)))
        .order_by("study__code", "code")
    )
    studies: dict[int, dict[str, object]] = {}
    for site in sites:
        entry = studies.setdefault(site.study_id, {"study": site.study, "sites": []})
        roles = sorted({m.get_role_display() for m in memberships if m.site_id == site.pk})
        entry["sites"].append({"site": site, "roles": roles})  # type: ignore[attr-defined]
    if studies:  # the protocol version in force today (issue 27 item 2)
        from django.utils import timezone

        from study.amendments import version_in_force

        today = timezone.localdate()
        for study_id, entry in studies.items():
            entry["protocol_version"] = version_in_force(study_id, today)
    return list(studies.values())


def study_of(user: User) -> Study | None:
    return access.studies_visible_to(user).first()


def name_changes(study: Study, *, limit: int = 30) -> list[dict[str, object]]:
    """The latest changes of the study's names from the audit trail (issue 25 item 4): the
    pghistory events of the study, its sites, dose-level names and visits, newest first, each
    with who made it and the reason recorded with it. Set-up inserts are left out (a dose level
    named for the first time is an insert, so it shows)."""
    from django.apps import apps
    from django.utils.translation import gettext as _

    kinds = (
        ("StudyEvent", {"pgh_obj_id": study.pk}, "title", "title_zh", _("Study")),
        ("SiteEvent", {"study_id": study.pk}, "name", "name_zh", _("Site")),
        ("DoseLevelNameEvent", {"study_id": study.pk}, "name", "name_zh", _("Dose level")),
        ("VisitDefinitionEvent", {"study_id": study.pk}, "name", "name_zh", _("Visit")),
    )
    found: list[dict[str, object]] = []
    for model_name, where, english, chinese, label in kinds:
        model = apps.get_model("study", model_name)
        labels = ["update", "insert"] if model_name == "DoseLevelNameEvent" else ["update"]  # naming a level
        events = model.objects.filter(**where, pgh_label__in=labels).order_by("-pgh_created_at", "-pgh_id")
        for event in events[:limit]:
            metadata = event.pgh_context or {}  # the audit context, kept on the history row
            found.append(
                {
                    "at": event.pgh_created_at,
                    "kind": label,
                    "code": event.code,
                    "english": getattr(event, english),
                    "chinese": getattr(event, chinese),
                    "who": metadata.get("username", ""),
                    "reason": metadata.get("reason", ""),
                }
            )
    found.sort(key=lambda row: row["at"], reverse=True)  # type: ignore[arg-type, return-value]
    return found[:limit]
