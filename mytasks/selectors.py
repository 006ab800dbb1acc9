"""My tasks (issue 31 item 2): what each signed-in user has to do today, per role, each item
linking to where it is done.

- research coordinator: due and overdue visits with their missing forms, queries awaiting an
  answer (oldest first, with age in days), the user's unsaved drafts, broken signatures on the
  site's subjects;
- monitor: forms the SDV plan selects that no whole-form mark covers, answered queries to close
  (and the data manager the same queries: closing is theirs too, DESIGN §4a);
- investigator: casebooks (visits, forms) to sign again after a change broke the signature,
  casebooks of subjects whose participation ended that nobody signed, DLT candidates awaiting
  adjudication.

Each section reuses the rule that already exists for it — the worklist's due/overdue visits
(`subjects.selectors.due_and_overdue`, and `open_visits` for counting), the casebook's missing
forms (`subjects.assessments`), the query list's aging (`crf.queries.aged`),
the SDV worklist's rule (`crf.sdv.pending_verification`), `datamanagement.signatures` — and
every read starts from the visibility gate (`study.access.subjects_visible_to`) narrowed
to the sites where the user holds the role the section is for.

`task_counts` gives the top bar its numbers in a fixed number of SQL queries whatever the
number of subjects and items: one for the memberships (with their sites' zones and studies),
one for the SDV plans (monitors only), and one statement counting every section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.db.models import CharField, F, Func, IntegerField, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from adverse_events.models import CandidateStatus, DltCandidate
from clinical.schedule import VisitState
from crf import sdv
from crf.models import FormDraft, Query, QueryStatus
from crf.queries import aged
from crf.registry import crf_model, crf_models
from crf.selectors import query_label, query_link
from datamanagement.models import Signature, SignatureScope
from datamanagement.signatures import latest_broken
from study import access
from study.access import subjects_visible_to
from study.roles import Role
from subjects.assessments import ExpectedForm, schedules_of_subjects
from subjects.models import Subject
from subjects.selectors import WorklistItem, due_and_overdue, open_visits

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from crf.models import CrfInstance
    from study.models import User


def clock() -> datetime:
    """The page's and the top bar's "now": a seam, so tests read the lists on a fixed day."""
    return timezone.now()


#: A subject whose participation ended after enrolment: the casebook is complete and waits for
#: the investigator's signature (a screen failure's is not signed).
ENDED_AFTER_ENROLMENT = ("completed", "withdrawn", "died", "lost", "not_infused")


@dataclass(frozen=True)
class RoleSites:
    """The sites (ids) where the user holds each role the task list serves, with every site's
    time zone and study."""

    coordinator: tuple[int, ...] = ()
    monitor: tuple[int, ...] = ()
    closes_queries: tuple[int, ...] = ()
    investigator: tuple[int, ...] = ()
    zones: dict[int, str] = field(default_factory=dict)
    studies: dict[int, int] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return bool(self.coordinator or self.monitor or self.closes_queries or self.investigator)


def role_sites(user: User | AnonymousUser) -> RoleSites:
    """One query: the user's active memberships, by role."""
    found: dict[str, set[int]] = {}
    zones: dict[int, str] = {}
    studies: dict[int, int] = {}
    rows = access.active_memberships(user).values_list("role", "site_id", "site__time_zone", "site__study_id")
    for role, site_id, zone, study_id in rows:
        found.setdefault(role, set()).add(site_id)
        zones[site_id] = zone
        studies[site_id] = study_id

    def of(*roles: str) -> tuple[int, ...]:
        return tuple(sorted(set().union(*(found.get(role, set()) for role in roles))))

    return RoleSites(
        coordinator=of(Role.COORDINATOR),
        monitor=of(Role.MONITOR),
        closes_queries=of(Role.MONITOR, Role.DATA_MANAGER),
        investigator=of(Role.INVESTIGATOR),
        zones=zones,
        studies=studies,
    )


def _subjects(user: User | AnonymousUser, site_ids: tuple[int, ...]) -> QuerySet[Subject]:
    """The gate, narrowed to the sites of one role."""
    return subjects_visible_to(user).filter(site_id__in=site_ids)


# --- one query set per section: the lists and the counts read the same ones ------------------


