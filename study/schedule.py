"""Study build, the visit schedule (issue 27 item 1; CLINICAL_SPEC §7 "every time point is a
setting", §7.1 the schedule of assessments): the study admin publishes a new version of the
schedule — each visit's target day, window before/after and expected forms, plus visits added by
an amendment — effective from a date.

One publication writes a `VisitSchedule` version (timing) and an `AssessmentSchedule` version
(expected forms) with the same number of effective date, audited with the reason, then
re-derives through the hook `study.hooks.rederive_for_setting` (crf.rederive, "visit_schedule")
the planned dates, windows, out-of-window queries and expected-form state of the visits the new
version governs (subjects.services.visits.rederive_for_visit_schedule). Data keep being judged
by the version in force on their date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from study import hooks
from study.audit_context import audit_context
from study.build import reason_needed, require_admin
from study.models import AssessmentSchedule, Study, VisitDefinition, VisitSchedule
from study.system_text import message

if TYPE_CHECKING:
    from study.models import User


@dataclass
class VisitPlan:
    """One visit of a new version as the admin typed it. `code` of an existing visit, or a new
    visit with its names and anchor (`is_new`)."""

    code: str
    day: int | None
    window_before: int
    window_after: int
    forms: list[str] = field(default_factory=list)
    is_new: bool = False
    name: str = ""
    name_zh: str = ""
    anchor: str = ""


def timing_in_force(study: Study, on: date) -> tuple[VisitSchedule | None, dict[str, dict[str, Any]]]:
    """The version in force on `on` (None before the first) and every visit's timing under it:
    {code: {"day", "window_before", "window_after"}} (the definitions as set up where no version
    holds the visit)."""
    version = VisitSchedule.objects.filter(study=study, effective_from__lte=on).order_by("-effective_from", "-version")
    found = version.first()
    timing = {
        d.code: {"day": d.day, "window_before": d.window_before, "window_after": d.window_after}
        for d in VisitDefinition.objects.filter(study=study)
    }
    if found is not None:
        timing.update(found.visits or {})
    return found, timing


def matrix_in_force(study: Study, on: date) -> dict[str, Any]:
    row = (
        AssessmentSchedule.objects.filter(study=study, effective_from__lte=on)
        .order_by("-effective_from", "-version")
        .first()
    ) or AssessmentSchedule.objects.filter(study=study).order_by("version").first()
    return dict(row.matrix) if row is not None else {"visits": {}, "logs": []}


@transaction.atomic
def publish_visit_schedule(
    *,
    actor: User,
    study: Study,
    effective_from: date,
    visits: list[VisitPlan],
    reason: str = "",
    known_forms: set[str],
) -> tuple[VisitSchedule, list[Any]]:
    """Record a new version of the schedule and re-derive the visits it governs; returns the
    version and the visits whose planned date or window changed. Refuses (ValidationError keyed
    `<code>-<field>` or by field, nothing saved) a negative window, a missing target day on a
    dated visit, a day on an event-driven one, an unknown form, a new visit code already used,
    and — once the study is live — a missing reason."""
    require_admin(actor, study)
    Study.objects.select_for_update().get(pk=study.pk)  # one publisher at a time per study
    errors: dict[str, list[str]] = {}
    try:
        reason = reason_needed(study, reason)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    definitions = {d.code: d for d in VisitDefinition.objects.filter(study=study)}
    for plan in visits:
        key = "new" if plan.is_new else plan.code
        anchor = plan.anchor if plan.is_new else definitions[plan.code].anchor
        if plan.is_new:
            if not plan.code.strip():
                errors.setdefault(f"{key}-code", []).append(_("Give the new visit a code."))
            elif plan.code in definitions:
                errors.setdefault(f"{key}-code", []).append(_("A visit of this study already has this code."))
            if not plan.name.strip() or not plan.name_zh.strip():
                errors.setdefault(f"{key}-name", []).append(_("Name the new visit in English and Chinese."))
        if anchor == VisitDefinition.Anchor.EVENT and plan.day is not None:
            errors.setdefault(f"{key}-day", []).append(_("A visit held when an event happens has no target day."))
        if anchor != VisitDefinition.Anchor.EVENT and plan.day is None:
            errors.setdefault(f"{key}-day", []).append(_("Give the target day."))
        if plan.window_before < 0 or plan.window_after < 0:
            errors.setdefault(f"{key}-window_before", []).append(_("A window cannot be negative."))
        unknown = sorted(set(plan.forms) - known_forms)
        if unknown:
            errors.setdefault(f"{key}-forms", []).append(_("Unknown forms: %(codes)s.") % {"codes": ", ".join(unknown)})
    if errors:
        raise ValidationError(errors)
    why = reason or message(gettext_noop("visit schedule set up"))
    with audit_context(user=actor, reason=why):
        order = (VisitDefinition.objects.filter(study=study).aggregate(n=Max("order"))["n"] or 0) + 1
        for plan in visits:
            if plan.is_new:
                definition = VisitDefinition(
                    study=study,
                    code=plan.code.strip(),
                    name=plan.name.strip(),
                    name_zh=plan.name_zh.strip(),
                    anchor=plan.anchor,
                    day=plan.day,
                    window_before=plan.window_before,
                    window_after=plan.window_after,
                    order=order,
                )
                definition.full_clean()
                definition.save()
                order += 1
        number = (VisitSchedule.objects.filter(study=study).aggregate(n=Max("version"))["n"] or 0) + 1
        now = timezone.now()
        version = VisitSchedule(
            study=study,
            version=number,
            effective_from=effective_from,
            visits={
                plan.code.strip(): {
                    "day": plan.day,
                    "window_before": plan.window_before,
                    "window_after": plan.window_after,
                }
                for plan in visits
            },
            reason=str(why),
            created_by=actor,
            created_at=now,
        )
        version.full_clean()
        version.save()
        previous = matrix_in_force(study, effective_from)
        matrix = {
            "visits": {**previous.get("visits", {}), **{plan.code.strip(): list(plan.forms) for plan in visits}},
            "logs": list(previous.get("logs", [])),
        }
        forms_number = (AssessmentSchedule.objects.filter(study=study).aggregate(n=Max("version"))["n"] or 0) + 1
        forms_version = AssessmentSchedule(
            study=study,
            version=forms_number,
            effective_from=effective_from,
            matrix=matrix,
            reason=str(why),
            created_by=actor,
            created_at=now,
        )
        forms_version.full_clean()
        forms_version.save()
    changed = hooks.rederive_for_setting(kind="visit_schedule", version=version, user=actor)
    return version, changed


def version_differences(older: dict[str, Any], newer: dict[str, Any]) -> list[dict[str, Any]]:
    """Per visit code, the timing a version changed against the one before it (old → new)."""
    out = []
    for code, new in newer.items():
        old = older.get(code)
        if old != new:
            out.append({"code": code, "old": old, "new": new})
    return out
