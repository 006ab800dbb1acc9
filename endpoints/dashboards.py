"""Reads behind the investigators' dashboards (issue 13; DESIGN §5 "Dashboards read the latest
successful run, except the live widgets").

From the latest successful endpoint run: the survival and response page (os_km, os_at_risk,
os_summary, relapse_cif, best_response, day28_response — the contract tables) and the AE
incidence table (teae_by_term). Live from the database at request time: SAEs awaiting report
with their 24-hour clocks, DLT status per dose level, overdue forms and open queries; and the
per-subject heat strip and swimmer lanes, one page of ≤ 50 subjects at a time, because no run
table carries per-subject day-by-day grades (a deviation from §5 the issue note states).

Every read starts from the visibility gate (`subjects_visible_to`, `study.access`), and each
function costs a fixed number of queries whatever the number of subjects on the study.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Max, Q, QuerySet

from adverse_events.models import CrsAssessment, CrsEpisode, IcansAssessment, IcansEpisode, SaeReport
from clinical.schedule import VisitState
from crf.models import ACTIVE_QUERY_STATUSES, QueryStatus
from crf.queries import queries_for
from endpoints.models import EndpointRun, RunStatus
from response.models import MarrowAssessment, Relapse, ResponseCategory
from study import access
from study.access import subjects_visible_to
from study.models import Study
from study.roles import Action
from subjects.models import Subject
from subjects.selectors import open_visits
from survival.models import Death, FollowUpContact, SubsequentTherapy, TherapyType

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from study.models import User

#: Per-subject views page at most this many subjects (issue 13).
SUBJECTS_PER_PAGE = 50
#: The heat strip covers study days 0–30 (issue 13, CLINICAL_SPEC §9 Day-0 clock).
HEAT_DAYS = range(0, 31)
#: Rows shown in a live list (the count beside it is of all of them).
LIST_LIMIT = 20


# --- the latest successful run ------------------------------------------------------------------


def latest_run(study: Study) -> EndpointRun | None:
    """The study's most recent successful run that still has its tables (one query)."""
    return (
        EndpointRun.objects.filter(study=study, status=RunStatus.SUCCEEDED)
        .exclude(results_json="")
        .defer("results_csv", "results_xlsx")
        .order_by("-finished_at", "-pk")
        .first()
    )


def run_tables(run: EndpointRun) -> dict[str, dict[str, Any]]:
    """The run's tables by key."""
    document = json.loads(run.results_json)
    return {table["key"]: table for table in document["tables"]}


def run_cut(run: EndpointRun) -> dict[str, Any]:
    return dict(json.loads(run.results_json)["cut"])


def study_for(user: User | AnonymousUser, action: Action, code: str | None = None) -> Study | None:
    """The study (by code, else the first) where the user may do `action`; None when none."""
    studies = [
        s for s in access.studies_visible_to(user).order_by("code") if access.can_anywhere(user, action, study=s)
    ]
    return next((s for s in studies if s.code == code), studies[0] if studies else None)


# --- live widgets -------------------------------------------------------------------------------


@dataclass
class SaeClock:
    report: SaeReport
    overdue: bool
    hours: int
    minutes: int


