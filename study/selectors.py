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
    return list(studies.values())


def study_of(user: User) -> Study | None:
    return access.studies_visible_to(user).first()