def visits_to_do(user: User | AnonymousUser, sites: RoleSites, *, now: datetime) -> QuerySet[Any]:
    """Due and overdue visits at the coordinator's sites (`open_visits`, the worklist's rule)."""
    return open_visits(user, now=now, sites=[(pk, sites.zones[pk]) for pk in sites.coordinator])


def queries_to_answer(user: User | AnonymousUser, sites: RoleSites, *, now: datetime) -> QuerySet[Query]:
    """Open queries on the coordinator's subjects, oldest first, with `days_open` (the query
    list's aging, `crf.queries.aged`)."""
    return aged(Query.objects.filter(subject__in=_subjects(user, sites.coordinator), status=QueryStatus.OPEN), now=now)


def queries_to_close(user: User | AnonymousUser, sites: RoleSites, *, now: datetime) -> QuerySet[Query]:
    """Answered queries the user may close (DESIGN §4a; `crf.queries._require_manager`): their
    own, and the automatic ones, at sites where they are a monitor or data manager."""
    mine = Query.objects.filter(
        Q(rule_code__gt="") | Q(raised_by_id=user.pk),
        subject__in=_subjects(user, sites.closes_queries),
        status=QueryStatus.ANSWERED,
    )
    return aged(mine, now=now)


#: the subject's pk in a form page's path (`subjects:form_new`, `subjects:form_edit`)
_FORM_PATH = r"^/subjects/([0-9]+)/forms/"


def drafts_kept(user: User | AnonymousUser, sites: RoleSites) -> QuerySet[FormDraft]:
    """The user's unsaved drafts of form pages of subjects they may still see as a coordinator,
    oldest first."""
    pattern = Value(_FORM_PATH, output_field=CharField())
    subject_pk = Cast(Func(F("path"), pattern, function="substring"), IntegerField())
    return (
        FormDraft.objects.filter(user_id=user.pk or 0)
        .annotate(subject_pk=subject_pk)
        .filter(subject_pk__in=_subjects(user, sites.coordinator).values("pk"))
        .order_by("saved_at", "pk")
    )


def broken_signatures(user: User | AnonymousUser, site_ids: tuple[int, ...]) -> QuerySet[Signature]:
    """Broken signatures still the latest of their target, on subjects of `site_ids`, oldest
    break first."""
    return (
        latest_broken(Signature.objects.filter(subject__in=_subjects(user, site_ids)))
        .select_related("subject__site", "visit__definition", "content_type")
        .order_by("broken_at", "pk")
    )


def casebooks_unsigned(user: User | AnonymousUser, sites: RoleSites) -> QuerySet[Subject]:
    """Subjects at the investigator's sites whose participation ended after enrolment and whose
    casebook nobody has signed yet."""
    signed = Signature.objects.filter(scope=SignatureScope.CASEBOOK).values("subject_id")
    return (
        _subjects(user, sites.investigator)
        .filter(status__in=ENDED_AFTER_ENROLMENT)
        .exclude(pk__in=signed)
        .order_by("status_date", "subject_id")
    )


def dlt_awaiting(user: User | AnonymousUser, sites: RoleSites) -> QuerySet[DltCandidate]:
    """DLT candidates awaiting adjudication at the investigator's sites, oldest flag first."""
    return (
        DltCandidate.objects.filter(
            subject__in=_subjects(user, sites.investigator), status=CandidateStatus.AWAITING, withdrawn=False
        )
        .select_related("subject__site")
        .order_by("flagged_at", "pk")
    )


def sdv_plans(sites: RoleSites) -> dict[int, Any]:
    """The SDV plan of each study where the user is a monitor (study id → plan), one query."""
    return sdv.plans_for(sites.studies[pk] for pk in sites.monitor)


def forms_to_verify(user: User | AnonymousUser, sites: RoleSites, plans: dict[int, Any]) -> list[QuerySet[Any]]:
    """Per form type, the forms at the monitor's sites the SDV plan selects and no whole-form
    mark covers (`crf.sdv.pending_verification`)."""
    if not sites.monitor:
        return []
    subjects = _subjects(user, sites.monitor)
    return [sdv.pending_verification(model, plans, subjects) for model in crf_models().values()]


# --- counts ------------------------------------------------------------------------------------


class _Count(Subquery):
    template = "(SELECT count(*) FROM (%(subquery)s) _counted)"
    output_field = IntegerField()


