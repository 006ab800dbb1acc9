"""The investigators' dashboards (issue 13; DESIGN §5): the safety dashboard, the response and
survival page, the study overview, and their SVG plots. Thin: gate → selectors → template.

Which data come from where (DESIGN §5): the survival and response page and the AE incidence
table read the latest successful endpoint run; the SAE clocks, DLT status per dose level,
overdue forms and open queries are read live at request time; the heat strip and swimmer lanes
are read live too, one page of ≤ 50 subjects (no run table carries them).
"""

from __future__ import annotations

import hashlib
from typing import Any

from csp.decorators import csp_update
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from adverse_events.services import dlt as dlt_services
from crf import display
from endpoints import dashboards, plots, selectors
from endpoints.models import EndpointRun
from study import access
from study.models import Study
from study.roles import Action

#: Response categories of the contract tables, in reading order, with their words.
RESPONSE_CATEGORIES = {
    "cr_mrd_negative": gettext_lazy("CR, MRD-negative"),
    "cr_mrd_positive_or_unknown": gettext_lazy("CR, MRD-positive or unknown"),
    "cri_mrd_negative": gettext_lazy("CRi, MRD-negative"),
    "cri_mrd_positive_or_unknown": gettext_lazy("CRi, MRD-positive or unknown"),
    "pr": gettext_lazy("Partial response (PR)"),
    "nr": gettext_lazy("No response (NR)"),
    "pd": gettext_lazy("Progressive disease (PD)"),
    "not_assessed": gettext_lazy("Not assessed"),
}
SVG = "image/svg+xml; charset=utf-8"
#: The SVG of a plot is a document of its own: its matplotlib <style> is allowed, nothing else.
svg_csp = csp_update({"style-src": ["'unsafe-inline'"]})


def _study_or_refuse(request: HttpRequest, action: Action) -> Study:
    study = dashboards.study_for(request.user, action, request.GET.get("study"))
    if study is None:
        if access.studies_visible_to(request.user).exists():
            raise PermissionDenied
        raise Http404
    return study


def _drawn_once(kind: str, inputs: Any, draw: Any) -> str:
    """The SVG of a live plot, drawn by matplotlib only when its inputs (and the language) change:
    cached under the SHA-256 of the inputs, so the same data give the same bytes, fast."""
    digest = hashlib.sha256(repr((kind, get_language(), inputs)).encode()).hexdigest()
    key = f"dashboard-plot:{digest}"
    svg = cache.get(key)
    if svg is None:
        svg = draw()
        cache.set(key, svg, timeout=24 * 3600)
    return str(svg)


def _svg_response(svg: str) -> HttpResponse:
    response = HttpResponse(svg, content_type=SVG)
    response["Cache-Control"] = "private, no-cache"
    return response


# --- safety dashboard ---------------------------------------------------------------------------


@login_required
def safety_dashboard(request: HttpRequest) -> HttpResponse:
    study = _study_or_refuse(request, Action.VIEW_SAFETY)
    now = timezone.now()
    can_view_crf = access.can_anywhere(request.user, Action.VIEW_CRF, study=study)
    sae_total, sae_clocks = dashboards.saes_awaiting_report(request.user, study, now=now)
    sites = dashboards.site_counts(request.user, study, now=now) if can_view_crf else []
    page, courses = dashboards.subject_page(request.user, study, request.GET.get("page"))
    run = dashboards.latest_run(study)
    levels, missing_settings = dlt_services.dose_level_monitor_or_reason(study)
    if missing_settings:
        messages.warning(request, missing_settings)
    incidence = []
    if run is not None:
        table = dashboards.run_tables(run).get("teae_by_term")
        incidence = [row for row in (table or {}).get("rows", []) if row.get("population") == "infused"]
    context = {
        "study": study,
        "now": now,
        "can_view_crf": can_view_crf,
        "sae_total": sae_total,
        "sae_clocks": sae_clocks,
        "levels": levels,
        "overdue_total": sum(site.overdue for site in sites),
        "overdue": dashboards.overdue_visits(request.user, study, now=now) if can_view_crf else [],
        "sites": sites,
        "page": page,
        "courses": courses,
        "heat_days": list(dashboards.HEAT_DAYS),
        "run": run,
        # DESIGN §4a: run results are for investigators, data managers, statisticians and admins;
        # no link its reader cannot follow (issue 24 item 5)
        "can_view_run": access.can_anywhere(request.user, Action.VIEW_ENDPOINT_RESULTS, study=study),
        "cut": dashboards.run_cut(run) if run is not None else {},
        "incidence": incidence,
        "grades": [1, 2, 3, 4, 5],
    }
    return render(request, "endpoints/safety_dashboard.html", context)