def saes_awaiting_report(user: User | AnonymousUser, study: Study, *, now: datetime) -> tuple[int, list[SaeClock]]:
    """SAEs of visible subjects (sites where the user may view safety) not yet marked reported to
    the sponsor, most urgent first, with the 24-hour clock (CLINICAL_SPEC §3). Two queries."""
    sites = access.sites_where(user, Action.VIEW_SAFETY).filter(study=study)
    pending = SaeReport.objects.filter(
        reported_at__isnull=True,
        adverse_event__entered_in_error=False,
        adverse_event__serious=True,
        adverse_event__subject__in=subjects_visible_to(user).filter(site__in=sites),
    )
    total = pending.count()
    clocks = []
    for report in pending.select_related("adverse_event", "adverse_event__subject").order_by("aware_at", "pk")[
        :LIST_LIMIT
    ]:
        remaining = report.due_at - now
        seconds = abs(remaining.total_seconds())
        clocks.append(
            SaeClock(
                report=report,
                overdue=remaining.total_seconds() < 0,
                hours=int(seconds // 3600),
                minutes=int(seconds % 3600 // 60),
            )
        )
    return total, clocks


@dataclass
class SiteCounts:
    code: str
    name: str
    name_zh: str
    overdue: int = 0
    due: int = 0
    open_queries: int = 0
    answered_queries: int = 0
    enrolled: int = 0
    infused: int = 0


def overdue_visits(user: User | AnonymousUser, study: Study, *, now: datetime) -> list[Any]:
    """The LIST_LIMIT oldest overdue visits of the study (forms expected at a visit whose window
    has closed, `subjects.selectors.open_visits`: the worklist's rule in SQL); how many there are
    comes from `site_counts`. One query whatever the study size."""
    overdue = open_visits(user, now=now, study_id=study.pk).filter(open_state=VisitState.OVERDUE.value)
    return list(
        overdue.select_related("definition", "subject", "subject__site").order_by(
            "planned_date", "subject__subject_id", "definition__order"
        )[:LIST_LIMIT]
    )


def site_counts(user: User | AnonymousUser, study: Study, *, now: datetime) -> list[SiteCounts]:
    """Per visible site of the study: overdue and due visits, open and answered queries, enrolled
    and infused subjects. Aggregated in the database: four queries whatever the study size."""
    sites = {
        site.code: SiteCounts(code=site.code, name=site.name, name_zh=site.name_zh)
        for site in access.sites_visible_to(user).filter(study=study).order_by("code")
    }
    visits = (
        open_visits(user, now=now, study_id=study.pk)
        .values("subject__site__code")
        .annotate(
            overdue=Count("pk", filter=Q(open_state=VisitState.OVERDUE.value)),
            due=Count("pk", filter=Q(open_state=VisitState.DUE.value)),
        )
    )
    for entry in visits:
        row = sites.get(entry["subject__site__code"])
        if row is not None:
            row.overdue = entry["overdue"]
            row.due = entry["due"]
    queries = (
        queries_for(user, statuses=ACTIVE_QUERY_STATUSES, now=now)
        .filter(subject__site__study=study)
        .order_by()
        .values("subject__site__code")
        .annotate(
            open=Count("pk", filter=Q(status=QueryStatus.OPEN)),
            answered=Count("pk", filter=Q(status=QueryStatus.ANSWERED)),
        )
    )
    for entry in queries:
        row = sites.get(entry["subject__site__code"])
        if row is not None:
            row.open_queries = entry["open"]
            row.answered_queries = entry["answered"]
    subjects = (
        subjects_visible_to(user)
        .filter(site__study=study)
        .order_by()
        .values("site__code")
        .annotate(
            enrolled=Count("pk", filter=Q(enrolled_on__isnull=False)),
            infused=Count("pk", filter=Q(infusion_date__isnull=False)),
        )
    )
    for entry in subjects:
        row = sites.get(entry["site__code"])
        if row is not None:
            row.enrolled = entry["enrolled"]
            row.infused = entry["infused"]
    return list(sites.values())


def enrolment_by_date(user: User | AnonymousUser, study: Study) -> dict[str, list[tuple[date, int]]]:
    """Subjects enrolled and first infused per calendar date at the visible sites of the study
    (aggregated in the database: one row per date, whatever the number of subjects). Two queries."""
    visible = subjects_visible_to(user).filter(site__study=study).order_by()
    return {
        "enrolled": [
            (row["enrolled_on"], row["n"])
            for row in visible.filter(enrolled_on__isnull=False)
            .values("enrolled_on")
            .annotate(n=Count("pk"))
            .order_by("enrolled_on")
        ],
        "infused": [
            (row["infusion_date"], row["n"])
            for row in visible.filter(infusion_date__isnull=False)
            .values("infusion_date")
            .annotate(n=Count("pk"))
            .order_by("infusion_date")
        ],
    }


# --- one page of subjects: heat strip and swimmer lanes ------------------------------------------


@dataclass
class SubjectCourse:
    """One infused subject on the Day-0 clock, as the safety dashboard draws it."""

    subject: Subject
    crs: dict[int, int] = field(default_factory=dict)  # study day → worst grade that day
    icans: dict[int, int] = field(default_factory=dict)
    crs_episodes: list[tuple[int, int, int]] = field(default_factory=list)  # onset, last day, grade
    icans_episodes: list[tuple[int, int, int]] = field(default_factory=list)
    responses: list[tuple[int, str]] = field(default_factory=list)
    relapses: list[int] = field(default_factory=list)
    hsct: list[int] = field(default_factory=list)
    death_day: int | None = None
    last_contact_day: int | None = None

    @property
    def label(self) -> str:
        return self.subject.subject_id or self.subject.screening_number or str(self.subject.pk)

    @property
    def end_day(self) -> int:
        """Death, else the latest day known alive (last contact, assessment or event)."""
        if self.death_day is not None:
            return self.death_day
        known = [
            self.last_contact_day or 0,
            *self.crs,
            *self.icans,
            *(d for d, _c in self.responses),
            *self.relapses,
            *self.hsct,
        ]
        return max(known)

    @property
    def events(self) -> list[tuple[int, str]]:
        """(study day, what) of responses, relapses and HSCT in day order: responses by their
        international abbreviations (CR, CRi, PR, NR, PD) as investigators write them, relapse
        in the page's language (once per day, whether from the marrow or the relapse form)."""
        relapse = str(ResponseCategory.RELAPSE.label)
        found = [(day, relapse if code == ResponseCategory.RELAPSE else code) for day, code in self.responses]
        found += [(day, relapse) for day in self.relapses]
        found += [(day, "HSCT") for day in self.hsct]
        return sorted(set(found))

    @property
    def crs_strip(self) -> list[int | None]:
        """Worst CRS grade of each study day 0–30 (None: not assessed that day)."""
        return [self.crs.get(day) for day in HEAT_DAYS]

    @property
    def icans_strip(self) -> list[int | None]:
        return [self.icans.get(day) for day in HEAT_DAYS]


def infused_subjects(user: User | AnonymousUser, study: Study) -> QuerySet[Subject]:
    """Infused subjects of the study at sites where the user may view safety, by subject ID."""
    sites = access.sites_where(user, Action.VIEW_SAFETY).filter(study=study)
    return subjects_visible_to(user).filter(site__in=sites, infusion_date__isnull=False).order_by("subject_id", "pk")


def subject_page(user: User | AnonymousUser, study: Study, number: Any) -> tuple[Page[Subject], list[SubjectCourse]]:
    """One page (≤ SUBJECTS_PER_PAGE) of infused subjects with their courses, in a fixed number
    of queries (one per source table) whatever the page or study size."""
    page = Paginator(infused_subjects(user, study), SUBJECTS_PER_PAGE).get_page(number)
    courses = {subject.pk: SubjectCourse(subject=subject) for subject in page.object_list}
    ids = list(courses)
    day0 = {pk: course.subject.infusion_date for pk, course in courses.items()}

    def day(pk: int, when: date) -> int:
        start = day0[pk]
        assert start is not None
        return (when - start).days

    for model, attribute in ((CrsAssessment, "crs"), (IcansAssessment, "icans")):
        for row in (
            model.objects.filter(
                subject_id__in=ids,
                entered_in_error=False,
                study_day__gte=HEAT_DAYS.start,
                study_day__lt=HEAT_DAYS.stop,
                grade__isnull=False,
            )
            .values("subject_id", "study_day")
            .annotate(worst=Max("grade"))
            .order_by()
        ):
            getattr(courses[row["subject_id"]], attribute)[row["study_day"]] = row["worst"]
    for model, attribute in ((CrsEpisode, "crs_episodes"), (IcansEpisode, "icans_episodes")):
        for episode in model.objects.filter(subject_id__in=ids, superseded=False).order_by("subject_id", "number"):
            # the last day at grade ≥ 1 (§1.3): `resolved_date` is the first day back at grade 0
            getattr(courses[episode.subject_id], attribute).append(
                (episode.onset_day, day(episode.subject_id, episode.last_date), episode.grade)
            )
    for marrow in (
        MarrowAssessment.objects.filter(subject_id__in=ids, entered_in_error=False, is_baseline=False)
        .exclude(response="", adjudicated_response="")
        .only("subject_id", "assessment_date", "response", "adjudicated_response")
        .order_by("subject_id", "assessment_date", "pk")
    ):
        courses[marrow.subject_id].responses.append(
            (day(marrow.subject_id, marrow.assessment_date), marrow.final_response)
        )
    for subject_id, when in (
        Relapse.objects.filter(subject_id__in=ids, entered_in_error=False)
        .order_by("subject_id", "relapse_date")
        .values_list("subject_id", "relapse_date")
    ):
        courses[subject_id].relapses.append(day(subject_id, when))
    for subject_id, when in (
        SubsequentTherapy.objects.filter(subject_id__in=ids, entered_in_error=False, therapy_type=TherapyType.HSCT)
        .order_by("subject_id", "start_date")
        .values_list("subject_id", "start_date")
    ):
        courses[subject_id].hsct.append(day(subject_id, when))
    for subject_id, when in (
        Death.objects.filter(subject_id__in=ids, entered_in_error=False)
        .order_by("subject_id", "death_date")
        .values_list("subject_id", "death_date")
    ):
        if courses[subject_id].death_day is None:
            courses[subject_id].death_day = day(subject_id, when)
    for row in (
        FollowUpContact.objects.filter(subject_id__in=ids, entered_in_error=False, alive=True)
        .values("subject_id")
        .annotate(last=Max("contact_date"))
        .order_by()
    ):
        courses[row["subject_id"]].last_contact_day = day(row["subject_id"], row["last"])
    return page, list(courses.values())


def grade_counts(courses: list[SubjectCourse]) -> dict[str, dict[int, int]]:
    """Subjects of the page by their worst CRS and ICANS grade over days 0–30."""
    counts: dict[str, dict[int, int]] = {"crs": defaultdict(int), "icans": defaultdict(int)}
    for course in courses:
        for kind in ("crs", "icans"):
            daily = course.crs if kind == "crs" else course.icans
            if daily:
                counts[kind][max(daily.values())] += 1
    return {kind: dict(values) for kind, values in counts.items()}