@dataclass
class TaskCounts:
    visits: int = 0
    queries_to_answer: int = 0
    drafts: int = 0
    broken_signatures: int = 0
    forms_to_verify: int = 0
    queries_to_close: int = 0
    to_sign: int = 0
    dlt_candidates: int = 0

    @property
    def total(self) -> int:
        return (
            self.visits
            + self.queries_to_answer
            + self.drafts
            + self.broken_signatures
            + self.forms_to_verify
            + self.queries_to_close
            + self.to_sign
            + self.dlt_candidates
        )


#: how long a count that includes forms to verify (the costly SDV sample) is kept for the top bar
COUNT_SECONDS = 60


def count_key(user_pk: int) -> str:
    """The cache key of a user's top-bar count (mytasks templatetag; the page refreshes it)."""
    return f"mytasks:count:{user_pk}"


def task_counts(user: User | AnonymousUser, *, now: datetime) -> TaskCounts | None:
    """Every section's number of items, in one SQL statement after the memberships, sites and
    SDV plans are read — the same number of queries for 1 subject or 10,000. None for a user
    with no role the task list serves."""
    from study.models import User as UserModel

    sites = role_sites(user)
    if not sites.any:
        return None
    counted: dict[str, QuerySet[Any]] = {}
    if sites.coordinator:
        counted["visits"] = visits_to_do(user, sites, now=now)
        counted["queries_to_answer"] = queries_to_answer(user, sites, now=now)
        counted["drafts"] = drafts_kept(user, sites)
        counted["broken_signatures"] = broken_signatures(user, sites.coordinator)
    if sites.closes_queries:
        counted["queries_to_close"] = queries_to_close(user, sites, now=now)
    if sites.investigator:
        counted["resign"] = broken_signatures(user, sites.investigator)
        counted["unsigned"] = casebooks_unsigned(user, sites)
        counted["dlt_candidates"] = dlt_awaiting(user, sites)
    plans = sdv_plans(sites) if sites.monitor else {}
    for n, found in enumerate(forms_to_verify(user, sites, plans)):
        counted[f"sdv_{n}"] = found
    row = (
        UserModel.objects.filter(pk=user.pk or 0)
        .annotate(**{key: _Count(found.order_by().values("pk")) for key, found in counted.items()})
        .values(*counted)
        .get()
    )
    return TaskCounts(
        visits=row.get("visits", 0),
        queries_to_answer=row.get("queries_to_answer", 0),
        drafts=row.get("drafts", 0),
        broken_signatures=row.get("broken_signatures", 0),
        forms_to_verify=sum(value for key, value in row.items() if key.startswith("sdv_")),
        queries_to_close=row.get("queries_to_close", 0),
        to_sign=row.get("resign", 0) + row.get("unsigned", 0),
        dlt_candidates=row.get("dlt_candidates", 0),
    )


# --- the page's items --------------------------------------------------------------------------


@dataclass
class VisitTask:
    item: WorklistItem
    #: the expected forms not satisfied, as the casebook marks them
    missing: list[ExpectedForm]

    @property
    def overdue(self) -> bool:
        return self.item.state is VisitState.OVERDUE


@dataclass
class QueryTask:
    query: Query
    form_title: str
    field_label: str
    url: str


def _query_tasks(queries: QuerySet[Query]) -> list[QueryTask]:
    found = []
    for query in queries:
        title, label = query_label(query)
        found.append(QueryTask(query=query, form_title=title, field_label=label, url=query_link(query)))
    return found


@dataclass
class DraftTask:
    draft: FormDraft
    subject: Subject
    form_title: str


@dataclass
class VerifyTask:
    form: CrfInstance
    full: bool


@dataclass
class SignTask:
    """A casebook, visit or form to sign: again after a change (`signature` broken), or for the
    first time once the subject's participation ended."""

    subject: Subject
    signature: Signature | None
    url: str


@dataclass
class MyTasks:
    sites: RoleSites
    today: date
    visits: list[VisitTask] = field(default_factory=list)
    queries_to_answer: list[QueryTask] = field(default_factory=list)
    drafts: list[DraftTask] = field(default_factory=list)
    broken_signatures: list[Signature] = field(default_factory=list)
    forms_to_verify: list[VerifyTask] = field(default_factory=list)
    queries_to_close: list[QueryTask] = field(default_factory=list)
    to_sign: list[SignTask] = field(default_factory=list)
    dlt_candidates: list[DltCandidate] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (
            len(self.visits)
            + len(self.queries_to_answer)
            + len(self.drafts)
            + len(self.broken_signatures)
            + len(self.forms_to_verify)
            + len(self.queries_to_close)
            + len(self.to_sign)
            + len(self.dlt_candidates)
        )