def swimmer_labels() -> dict[str, str]:
    return {
        "x": _("Days from CAR-T infusion (day 0)"),
        "follow": _("Follow-up (to death or last contact)"),
        "crs": _("CRS episode"),
        "icans": _("ICANS episode"),
        "cr": _("CR / CRi"),
        "pr": _("PR"),
        "nr": _("NR / PD"),
        "relapse": _("Relapse"),
        "hsct": _("HSCT"),
        "death": _("Death"),
        "alive": _("Alive at last contact"),
    }


@login_required
@svg_csp
def swimmer_svg(request: HttpRequest) -> HttpResponse:
    """The swimmer plot of one page of subjects (the same page as the dashboard's), live."""
    study = _study_or_refuse(request, Action.VIEW_SAFETY)
    _page, courses = dashboards.subject_page(request.user, study, request.GET.get("page"))
    lanes = [
        plots.Lane(
            label=course.label,
            end_day=course.end_day,
            died=course.death_day is not None,
            crs=course.crs_episodes,
            icans=course.icans_episodes,
            responses=course.responses,
            relapses=course.relapses,
            hsct=course.hsct,
        )
        for course in courses
    ]
    svg = _drawn_once(
        "swimmer",
        lanes,
        lambda: plots.swimmer(
            lanes=lanes,
            labels=swimmer_labels(),
            title=_("Swimmer plot from CAR-T infusion"),
            description=_(
                "One lane per subject from day 0 to death or last contact, with CRS and ICANS episodes, "
                "responses, relapses and HSCT; the table beside it lists the same events."
            ),
        ),
    )
    return _svg_response(svg)


# --- response and survival ----------------------------------------------------------------------

KM_KEYS = ("os_km", "os_at_risk", "os_summary")


def _x_max(tables: dict[str, Any]) -> float:
    """Days shown: to the last month of the numbers at risk, or the last time, whichever is later."""
    days = [int(r["day"]) for r in tables.get("os_at_risk", {}).get("rows", [])]
    times = [int(r["time"]) for key in ("os_km", "relapse_cif") for r in tables.get(key, {}).get("rows", [])]
    return float(max([30, *days, *times]))


def _run_plot_svg(run: EndpointRun, name: str) -> str | None:
    tables = dashboards.run_tables(run)
    x_max = _x_max(tables)
    if name == "os-km" and "os_km" in tables:
        at_risk = [(float(r["day"]), str(r["at_risk"])) for r in tables.get("os_at_risk", {}).get("rows", [])]
        return plots.step_plot(
            curve=plots.km_curve(tables["os_km"]),
            x_max=x_max,
            title=_("Overall survival (Kaplan–Meier)"),
            description=_(
                "Kaplan–Meier estimate of overall survival from CAR-T infusion with its 95%% confidence band, "
                "censoring marks and the numbers at risk by month; cut-off %(cutoff)s."
            )
            % {"cutoff": run.cutoff_date.isoformat()},
            y_label=_("Probability of survival"),
            x_label=_("Days from CAR-T infusion (day 0); numbers at risk every 30.4 days"),
            estimate_label=_("Kaplan–Meier estimate"),
            band_label=_("Confidence band (95%)"),
            censor_label=_("Censored"),
            at_risk=at_risk,
            at_risk_label=_("At risk"),
            gid="km",
        )
    if name == "relapse-cif" and "relapse_cif" in tables:
        cif_at_risk = [(float(r["day"]), str(r["relapse_cif"])) for r in tables.get("at_risk", {}).get("rows", [])]
        return plots.step_plot(
            curve=plots.cif_curve(tables["relapse_cif"]),
            x_max=x_max,
            title=_("Cumulative incidence of relapse"),
            description=_(
                "Aalen–Johansen cumulative incidence of relapse from CAR-T infusion, with death without relapse "
                "as the competing event, and its 95%% confidence band; cut-off %(cutoff)s."
            )
            % {"cutoff": run.cutoff_date.isoformat()},
            y_label=_("Cumulative incidence of relapse"),
            x_label=_("Days from CAR-T infusion (day 0)"),
            estimate_label=_("Cumulative incidence"),
            band_label=_("Confidence band (95%)"),
            censor_label=_("Censored"),
            at_risk=cif_at_risk,
            at_risk_label=_("At risk"),
            gid="cif",
        )
    if name == "response" and ("best_response" in tables or "day28_response" in tables):
        series = [
            (str(label), tables[key]["rows"])
            for key, label in (
                ("best_response", _("Best response within 1 year")),
                ("day28_response", _("Response at day 28")),
            )
            if key in tables
        ]
        return plots.response_bars(
            categories=[(code, str(word)) for code, word in RESPONSE_CATEGORIES.items()],
            series=series,
            title=_("Response"),
            description=_(
                "Subjects by best response within one year and by response at day 28, in percent of the infused."
            ),
            x_label=_("Subjects (percentage of the infused)"),
        )
    return None


