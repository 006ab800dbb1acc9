"""Study build pages (issue 27 item 1), study admin only (DESIGN §4a; every other role 403):
sites. Thin: the administered study → a form → one service in study.build → redirect."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from clinical.units import decimal_text
from study import access, build, hooks
from study.build_forms import SiteForm
from study.form_errors import apply_service_errors
from study.models import Site, Study
from study.names import is_live


def administered_study(request: HttpRequest) -> Study:
    """The study the user administers (the first by code), else 403."""
    study = access.administered_studies(request.user).order_by("code").first()
    if study is None:
        raise PermissionDenied
    return study


@require_safe
@login_required
def site_list(request: HttpRequest) -> HttpResponse:
    study = administered_study(request)
    sites = Site.objects.filter(study=study).annotate(n_subjects=Count("subjects")).order_by("code")
    countries = build.COUNTRIES
    rows = [(site, countries.get(site.country, "—")) for site in sites]
    return render(request, "study/build/site_list.html", {"study": study, "rows": rows})


@login_required
def site_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    study = administered_study(request)
    site = None
    if pk is not None:
        site = Site.objects.filter(pk=pk, study=study).first()
        if site is None:
            raise Http404
    live = is_live(study)
    form = SiteForm(request.POST or None, site=site, live=live)
    if request.method == "POST" and form.is_valid():
        try:
            saved = build.save_site(actor=request.user, study=study, site=site, **form.cleaned_data)  # type: ignore[arg-type]
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Site %(code)s saved.") % {"code": saved.code})
            return redirect("study_build:sites")
    has_subjects = site is not None and build.site_has_subjects(site)
    context = {"study": study, "site": site, "form": form, "live": live, "has_subjects": has_subjects}
    return render(request, "study/build/site_form.html", context)


@login_required
def schedule(request: HttpRequest) -> HttpResponse:
    """The visit schedule in force today, its versions, and a form for the next version."""
    from study import schedule as visit_schedule
    from study.build_forms import ScheduleForm
    from study.models import VisitDefinition, VisitSchedule

    study = administered_study(request)
    live = is_live(study)
    today = timezone.localdate()
    definitions = list(VisitDefinition.objects.filter(study=study).order_by("order"))
    in_force, timing = visit_schedule.timing_in_force(study, today)
    matrix = visit_schedule.matrix_in_force(study, today).get("visits", {})
    titles = hooks.form_titles()
    form_choices = sorted(titles.items(), key=lambda item: item[1])
    form = ScheduleForm(
        request.POST or None,
        definitions=definitions,
        timing=timing,
        matrix=matrix,
        form_choices=form_choices,
        live=live,
    )
    if request.method == "POST" and form.is_valid():
        try:
            version, changed = visit_schedule.publish_visit_schedule(
                actor=request.user,  # type: ignore[arg-type]
                study=study,
                effective_from=form.cleaned_data["effective_from"],
                visits=form.plans(),
                reason=form.cleaned_data.get("reason", ""),
                known_forms=set(titles),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Schedule version %(version)s saved, effective from %(date)s; %(count)s visits re-derived.")
                % {"version": version.version, "date": version.effective_from.isoformat(), "count": len(changed)},
            )
            return redirect("study_build:schedule")
    versions = list(
        VisitSchedule.objects.filter(study=study).select_related("created_by", "protocol_version").order_by("-version")
    )
    base = {
        d.code: {"day": d.day, "window_before": d.window_before, "window_after": d.window_after} for d in definitions
    }
    by_number = sorted(versions, key=lambda v: v.version)
    previous: dict[str, Any] = base
    for v in by_number:
        v.differences = visit_schedule.version_differences(previous, v.visits)  # type: ignore[attr-defined]
        previous = {**previous, **v.visits}
    rows = [
        {
            "definition": d,
            "timing": timing.get(d.code, {}),
            "forms": [titles.get(code, code) for code in matrix.get(d.code, [])],
        }
        for d in definitions
    ]
    context = {
        "study": study,
        "form": form,
        "rows": rows,
        "in_force": in_force,
        "versions": versions,
        "today": today,
        "live": live,
    }
    return render(request, "study/build/schedule.html", context)


@login_required
def dose_levels(request: HttpRequest) -> HttpResponse:
    """Dose levels and expected toxicities in force today, the settings versions that changed
    them, and a form for a new version (on the protocol settings' one versioned store)."""
    from study import dose_levels as study_dose_levels
    from study.build_forms import DoseLevelsForm
    from study.language import dose_level_name
    from study.models import ProtocolSettings

    study = administered_study(request)
    today = timezone.localdate()
    versions = list(ProtocolSettings.objects.filter(study=study).select_related("created_by").order_by("version"))
    in_force = next(
        iter(
            sorted((v for v in versions if v.effective_from <= today), key=lambda v: (v.effective_from, v.version))[-1:]
        ),
        versions[0] if versions else None,
    )
    from clinical.protocol import ProtocolChoices

    choices = in_force.choices() if in_force is not None else ProtocolChoices()
    form = DoseLevelsForm(
        request.POST or None, levels=list(choices.dose_levels), toxicities=list(choices.expected_toxicities)
    )
    if request.method == "POST" and form.is_valid():
        try:
            row = study_dose_levels.publish_dose_levels(
                actor=request.user,  # type: ignore[arg-type]
                study=study,
                effective_from=form.cleaned_data["effective_from"],
                levels=form.levels(),
                expected_toxicities=form.toxicities(),
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Version %(version)s saved. Forms dated on or after %(date)s are being re-derived.")
                % {"version": row.version, "date": row.effective_from},
            )
            return redirect("study_build:dose_levels")
    history = []
    before: dict[str, Any] = {}
    for v in versions:
        levels, toxicities = v.values.get("dose_levels"), v.values.get("expected_toxicities")
        if not before or levels != before.get("dose_levels") or toxicities != before.get("expected_toxicities"):
            v.levels_text = study_dose_levels.levels_text(v.choices().dose_levels)  # type: ignore[attr-defined]
            history.append(v)
        before = v.values
    rows = [
        {
            "order": i,
            "code": level.code,
            "name": dose_level_name(level.code, study),
            "target": decimal_text(level.target_cells_per_kg / study_dose_levels.MILLION),
            "low": decimal_text(level.target_cells_per_kg * (100 - level.range_pct) / 100 / study_dose_levels.MILLION),
            "high": decimal_text(level.target_cells_per_kg * (100 + level.range_pct) / 100 / study_dose_levels.MILLION),
            "range": decimal_text(level.range_pct),
        }
        for i, level in enumerate(choices.dose_levels, start=1)
    ]
    context = {
        "study": study,
        "form": form,
        "rows": rows,
        "toxicities": choices.expected_toxicities,
        "in_force": in_force,
        "history": list(reversed(history)),
        "today": today,
    }
    return render(request, "study/build/dose_levels.html", context)
