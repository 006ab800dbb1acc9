from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Count, Prefetch, Q, QuerySet

from study import access
from study.models import Membership, Rederivation, Site, Study, User


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


def listed_changes(settings_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """What each settings version changed, for the settings page (DESIGN §4 "lists them"): per
    version, the forms whose derived values changed or that a freeze or lock kept, with the
    subject, the form, its clinical date and each changed value old → new (the bookkeeping
    fields — settings version, stored inputs — are left out; the form's history has them).
    One query per form type listed, whatever the number of rows."""
    rows = list(
        Rederivation.objects.filter(settings_id__in=settings_ids)
        .exclude(outcome=Rederivation.Outcome.REDERIVED, changed={})
        .order_by("settings_id", "clinical_date", "form_label", "object_id")
    )
    by_label: dict[str, set[int]] = {}
    for row in rows:
        by_label.setdefault(row.form_label, set()).add(row.object_id)
    forms: dict[tuple[str, int], Any] = {}
    for label, ids in by_label.items():
        model = apps.get_model(label)
        for form in model._default_manager.filter(pk__in=ids).select_related("subject"):
            forms[(label, form.pk)] = form
    listed: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        form = forms.get((row.form_label, row.object_id))
        if form is None:
            continue
        model = type(form)
        values = []
        for name, new in row.changed.items():
            field = model._meta.get_field(name)
            if name == "settings_version" or isinstance(field, models.JSONField):
                continue
            old = row.previous.get(name, "—")
            shown = dict(field.flatchoices) if field.choices else {}
            values.append(
                {
                    "name": name,
                    "field": field.verbose_name,
                    "old": old,
                    "new": new,
                    "old_label": shown.get(old, old),
                    "new_label": shown.get(new, new),
                }
            )
        listed.setdefault(row.settings_id, []).append(
            {
                "subject": form.subject,
                "form": model._meta.verbose_name,
                "clinical_date": row.clinical_date,
                "skipped": row.outcome == Rederivation.Outcome.SKIPPED_LOCKED,
                "values": values,
                # the page links the form and its history by these (the URLs belong to the apps above)
                "subject_id": form.subject_id,
                "crf_code": model.crf_code,
                "form_label": row.form_label,
                "pk": form.pk,
            }
        )
    return listed