@login_required
@svg_csp
def run_plot(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    """A plot of a run's tables, cached per run, its tables' hash and the language: the same run
    gives the same bytes."""
    run = selectors.access_run(request.user, pk)
    if not run.has_results:
        raise Http404
    key = f"endpoint-plot:{run.pk}:{run.results_sha256}:{name}:{get_language()}"
    svg = cache.get(key)
    if svg is None:
        svg = _run_plot_svg(run, name)
        if svg is None:
            raise Http404
        cache.set(key, svg, timeout=None)
    return _svg_response(svg)


def _response_rows(tables: dict[str, Any]) -> list[dict[str, Any]]:
    best = {r["category"]: r for r in tables.get("best_response", {}).get("rows", [])}
    day28 = {r["category"]: r for r in tables.get("day28_response", {}).get("rows", [])}
    return [
        {"label": label, "best": best.get(code), "day28": day28.get(code)}
        for code, label in RESPONSE_CATEGORIES.items()
        if code in best or code in day28
    ]


@login_required
def efficacy(request: HttpRequest) -> HttpResponse:
    """Response and survival from the latest successful endpoint run (DESIGN §5)."""
    study = _study_or_refuse(request, Action.VIEW_ENDPOINT_RESULTS)
    run = dashboards.latest_run(study)
    tables = dashboards.run_tables(run) if run is not None else {}
    summary = {r["statistic"]: r for r in tables.get("os_summary", {}).get("rows", [])}
    cut = dashboards.run_cut(run) if run is not None else {}
    snapshot = parse_datetime(cut.get("snapshot_at", "") or "")
    context = {
        "study": study,
        "run": run,
        "snapshot": display.when(snapshot) if snapshot else "",  # the reader's zone, named (issue 25)
        "km": tables.get("os_km", {}).get("rows", []),
        "at_risk": tables.get("os_at_risk", {}).get("rows", []),
        "survival_365": summary.get("survival_365"),
        "median": summary.get("median_days"),
        "cif": tables.get("relapse_cif", {}).get("rows", []),
        "responses": _response_rows(tables),
        # runs before issue 30 stored proportions; since, percent with one decimal
        "km_percent": tables.get("os_km", {}).get("probability_unit") == "percent",
        "cif_percent": tables.get("relapse_cif", {}).get("probability_unit") == "percent",
        "has_km": "os_km" in tables,
        "has_cif": "relapse_cif" in tables,
        "has_response": "best_response" in tables or "day28_response" in tables,
    }
    return render(request, "endpoints/efficacy.html", context)


# --- study overview -----------------------------------------------------------------------------


def _overview_study(request: HttpRequest) -> Study:
    studies = access.studies_visible_to(request.user).order_by("code")
    study = next((s for s in studies if s.code == request.GET.get("study")), None) or studies.first()
    if study is None:
        raise Http404
    return study


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """Enrolment over time and, per site, forms overdue and queries open (live), for every role
    at the study; overdue forms and queries only where the user may view CRF pages."""
    study = _overview_study(request)
    now = timezone.now()
    enrolment = dashboards.enrolment_by_date(request.user, study)
    cumulative = []
    totals = {"enrolled": 0, "infused": 0}
    dates = sorted({d for series in enrolment.values() for d, _n in series})
    by_date = {name: dict(series) for name, series in enrolment.items()}
    for day in dates:
        for name in totals:
            totals[name] += by_date[name].get(day, 0)
        cumulative.append({"date": day, **totals})
    context = {
        "study": study,
        "sites": dashboards.site_counts(request.user, study, now=now),
        "can_view_crf": access.can_anywhere(request.user, Action.VIEW_CRF, study=study),
        "enrolment": cumulative,
        "planned": study.planned_subjects,
    }
    return render(request, "endpoints/overview.html", context)


@login_required
@svg_csp
def enrolment_svg(request: HttpRequest) -> HttpResponse:
    study = _overview_study(request)
    enrolment = dashboards.enrolment_by_date(request.user, study)
    svg = _drawn_once(
        "enrolment",
        enrolment,
        lambda: plots.cumulative_lines(
            series=[(_("Enrolled"), enrolment["enrolled"]), (_("Infused (day 0)"), enrolment["infused"])],
            title=_("Enrolment over time"),
            description=_("Cumulative number of subjects enrolled and infused by calendar date at your sites."),
            y_label=_("Subjects (cumulative)"),
            x_label=_("Date"),
        ),
    )
    return _svg_response(svg)
