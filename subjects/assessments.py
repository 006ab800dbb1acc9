"""The schedule of assessments applied to one subject (CLINICAL_SPEC §7.1; issue 24 item 1).

Which forms each visit expects comes from the study's effective-dated `AssessmentSchedule` (the
version in force on the visit's planned date). A form entered without a visit belongs to the
only visit expecting it (consent, eligibility, demographics… at screening), else to the visit
expecting it whose window holds its clinical date. Each visit's `forms_state` is re-derived
after every form save, entry in error and "not done" mark (`refresh_subject`), so the worklist
and dashboard counts of due and overdue visits (SQL over `forms_state`) follow the same rule as
the casebook.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, transaction
from django.db.models import CharField, Count, DateField, F, OuterRef, QuerySet, TextField, Value
from django.db.models.functions import MD5, Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from clinical.assessments import FormMark, Matrix, Progress, derived_visit_state, form_mark, progress
from clinical.schedule import VisitState
from crf import locks
from crf.declarations import declaration_for
from crf.models import ACTIVE_QUERY_STATUSES, CrfInstance, Query
from crf.registry import crf_models
from crf.services import after_any_form_write, batch_memo, defer_to_batch_end
from dbtools.prepared import ServerSQL, prepared
from study import access
from study.audit_context import audit_context
from study.models import AssessmentSchedule, VisitDefinition
from study.roles import Action
from subjects.models import ExpectedFormNotDone, Subject, Visit

if TYPE_CHECKING:
    from study.models import User

#: Statuses after which the subject expects nothing (CLINICAL_SPEC §7.1), from their status date.
ENDED = ("died", "withdrawn", "completed", "lost", "not_infused", "screen_failed")


def schedules_of(study_id: int) -> list[tuple[date, Matrix, list[str]]]:
    """Every version of the study's schedule, oldest first: (effective from, matrix, logs).
    Read once for a save or a batch of saves (crf.services.batch_memo); parsed once per process
    for the same stored versions (`_read_schedules`). Shared: read only."""
    return batch_memo(("assessment schedules", study_id), lambda: _read_schedules(study_id))


def _digested(study_id: int, *, with_matrix: bool) -> QuerySet[AssessmentSchedule]:
    found = AssessmentSchedule.objects.filter(study_id=study_id).order_by("effective_from", "version")
    digest = MD5(Cast("matrix", TextField()))
    if with_matrix:
        return found.values_list("effective_from", digest, Cast("matrix", TextField()))
    return found.values_list("effective_from", digest)


@prepared("study_id")
def _schedule_digests(study_id: int) -> QuerySet[AssessmentSchedule]:
    """Each version's date and a digest of its matrix, oldest first: what the parsed versions
    depend on, without the matrix."""
    return _digested(study_id, with_matrix=False)


@prepared("study_id")
def _schedule_texts(study_id: int) -> QuerySet[AssessmentSchedule]:
    """`_schedule_digests` with each matrix as text, from the same snapshot."""
    return _digested(study_id, with_matrix=True)


#: study id → (its versions' dates and matrix digests, the parsed versions): a version is never
#: edited, but one may be added, so the digests are read every time and compared
_PARSED_SCHEDULES: dict[int, tuple[tuple[tuple[Any, ...], ...], list[tuple[date, Matrix, list[str]]]]] = {}


def _read_schedules(study_id: int) -> list[tuple[date, Matrix, list[str]]]:
    """The versions parsed, kept for the process while their dates and matrices stay as they are
    (issue 22, ninth pass: reading the rows and parsing the matrix on every save was a twentieth
    of a vital-signs save's CPU). The key is the content (dates and digests, in order), so a
    version added, replaced or removed, or another database, is read and parsed again."""
    key = tuple(tuple(row) for row in _schedule_digests.rows(study_id=study_id))
    kept = _PARSED_SCHEDULES.get(study_id)
    if kept is not None and kept[0] == key:
        return kept[1]
    found = []
    digests = []
    for effective_from, digest, text in _schedule_texts.rows(study_id=study_id):
        data: dict[str, Any] = json.loads(text) or {}
        found.append((effective_from, Matrix.from_json(data.get("visits", {})), list(data.get("logs", []))))
        digests.append((effective_from, digest))
    _PARSED_SCHEDULES[study_id] = (tuple(digests), found)
    return found


def _in_force(versions: list[tuple[date, Matrix, list[str]]], on: date | None) -> tuple[Matrix, list[str]] | None:
    """The newest version effective on or before `on`; the first one for earlier (or unknown)
    dates; None when the study has no schedule of assessments."""
    if not versions:
        return None
    chosen = versions[0]
    if on is not None:
        for version in versions:
            if version[0] <= on:
                chosen = version
    return chosen[1], chosen[2]


def expected_until(subject: Subject) -> date | None:
    """The last date the subject expects anything (CLINICAL_SPEC §7.1), None while active."""
    return subject.status_date if subject.status in ENDED else None


@dataclass
class ExpectedForm:
    code: str
    title: str
    mark: FormMark
    instances: list[CrfInstance] = field(default_factory=list)
    not_done: ExpectedFormNotDone | None = None
    queries: int = 0
    #: entered from the lifecycle pages, not the generic form page
    lifecycle: bool = False


@dataclass
class VisitCard:
    definition: VisitDefinition
    visit: Visit | None
    state: VisitState | None
    progress: Progress
    expected: list[ExpectedForm]
    #: forms entered at this visit that it does not expect: (code, title, instances)
    other: list[tuple[str, str, list[CrfInstance]]]
    queries: int = 0
    #: the subject expects nothing at this visit any more (died, withdrew, ended)
    not_expected: bool = False

    @property
    def missing(self) -> list[ExpectedForm]:
        return [form for form in self.expected if not form.mark.satisfied]


@dataclass
class LogSection:
    code: str
    title: str
    instances: list[CrfInstance]
    queries: int = 0


@dataclass
class SubjectSchedule:
    has_schedule: bool
    cards: list[VisitCard]
    logs: list[LogSection]
    #: forms at no visit and in no log
    unplaced: list[tuple[str, str, list[CrfInstance]]]
    #: every form a card expects that is not satisfied, in visits whose window has opened
    missing_now: list[tuple[VisitCard, ExpectedForm]]
    counts: dict[str, int]

    @property
    def missing_by_visit(self) -> list[tuple[VisitCard, list[ExpectedForm]]]:
        """`missing_now` grouped by visit, in visit order."""
        groups: list[tuple[VisitCard, list[ExpectedForm]]] = []
        for card, form in self.missing_now:
            if groups and groups[-1][0] is card:
                groups[-1][1].append(form)
            else:
                groups.append((card, [form]))
        return groups


def _instances(
    subjects: dict[int, Subject], models: dict[str, type[CrfInstance]], *, slim: bool = False
) -> dict[int, dict[str, list[CrfInstance]]]:
    """The live forms of the subjects per subject and code, one query per form type whatever the
    number of subjects; `slim` loads only what placing and marking read (the re-derivation after
    each save, the task list), not the whole rows."""
    found: dict[int, dict[str, list[CrfInstance]]] = {pk: {} for pk in subjects}
    for code, model in models.items():
        for rows in found.values():
            rows[code] = []
        query = model._default_manager.filter(subject_id__in=list(subjects), entered_in_error=False).order_by("pk")
        if slim:
            keep = ["pk", "subject_id", "visit_id", "entry_status"]
            if model.clinical_date_field:
                keep.append(model.clinical_date_field)
            query = query.only(*keep)
        for row in query:
            row.subject = subjects[row.subject_id]
            found[row.subject_id][code].append(row)
    return found


class _Placer:
    """Where each form of one subject belongs (`place`): the visit code, or None (outside every
    visit). A form with a visit belongs to it; else to the only visit expecting its type; else
    to the visit expecting it whose window holds its clinical date, the nearest planned date
    first (the first such visit on a tie). The windows are computed once for the subject's
    visits and each (form type, date) placed once (issue 22: placing every stored form of a
    subject after each save, one window per visit and form, was a fifth of a save's CPU)."""

    def __init__(
        self,
        codes_by_id: dict[int, str],
        expecting: Mapping[str, Sequence[str]],
        windows: list[tuple[str, date, date, date]],
    ) -> None:
        #: visit id → its code; form code → the visits expecting it; (visit code, earliest,
        #: latest, planned) of each visit with a window, in the visits' order
        self.codes_by_id = codes_by_id
        self.expecting = expecting
        self.windows = windows
        self.by_date: dict[tuple[str, date], str | None] = {}

    @classmethod
    def of_visits(cls, visits_by_id: dict[int, Visit], expecting: Mapping[str, Sequence[str]]) -> _Placer:
        windows = []
        for visit in visits_by_id.values():
            window = visit.window
            if window is not None:
                windows.append((visit.definition.code, window.earliest, window.latest, window.planned))
        return cls({pk: visit.definition.code for pk, visit in visits_by_id.items()}, expecting, windows)

    def place(self, instance: CrfInstance, code: str) -> str | None:
        if instance.visit_id is not None:
            return self.codes_by_id.get(instance.visit_id)
        codes = self.expecting.get(code, [])
        if len(codes) == 1:
            return codes[0]
        on = instance.clinical_date()
        if not codes or not isinstance(on, date):
            return None
        key = (code, on)
        if key not in self.by_date:
            best: tuple[int, str] | None = None
            for visit_code, earliest, latest, planned in self.windows:
                if visit_code in codes and earliest <= on <= latest:
                    distance = abs((on - planned).days)
                    if best is None or distance < best[0]:
                        best = (distance, visit_code)
            self.by_date[key] = None if best is None else best[1]
        return self.by_date[key]


#: (the app registry's model list it was built from, the forms in casebook order)
_IN_ORDER: tuple[object, dict[str, type[CrfInstance]]] | None = None


def _models_in_order() -> dict[str, type[CrfInstance]]:
    """Every form type in casebook order, built once per state of the app registry (its model
    list is cached by Django until the registry changes). Read only."""
    global _IN_ORDER
    registered = apps.get_models()
    if _IN_ORDER is None or _IN_ORDER[0] is not registered:
        _IN_ORDER = (registered, dict(sorted(crf_models().items(), key=lambda item: (item[1].casebook_order, item[0]))))
    return _IN_ORDER[1]


def _expected_only(
    models: dict[str, type[CrfInstance]], versions: list[tuple[date, Matrix, list[str]]]
) -> dict[str, type[CrfInstance]]:
    """Re-deriving the visits' state needs only the forms some visit expects."""
    wanted = {code for _from, matrix, _logs in versions for codes in matrix.expected.values() for code in codes}
    return {code: model for code, model in models.items() if code in wanted}


def subject_schedule(
    subject: Subject, *, today: date, with_queries: bool = True, rows_only: bool = False
) -> SubjectSchedule:
    """The subject's visits with their expected forms marked, the logs, and what is missing, in
    a fixed number of queries (one per form type, the visits, the marks, the query counts).
    `rows_only` (re-deriving the visits' state, `refresh_subject`): the forms are read as what
    placing and marking need (`_slim_rows`: one query for every form type, not one each), not as
    model instances a page could show."""
    models = _models_in_order()
    versions = schedules_of(subject.site.study_id)
    definitions = list(VisitDefinition.objects.filter(study_id=subject.site.study_id).order_by("order"))
    visits = {v.definition_id: v for v in Visit.objects.filter(subject=subject).select_related("definition")}
    for visit in visits.values():
        visit.subject = subject
    if not with_queries:
        models = _expected_only(models, versions)
    if rows_only and not with_queries:
        instances = _slim_rows(subject, models)
    else:
        instances = _instances({subject.pk: subject}, models, slim=not with_queries)[subject.pk]
    marks = {
        (m.visit_id, m.crf_code): m
        for m in ExpectedFormNotDone.objects.filter(visit__subject=subject, withdrawn_at__isnull=True)
    }
    counts: dict[tuple[int, int], int] = {}
    types: dict[Any, ContentType] = {}
    if with_queries:
        types = ContentType.objects.get_for_models(Visit, *models.values())
        counts = {
            (row["content_type"], row["object_id"]): row["n"]
            for row in Query.objects.filter(subject=subject, status__in=ACTIVE_QUERY_STATUSES)
            .values("content_type", "object_id")
            .annotate(n=Count("pk"))
        }
    return _schedule(
        subject,
        today=today,
        models=models,
        versions=versions,
        definitions=definitions,
        visits=visits,
        instances=instances,
        marks=marks,
        counts=counts if with_queries else None,
        types=types,
    )


def schedules_of_subjects(subjects: list[Subject], *, today_of: dict[int, date]) -> dict[int, SubjectSchedule]:
    """`subject_schedule(…, with_queries=False)` of many subjects at once (the task list's missing
    forms, issue 31): the same derivation, read in a fixed number of queries whatever the number
    of subjects — per study its schedule versions and visit definitions, then the visits, one
    query per expected form type and the "not done" marks of all of them. `today_of` maps each
    subject's pk to its site's calendar date."""
    if not subjects:
        return {}
    by_pk = {s.pk: s for s in subjects}
    models = _models_in_order()
    per_study: dict[int, tuple[list[tuple[date, Matrix, list[str]]], list[VisitDefinition]]] = {}
    for study_id in sorted({s.site.study_id for s in subjects}):
        per_study[study_id] = (
            schedules_of(study_id),
            list(VisitDefinition.objects.filter(study_id=study_id).order_by("order")),
        )
    visits: dict[int, dict[int, Visit]] = {pk: {} for pk in by_pk}
    for visit in Visit.objects.filter(subject_id__in=list(by_pk)).select_related("definition"):
        visit.subject = by_pk[visit.subject_id]
        visits[visit.subject_id][visit.definition_id] = visit
    every_version = [version for versions, _definitions in per_study.values() for version in versions]
    models = _expected_only(models, every_version)
    instances = _instances(by_pk, models, slim=True)
    marks = {
        (m.visit_id, m.crf_code): m
        for m in ExpectedFormNotDone.objects.filter(visit__subject_id__in=list(by_pk), withdrawn_at__isnull=True)
    }
    found = {}
    for pk, subject in by_pk.items():
        versions, definitions = per_study[subject.site.study_id]
        found[pk] = _schedule(
            subject,
            today=today_of[pk],
            models=models,
            versions=versions,
            definitions=definitions,
            visits=visits[pk],
            instances=instances[pk],
            marks=marks,
            counts=None,
            types={},
        )
    return found


def _schedule(
    subject: Subject,
    *,
    today: date,
    models: dict[str, type[CrfInstance]],
    versions: list[tuple[date, Matrix, list[str]]],
    definitions: list[VisitDefinition],
    visits: dict[int, Visit],
    instances: dict[str, list[CrfInstance]],
    marks: dict[tuple[int, str], ExpectedFormNotDone],
    counts: dict[tuple[int, int], int] | None,
    types: dict[Any, ContentType],
) -> SubjectSchedule:
    """The derivation itself, from what the callers read (`counts` None: without query counts)."""
    with_queries = counts is not None
    counts = counts or {}
    visits_by_id = {v.pk: v for v in visits.values()}

    def queries_of(model: type[CrfInstance], rows: list[CrfInstance]) -> int:
        if not with_queries:
            return 0
        return sum(counts.get((types[model].pk, row.pk), 0) for row in rows)

    until = expected_until(subject)
    placed: dict[str | None, dict[str, list[CrfInstance]]] = defaultdict(lambda: defaultdict(list))
    # where a form without a visit goes depends on the version in force on the subject's
    # screening; the visit's own version decides what it expects
    base = _in_force(versions, subject.enrolled_on or today)
    expecting: dict[str, list[str]] = defaultdict(list)
    log_codes: list[str] = []
    if base is not None:
        for visit_code, codes in base[0].expected.items():
            for code in codes:
                expecting[code].append(visit_code)
        log_codes = base[1]
    placer = _Placer.of_visits(visits_by_id, expecting)
    for code, rows in instances.items():
        if code in log_codes:
            continue
        for row in rows:
            placed[placer.place(row, code)][code].append(row)

    cards = []
    for definition in definitions:
        visit = visits.get(definition.pk)
        version = _in_force(versions, visit.planned_date if visit is not None else None)
        expected_codes = version[0].forms_at(definition.code) if version is not None else ()
        here = placed.get(definition.code, {})
        not_expected = (
            until is not None and visit is not None and visit.planned_date is not None and visit.planned_date > until
        )
        expected = []
        for code in expected_codes if not not_expected else ():
            model = models.get(code)
            if model is None:
                continue
            rows = _grouped(model, here.get(code, []), shown_on_page=with_queries)
            mark_row = marks.get((visit.pk, code)) if visit is not None else None
            expected.append(
                ExpectedForm(
                    code=code,
                    title=str(model.crf_title),
                    mark=form_mark(statuses=[r.entry_status for r in rows], not_done=mark_row is not None),
                    instances=rows,
                    not_done=mark_row,
                    queries=queries_of(model, rows),
                    lifecycle=declaration_for(model).lifecycle,
                )
            )
        other = [
            (code, str(models[code].crf_title), _grouped(models[code], rows, shown_on_page=with_queries))
            for code, rows in here.items()
            if code not in expected_codes or not_expected
        ]
        state_progress = progress(form.mark for form in expected)
        window = visit.window if visit is not None else None
        state = (
            derived_visit_state(
                window, progress=state_progress, visit_date=visit.visit_date, today=today, expected_until=until
            )
            if window is not None and visit is not None
            else None
        )
        if not_expected and state_progress is Progress.NOTHING_EXPECTED:
            state = None
        cards.append(
            VisitCard(
                definition=definition,
                visit=visit,
                state=state,
                progress=state_progress,
                expected=expected,
                other=other,
                queries=(counts.get((types[Visit].pk, visit.pk), 0) if with_queries and visit is not None else 0),
                not_expected=not_expected,
            )
        )
    logs = [
        LogSection(code=code, title=str(models[code].crf_title), instances=instances[code])
        for code in log_codes
        if code in models
    ]
    for section in logs:
        section.queries = queries_of(models[section.code], section.instances)
    unplaced = [
        (code, str(models[code].crf_title), _grouped(models[code], rows, shown_on_page=with_queries))
        for code, rows in placed.get(None, {}).items()
    ]
    missing_now = [
        (card, form)
        for card in cards
        if card.state in (VisitState.DUE, VisitState.OVERDUE)
        or (
            card.visit is None
            and card.definition.code in _screening_codes(definitions)
            and subject.status == "screening"
        )
        for form in card.missing
    ]
    tally = {
        "complete": sum(1 for card in cards if card.progress is Progress.COMPLETE),
        "overdue": sum(1 for card in cards if card.state is VisitState.OVERDUE),
        "due": sum(1 for card in cards if card.state is VisitState.DUE),
        "missing": len(missing_now),
    }
    return SubjectSchedule(
        has_schedule=bool(versions),
        cards=cards,
        logs=logs,
        unplaced=unplaced,
        missing_now=missing_now,
        counts=tally,
    )


def _screening_codes(definitions: list[VisitDefinition]) -> set[str]:
    """The visits anchored at enrolment that a screening subject is already working on."""
    return {d.code for d in definitions if d.anchor == VisitDefinition.Anchor.ENROLMENT}


def _grouped(model: type[CrfInstance], rows: list[CrfInstance], *, shown_on_page: bool = True) -> list[CrfInstance]:
    """Forms entered several rows at a time (a lab panel) show once per group."""
    group = declaration_for(model).casebook_group
    if group is None or not shown_on_page:
        return rows
    shown: set[object] = set()
    out = []
    for row in rows:
        key = group(row)
        if key not in shown:
            shown.add(key)
            out.append(row)
    return out


def _store_progress(schedule: SubjectSchedule) -> int:
    """Write each card's progress to its visit's `forms_state` where it changed; how many."""
    changed = []
    for card in schedule.cards:
        if card.visit is not None and card.visit.forms_state != card.progress.value:
            card.visit.forms_state = card.progress.value
            changed.append(card.visit)
    if changed:
        Visit.objects.bulk_update(changed, ["forms_state"])
    return len(changed)


def refresh_subject(subject: Subject) -> int:
    """Re-derive `forms_state` of the subject's visits; returns how many changed."""
    schedule = subject_schedule(subject, today=timezone.now().date(), with_queries=False, rows_only=True)
    return _store_progress(schedule)


@dataclass(frozen=True)
class _SlimRow:
    """What placing a form at a visit and marking it read (`_Placer`, `form_mark`): no model
    instance built per stored form."""

    pk: int
    visit_id: int | None
    entry_status: str
    day: date | None

    def clinical_date(self) -> date | None:
        return self.day


#: the UNION ALL statement of `_slim_rows` per tuple of form types (with the positions of the
#: subject's id among its parameters): compiling it from querysets was a tenth of a save's CPU
_SLIM_SQL: dict[tuple[tuple[str, type[CrfInstance]], ...], tuple[str, str, list[Any], list[int], dict[str, Any]]] = {}
_SUBJECT_PLACEHOLDER = -220022


def _slim_statement(
    models: dict[str, type[CrfInstance]],
) -> tuple[str, str, list[Any], list[int], dict[str, type[CrfInstance]]]:
    """The SQL of `_slim_rows` for these form types, compiled once per process: (database,
    statement, parameters, where the subject's id goes in them, the form types read on their
    own)."""
    key = tuple(models.items())
    found = _SLIM_SQL.get(key)
    if found is not None:
        return found
    parts = []
    alone = {}
    for code, model in models.items():
        name = model.clinical_date_field
        date_field = model._meta.get_field(name) if name else None
        if date_field is not None and type(date_field) is not DateField:
            alone[code] = model
            continue
        day = F(name) if name else Value(None, output_field=DateField())
        parts.append(
            model._default_manager.filter(subject_id=_SUBJECT_PLACEHOLDER, entered_in_error=False)
            .annotate(form=Value(code, output_field=CharField()), day=day)
            .values_list("form", "pk", "visit_id", "entry_status", "day")
            .order_by()
        )
    db, sql, params = "", "", []
    if parts:
        union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        db = union.db
        compiled, raw = union.query.get_compiler(db).as_sql()
        sql, params = compiled, list(raw)
    slots = [i for i, value in enumerate(params) if value == _SUBJECT_PLACEHOLDER]
    if len(slots) != len(parts):  # one subject filter a form type: else do not trust the cache
        raise RuntimeError("could not find the subject's id in the slim rows' statement")
    found = (db, sql, params, slots, alone)
    _SLIM_SQL[key] = found
    return found


@dataclass(frozen=True)
class _Near:
    """Which stored forms can belong to some of a subject's visits (`refresh_visits_of`): those
    entered at one of them (`visit_ids`), and those entered without a visit of a type only one
    of them expects (`codes`) or dated inside one of their windows (`windows`: earliest, latest).
    No other form is placed at those visits (`_Placer.place`)."""

    visit_ids: list[int]
    codes: list[str]
    windows: list[tuple[date, date]]


#: `_slim_rows`' statement kept to the forms `_Near` selects: the UNION ALL as a subquery, its
#: columns named by position (form, pk, visit_id, entry_status, day)
_NEAR_SQL = (
    "SELECT * FROM ({}) AS slim (form, pk, visit_id, entry_status, day) WHERE slim.visit_id = ANY(%s::integer[]) "
    "OR (slim.visit_id IS NULL AND (slim.form = ANY(%s::text[]) OR EXISTS (SELECT 1 FROM unnest(%s::date[], "
    "%s::date[]) AS w (earliest, latest) WHERE slim.day BETWEEN w.earliest AND w.latest)))"
)


#: `_NEAR_SQL` over `_slim_statement` per tuple of form types, prepared on the server
#: (dbtools.prepared.ServerSQL: it was planned on every save, ~0.2 ms of PostgreSQL's CPU)
_NEAR_STATEMENTS: dict[tuple[tuple[str, type[CrfInstance]], ...], ServerSQL] = {}


def _near_statement(models: dict[str, type[CrfInstance]], sql: str, template: list[Any], slots: list[int]) -> ServerSQL:
    key = tuple(models.items())
    found = _NEAR_STATEMENTS.get(key)
    if found is None:
        end = len(template)
        found = ServerSQL(
            _NEAR_SQL.format(sql),
            [*template, None, None, None, None],
            [(slot, "bigint") for slot in slots]
            + [(end, "integer[]"), (end + 1, "text[]"), (end + 2, "date[]"), (end + 3, "date[]")],
        )
        _NEAR_STATEMENTS[key] = found
    return found


def _slim_rows(
    subject: Subject, models: dict[str, type[CrfInstance]], near: _Near | None = None
) -> dict[str, list[CrfInstance]]:
    """`_instances(…, slim=True)` of one subject in one query: what placing and marking read
    (id, visit, entry status, clinical date) of every form type dated by a date, as one UNION
    ALL; a form type dated otherwise is read on its own. With `near`, only the forms dated by a
    date that it selects (the others are not read: issue 22, placing every stored form of the
    subject after each save was a tenth of a vital-signs save's CPU)."""
    found: dict[str, list[CrfInstance]] = {code: [] for code in models}
    db, sql, template, slots, alone = _slim_statement(models)
    if sql:
        params = list(template)
        for slot in slots:
            params[slot] = subject.pk
        with connections[db].cursor() as cursor:
            if near is None:
                cursor.execute(sql, params)
            else:
                earliest = [window[0] for window in near.windows]
                latest = [window[1] for window in near.windows]
                _near_statement(models, sql, template, slots).execute(
                    cursor, db, [subject.pk] * len(slots) + [near.visit_ids, near.codes, earliest, latest]
                )
            rows = cursor.fetchall()
        for code, pk, visit_id, entry_status, day in sorted(rows, key=lambda row: (row[0], row[1])):
            slim = _SlimRow(pk=pk, visit_id=visit_id, entry_status=entry_status, day=day)
            found[code].append(slim)  # type: ignore[arg-type]
    if alone:
        found.update(_instances({subject.pk: subject}, alone, slim=True)[subject.pk])
    return found


@prepared("subject_id")
def _visit_rows(subject_id: int) -> QuerySet[Visit]:
    """The subject's visits as tuples, in the visits' order (`Visit.Meta.ordering`): id, code,
    anchor, planned date, its window (the visit's days before and after, the definition's) and
    stored `forms_state`, with the form codes of its live "not done" marks — what re-deriving a
    visit's state reads, no model instance built (issue 22, ninth pass)."""
    marked = ExpectedFormNotDone.objects.filter(visit_id=OuterRef("pk"), withdrawn_at__isnull=True).values("crf_code")
    return Visit.objects.filter(subject_id=subject_id).values_list(
        "pk",
        "definition__code",
        "definition__anchor",
        "planned_date",
        "window_before",
        "window_after",
        "definition__window_before",
        "definition__window_after",
        "forms_state",
        ArraySubquery(marked),
    )


class _VisitRow(NamedTuple):
    """One visit of `_visit_rows`, its window's bounds computed as `Visit.window` computes them."""

    pk: int
    code: str
    planned: date | None
    #: None without a window (event-driven, or not planned yet)
    earliest: date | None
    latest: date | None
    forms_state: str
    marked: frozenset[str]

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> _VisitRow:
        pk, code, anchor, planned, before, after, default_before, default_after, forms_state, marked = row
        earliest = latest = None
        if planned is not None and anchor != "event":  # Window(planned, before, after)
            earliest = planned - timedelta(days=default_before if before is None else before)
            latest = planned + timedelta(days=default_after if after is None else after)
        return cls(pk, code, planned, earliest, latest, forms_state, frozenset(marked or ()))


def refresh_visits_of(subject: Subject, forms: list[CrfInstance]) -> int:
    """Re-derive `forms_state` of only the visits these forms (as stored before and after their
    writes) belong to: the same derivation as `refresh_subject` (`_schedule`'s progress of a
    card), from the subject's visits with their "not done" marks (as tuples), the schedule
    (parsed once per process) and the stored forms that can belong to those visits (`_Near`) —
    a fixed number of queries, not one per form type of the casebook, and no model instance
    built (issue 22). Forms that can move the subject (`moves_subject`) must use
    `refresh_subject` instead."""
    versions = schedules_of(subject.site.study_id) if forms else []
    if not versions:
        return 0
    base = _in_force(versions, subject.enrolled_on or timezone.now().date())
    assert base is not None
    matrix, log_codes = base
    forms = [form for form in forms if form.crf_code not in log_codes]  # a log form is at no visit
    if not forms:
        return 0
    visits = [_VisitRow.of(row) for row in _visit_rows.rows(subject_id=subject.pk)]
    expecting = matrix.visits_expecting
    placer = _Placer(
        {visit.pk: visit.code for visit in visits},
        expecting,
        [(v.code, v.earliest, v.latest, v.planned) for v in visits if v.earliest is not None],  # type: ignore[misc]
    )
    where = {placer.place(form, form.crf_code) for form in forms}
    touched = [visit for visit in visits if visit.code in where]
    if not touched:
        return 0
    every = _models_in_order()
    until = expected_until(subject)
    expected: dict[int, tuple[str, ...]] = {}
    for visit in touched:
        version = _in_force(versions, visit.planned)
        codes = version[0].forms_at(visit.code) if version is not None else ()
        if until is not None and visit.planned is not None and visit.planned > until:
            codes = ()  # the subject expects nothing at this visit any more
        expected[visit.pk] = tuple(code for code in codes if code in every)
    wanted = {code for codes in expected.values() for code in codes}
    statuses: dict[tuple[str | None, str], list[str]] = defaultdict(list)
    if wanted:
        touched_codes = {visit.code for visit in touched}
        near = _Near(
            visit_ids=[visit.pk for visit in touched],
            codes=sorted(code for code, at in expecting.items() if len(at) == 1 and at[0] in touched_codes),
            windows=[(v.earliest, v.latest) for v in touched if v.earliest is not None],  # type: ignore[misc]
        )
        models = {code: model for code, model in every.items() if code in wanted}
        for code, rows in _slim_rows(subject, models, near).items():
            if code in log_codes:
                continue
            for row in rows:
                statuses[(placer.place(row, code), code)].append(row.entry_status)
    changed: dict[str, list[int]] = defaultdict(list)
    for visit in touched:
        state = progress(
            form_mark(statuses=statuses.get((visit.code, code), ()), not_done=code in visit.marked)
            for code in expected[visit.pk]
        )
        if state.value != visit.forms_state:
            changed[state.value].append(visit.pk)
    for value, pks in changed.items():
        Visit.objects.filter(pk__in=pks).update(forms_state=value)
    return sum(len(pks) for pks in changed.values())


@after_any_form_write
def after_form_write(*, user: User, saved: CrfInstance, previous: CrfInstance | None) -> None:
    """crf.services hook: a form saved or entered in error re-derives the state of the visits it
    belongs to, before and after the write (every visit of the subject when it can move the
    subject: `moves_subject` in its declaration)."""
    del user
    forms = [form for form in (previous, saved) if form is not None]
    if defer_to_batch_end(("visit states", saved.subject_id), _refresh_after_writes, forms):
        return  # many saves in one transaction (the CSV import): once per subject, at the end
    _refresh_after_writes([forms])


def _refresh_after_writes(writes: list[list[CrfInstance]]) -> None:
    """The visits' state after the writes of one subject's forms (each: before, after)."""
    forms = [form for written in writes for form in written]
    if any(declaration_for(type(form)).moves_subject for form in forms):
        refresh_subject(Subject.objects.select_related("site").get(pk=forms[0].subject_id))
        return
    subject = forms[-1].subject
    if not Subject.site.is_cached(subject):  # type: ignore[attr-defined]
        subject = Subject.objects.select_related("site").get(pk=subject.pk)
    refresh_visits_of(subject, forms)


@transaction.atomic
def mark_not_done(*, user: User, visit: Visit, crf_code: str, reason: str) -> ExpectedFormNotDone:
    """Mark an expected form of a visit "not done" with a reason (CLINICAL_SPEC §7.1)."""
    visit = Visit.objects.select_for_update().select_related("definition", "subject__site").get(pk=visit.pk)
    if not access.can(user, Action.EDIT_CRF, site=visit.subject.site):
        raise PermissionDenied
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason why this form was not done.")}, code="reason_required")
    locks.assert_data_writable(visit)
    card = next(
        (
            c
            for c in subject_schedule(visit.subject, today=timezone.now().date(), with_queries=False).cards
            if c.visit == visit
        ),
        None,
    )
    form = next((f for f in (card.expected if card else []) if f.code == crf_code), None)
    if form is None:
        raise ValidationError({"crf_code": _("This visit does not expect that form.")}, code="not_expected")
    if form.mark is FormMark.COMPLETE:
        raise ValidationError({"crf_code": _("This form is complete: it cannot be marked not done.")})
    if form.not_done is not None:
        return form.not_done
    with audit_context(user=user, site=visit.subject.site, reason=reason):
        mark = ExpectedFormNotDone(
            visit=visit, crf_code=crf_code, reason=reason, marked_by=user, marked_at=timezone.now()
        )
        mark.full_clean()
        mark.save()
        refresh_subject(visit.subject)
    return mark


@transaction.atomic
def close_dated_visits(*, user: User, subject: Subject, reason: str) -> int:
    """Mark "not done" every expected form of the subject's visits that have a visit date and
    hold no record of it (the demo loader and bulk clean-ups); returns how many marks it wrote.
    A form with a record in progress is left as it is: its data exist, and a "not done" mark
    would hide them behind the mark on the casebook."""
    if not access.can(user, Action.EDIT_CRF, site=subject.site):
        raise PermissionDenied
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason why this form was not done.")}, code="reason_required")
    now = timezone.now()
    marks = [
        ExpectedFormNotDone(visit=card.visit, crf_code=form.code, reason=reason, marked_by=user, marked_at=now)
        for card in subject_schedule(subject, today=now.date(), with_queries=False).cards
        if card.visit is not None and card.visit.visit_date is not None
        for form in card.missing
        if form.not_done is None and not form.instances
    ]
    with audit_context(user=user, site=subject.site, reason=reason):
        ExpectedFormNotDone.objects.bulk_create(marks)
        refresh_subject(subject)
    return len(marks)


@transaction.atomic
def withdraw_not_done(*, user: User, mark: ExpectedFormNotDone, reason: str) -> ExpectedFormNotDone:
    """Take a "not done" mark back (the form is expected again), with a reason."""
    mark = ExpectedFormNotDone.objects.select_for_update().select_related("visit__subject__site").get(pk=mark.pk)
    subject = mark.visit.subject
    if not access.can(user, Action.EDIT_CRF, site=subject.site):
        raise PermissionDenied
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason.")}, code="reason_required")
    locks.assert_data_writable(mark.visit)
    if mark.withdrawn_at is None:
        with audit_context(user=user, site=subject.site, reason=reason.strip()):
            mark.withdrawn_at = timezone.now()
            mark.save(update_fields=["withdrawn_at"])
            refresh_subject(subject)
    return mark


def all_instances(schedule: SubjectSchedule) -> list[CrfInstance]:
    """Every form instance shown on the casebook (for the SDV and freeze/lock badges)."""
    found: list[CrfInstance] = []
    for card in schedule.cards:
        for form in card.expected:
            found += form.instances
        for _code, _title, rows in card.other:
            found += rows
    for section in schedule.logs:
        found += section.instances
    for _code, _title, rows in schedule.unplaced:
        found += rows
    return found


def entry_forms() -> list[tuple[str, str]]:
    """The forms a visit's "another form" picker offers: every form entered from the generic
    form page (not the lifecycle forms), in casebook order."""
    return [
        (code, str(model.crf_title))
        for code, model in sorted(crf_models().items(), key=lambda item: (item[1].casebook_order, item[0]))
        if not declaration_for(model).lifecycle
    ]