def my_tasks(user: User | AnonymousUser, *, now: datetime) -> MyTasks:
    """The page: every section the user's roles call for, read in a fixed number of queries
    (one per form type for the missing forms and the SDV list, plus one per section)."""
    sites = role_sites(user)
    tasks = MyTasks(sites=sites, today=now.date())
    if sites.coordinator:
        tasks.visits = _visit_tasks(user, sites, now=now)
        tasks.queries_to_answer = _query_tasks(queries_to_answer(user, sites, now=now))
        tasks.drafts = _draft_tasks(user, sites)
        tasks.broken_signatures = list(broken_signatures(user, sites.coordinator))
    if sites.monitor:
        tasks.forms_to_verify = _verify_tasks(user, sites)
    if sites.closes_queries:
        tasks.queries_to_close = _query_tasks(queries_to_close(user, sites, now=now))
    if sites.investigator:
        tasks.to_sign = _sign_tasks(user, sites)
        tasks.dlt_candidates = list(dlt_awaiting(user, sites))
    return tasks


def _visit_tasks(user: User | AnonymousUser, sites: RoleSites, *, now: datetime) -> list[VisitTask]:
    items = [item for item in due_and_overdue(user, now=now) if item.visit.subject.site_id in sites.coordinator]
    subjects = list({item.visit.subject_id: item.visit.subject for item in items}.values())
    schedules = schedules_of_subjects(subjects, today_of={item.visit.subject_id: item.today for item in items})
    found = []
    for item in items:
        card = next(
            (c for c in schedules[item.visit.subject_id].cards if c.visit is not None and c.visit.pk == item.visit.pk),
            None,
        )
        found.append(VisitTask(item=item, missing=card.missing if card is not None else []))
    return found


def _draft_tasks(user: User | AnonymousUser, sites: RoleSites) -> list[DraftTask]:
    drafts = list(drafts_kept(user, sites))
    subjects = Subject.objects.select_related("site").in_bulk([d.subject_pk for d in drafts])  # type: ignore[attr-defined]
    found = []
    for draft in drafts:
        try:
            code = resolve(draft.path.split("?")[0]).kwargs.get("code", "")
        except Resolver404:
            code = ""
        model = crf_model(code)
        title = str(model.crf_title) if model is not None else code
        found.append(DraftTask(draft=draft, subject=subjects[draft.subject_pk], form_title=title))  # type: ignore[attr-defined]
    return found


def _verify_tasks(user: User | AnonymousUser, sites: RoleSites) -> list[VerifyTask]:
    plans = sdv_plans(sites)
    forms: list[CrfInstance] = []
    for found in forms_to_verify(user, sites, plans):
        forms.extend(found.select_related("subject__site").order_by("pk"))
    forms.sort(key=lambda f: (f.subject.subject_id or "", f.casebook_order, f.crf_code, f.pk))
    return [VerifyTask(form=form, full=form.crf_code in plans[form.subject.site.study_id].full_forms) for form in forms]


def sign_url(subject_pk: int, signature: Signature | None) -> str:
    """The signing page of a signature's target (the casebook when there is none yet)."""
    url = reverse("datamanagement:sign") + f"?subject={subject_pk}&scope="
    if signature is None or signature.scope == SignatureScope.CASEBOOK:
        return url + SignatureScope.CASEBOOK
    if signature.scope == SignatureScope.VISIT:
        return url + f"{SignatureScope.VISIT}&visit={signature.visit_id}"
    model = signature.content_type.model_class() if signature.content_type is not None else None
    return url + f"{SignatureScope.FORM}&code={getattr(model, 'crf_code', '')}&pk={signature.object_id}"


def _sign_tasks(user: User | AnonymousUser, sites: RoleSites) -> list[SignTask]:
    found = [
        SignTask(subject=s.subject, signature=s, url=sign_url(s.subject_id, s))
        for s in broken_signatures(user, sites.investigator)
    ]
    found += [
        SignTask(subject=subject, signature=None, url=sign_url(subject.pk, None))
        for subject in casebooks_unsigned(user, sites)
    ]
    return found
