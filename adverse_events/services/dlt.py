"""DLT candidates, their adjudication and the dose-level monitor (CLINICAL_SPEC §3.1).

`recompute_candidates` runs the pure rules of `clinical.dlt` over one subject's data and keeps
`DltCandidate` rows in step (new keys flagged, vanished ones marked withdrawn — never deleted);
`_inputs_changed`, listed among the dependants of those forms' declarations, calls it whenever
an AE, a CRS/ICANS assessment, a lab result, a marrow, a death, a subsequent therapy, a GvHD
staging or an infusion of the subject is saved or entered in error. `adjudicate_candidate` is
the investigator's confirm/reject (DESIGN §4a). `dose_level_monitor` computes the monitor live
from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from psycopg2 import sql

from adverse_events import dlt_text
from adverse_events.grade_course import course_of
from adverse_events.models import (
    AdverseEvent,
    CandidateStatus,
    CrsAssessment,
    DltCandidate,
    DoseLevelDecision,
    GvhdStaging,
    IcansAssessment,
)
from adverse_events.services.ae_crs_icans import COURSE_MOVED_DLT_INPUT, locked_subject
from adverse_events.services.alerts import raise_alert
from clinical import ae_course
from clinical import dlt as rules
from clinical.escalation import (
    AcknowledgementReason,
    Decision,
    EscalationResult,
    LevelCount,
    acknowledgement_reasons,
    cleared_by_three_plus_three,
    recommended_dose,
)
from clinical.schedule import study_day
from clinical.stats import Proportion, clopper_pearson, percent_with_ci
from crf.services import atomic_save, batch_memo, protocol_picker
from dbtools.prepared import Prepared
from labs.models import LabResult
from labs.selectors import latest_results
from response.models import MarrowAssessment
from study import access, system_text
from study.models import ProtocolSettings, VisitDefinition
from study.protocol import NoProtocolSettings, choices_in_force
from study.roles import Action
from subjects.hooks import AwaitingCandidate, DoseLevelDlt
from subjects.lifecycle import Status
from subjects.models import Infusion, Subject
from survival.models import Death, DeathCause, SubsequentTherapy

if TYPE_CHECKING:
    from study.models import Study, User

#: §7: the day-28 visit window is ±3 days.
DAY28_VISIT_WINDOW = 3
#: CTCAE v5.0 grade 4 thresholds in ×10⁹/L: ANC < 0.5, platelets < 25.0.
ANC_GRADE4_BELOW = rules.Decimal("0.5")
PLT_GRADE4_BELOW = rules.Decimal("25")


def _today() -> date:
    return timezone.localdate()


def _daily_max(rows: Any) -> dict[int, int]:
    daily: dict[int, int] = {}
    for day, grade in rows:
        if day is not None and grade is not None:
            daily[day] = max(grade, daily.get(day, 0))
    return daily


def _anc_plt_grade(value: rules.Decimal | None, grade4_below: rules.Decimal) -> int | None:
    """Only whether the count is grade 4 matters to the day-28 rule (§3.1): 4, else 3-or-less (0)."""
    if value is None:
        return None
    return 4 if value < grade4_below else 0


#: the window of the study's infusion-anchored visit on a day, as `.first()` reads it (dbtools.prepared)
_window_rows = Prepared(
    lambda study_id, day: VisitDefinition.objects.filter(study_id=study_id, anchor="infusion", day=day).values_list(
        "window_before", "window_after"
    )[:1],
    ("study_id", "day"),
)


def assessment_window(study_id: int, window_days: int) -> tuple[int, int]:
    """(days before, days after) of the schedule's infusion-anchored visit on the DLT window's
    last day (§3.1 "plus that visit's window", §7); ±3 days when the schedule has no such visit.
    Read once for a save (crf.services.batch_memo)."""
    found = batch_memo(
        ("DLT assessment window", study_id, window_days),
        lambda: next(iter(_window_rows.rows(study_id=study_id, day=window_days)), None),
    )
    return (DAY28_VISIT_WINDOW, DAY28_VISIT_WINDOW) if found is None else (int(found[0]), int(found[1]))


def _day28(subject: Subject, day0: date, window_days: int, as_of_day: int) -> rules.Day28Counts | None:
    """The day-28 assessment (§3.1): last ANC and platelets dated on or before day 28 plus the
    visit window (the schedule's), counted once they fall inside that visit's window; the
    marrow of that visit."""
    before, after = assessment_window(subject.site.study_id, window_days)
    if as_of_day < window_days - before:
        return None
    last = day0 + timedelta(days=window_days + after)
    first = day0 + timedelta(days=window_days - before)
    latest = latest_results(subject, ["ANC", "PLT"], on_or_before=last)
    anc = latest.get("ANC")
    plt = latest.get("PLT")
    anc_value = anc.value if anc and anc.collected_on >= first else None
    plt_value = plt.value if plt and plt.collected_on >= first else None
    if anc_value is None and plt_value is None:
        return None
    marrow = (
        MarrowAssessment.objects.filter(
            subject=subject, entered_in_error=False, assessment_date__gte=first, assessment_date__lte=last
        )
        .order_by("-assessment_date", "-pk")
        .first()
    )
    return rules.Day28Counts(
        neutrophil_grade=_anc_plt_grade(anc_value, ANC_GRADE4_BELOW),
        platelet_grade=_anc_plt_grade(plt_value, PLT_GRADE4_BELOW),
        marrow_blasts_pct=marrow.marrow_blasts_pct if marrow else None,
    )


#: the reads of the rules for one subject, compiled once (dbtools.prepared; issue 22, session 16:
#: compiling them was most of the CPU of a re-detection, which an ANC or platelet count near
#: day 28, a CRS/ICANS assessment or an AE of grade 3 or more runs)
_daily_grades = {
    model: Prepared(
        lambda subject_id, model=model: model.objects.filter(subject_id=subject_id, entered_in_error=False).values_list(
            "study_day", "grade"
        ),
        ("subject_id",),
    )
    for model in (CrsAssessment, IcansAssessment)
}
_dated_aes = Prepared(
    lambda subject_id: AdverseEvent.objects.filter(
        subject_id=subject_id, entered_in_error=False, onset_study_day__isnull=False
    ),
    ("subject_id",),
)
#: as `.first()` reads them: the death in the model's order, the worst GvHD staging
_first_death = Prepared(
    lambda subject_id: Death.objects.filter(subject_id=subject_id, entered_in_error=False)[:1], ("subject_id",)
)
_worst_gvhd = Prepared(
    lambda subject_id: GvhdStaging.objects.filter(
        subject_id=subject_id, entered_in_error=False, overall_grade__isnull=False
    ).order_by("-overall_grade", "assessment_date", "pk")[:1],
    ("subject_id",),
)
_candidates = Prepared(lambda subject_id: DltCandidate.objects.filter(subject_id=subject_id), ("subject_id",))


def detect_for_subject(subject: Subject, *, today: date | None = None) -> list[rules.Candidate]:
    day0 = subject.infusion_date
    if day0 is None:
        return []
    _row, choices = protocol_picker(subject.site.study_id)(day0)  # once for a save (crf.services)
    window = choices.dlt_window_days
    as_of = study_day(today or _today(), day0)
    crs = _daily_max(_daily_grades[CrsAssessment].rows(subject_id=subject.pk))
    icans = _daily_max(_daily_grades[IcansAssessment].rows(subject_id=subject.pk))
    courses = [_ae_course(ae, day0) for ae in _dated_aes.objects(subject_id=subject.pk)]
    death = next(iter(_first_death.objects(subject_id=subject.pk)), None)
    # acute GvHD: the worst MAGIC overall grade staged, from its first staging at that grade (§3.1)
    worst_gvhd = next(iter(_worst_gvhd.objects(subject_id=subject.pk)), None)
    return rules.detect_candidates(
        window_days=window,
        as_of_day=as_of,
        crs_daily=crs,
        icans_daily=icans,
        day28=_day28(subject, day0, window, as_of),
        adverse_events=courses,
        expected_toxicities=choices.expected_toxicities,
        death_day=study_day(death.death_date, day0) if death else None,
        death_from_progression=bool(death and death.primary_cause == DeathCause.DISEASE),
        gvhd_overall_grade=worst_gvhd.overall_grade if worst_gvhd else None,
        gvhd_onset_day=study_day(worst_gvhd.assessment_date, day0) if worst_gvhd else None,
    )


@atomic_save
def recompute_candidates(*, subject: Subject, today: date | None = None) -> list[DltCandidate]:
    """Keep the subject's candidate rows in step with the rules; returns the live candidates."""
    locked_subject(subject)
    found = {c.key: c for c in detect_for_subject(subject, today=today)}
    existing = {c.key: c for c in _candidates.objects(subject_id=subject.pk)}
    live: list[DltCandidate] = []
    for key, candidate in found.items():
        ae_id = int(key.split(":", 1)[1]) if key.startswith("ae:") else None
        values = {
            "criterion": candidate.criterion.value,
            "onset_day": candidate.onset_day,
            "description": candidate.description[:300],
            "description_code": candidate.code,
            "description_params": system_text.compose(candidate.code, **candidate.params)[1],
            "awaiting_marrow": candidate.awaiting_marrow,
            "adverse_event_id": ae_id,
            "withdrawn": False,
        }
        row = existing.get(key)
        if row is None:
            row = DltCandidate.objects.create(subject=subject, key=key, **values)
        elif any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            row.version = F("version") + 1
            row.save()
            row.refresh_from_db()
        live.append(row)
    for key, row in existing.items():
        if key not in found and not row.withdrawn:
            row.withdrawn = True
            row.version = F("version") + 1
            row.save(update_fields=["withdrawn", "version"])
    return live


@transaction.atomic
def adjudicate_candidate(
    *, user: User, candidate: DltCandidate, confirm: bool, reason: str, expected_version: int
) -> DltCandidate:
    """The investigator confirms or rejects a candidate with a reason (§3.1; DESIGN §4a)."""
    if not access.can(user, Action.ADJUDICATE, site=candidate.subject.site):
        raise PermissionDenied
    row = DltCandidate.objects.select_for_update().get(pk=candidate.pk)
    if row.version != expected_version:
        raise ValidationError(
            _("This candidate was changed by someone else (version %(now)s, you had %(had)s): reload it.")
            % {"now": row.version, "had": expected_version},
            code="stale",
        )
    errors: dict[str, str] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = _("Give the reason for the adjudication.")
    if row.withdrawn:
        errors["status"] = _("The rules no longer flag this candidate after a correction; it cannot be adjudicated.")
    if row.awaiting_marrow and confirm:
        errors["status"] = _("The day-28 marrow is not recorded yet: a cytopenia is a DLT only with blasts < 5%.")
    if errors:
        raise ValidationError(errors)
    row.status = CandidateStatus.CONFIRMED if confirm else CandidateStatus.REJECTED
    row.adjudication_reason = reason[:500]
    row.adjudicated_by = user
    row.adjudicated_at = timezone.now()
    row.version = F("version") + 1
    row.save()
    row.refresh_from_db()
    if confirm:
        raise_alert(
            kind="dlt",
            subject=row.subject,
            source_key=f"dlt:{row.pk}",
            summary=system_text.compose(
                gettext_noop("Confirmed DLT, subject %(subject)s: %(finding)s"),
                subject=row.subject.subject_id or row.subject.pk,
                finding=dlt_text.finding_message(row),
            ),
        )
    return row


def time_driven_horizon_days(window_days: int, window_after: int = DAY28_VISIT_WINDOW) -> int:
    """How long after day 0 a candidate can still appear with time alone, with no data change
    (§3.1): an AE with onset inside the window that is not back to grade ≤ 1 after its 7 days
    (last: onset on the window's last day, flagged the day after its 7 days), and the day-28
    assessment inside its visit window. Later than this only a data change can alter a
    subject's candidates, and every data change already re-runs the rules (hooks below).
    `window_after`: the day-28 visit's window after the day, from the schedule (issue 30)."""
    return window_days + rules.RECOVERY_DAYS + window_after + 1


def refresh_candidates(subjects: Any, *, study: Study, today: date | None = None) -> int:
    """Re-run the rules for the infused subjects whose candidates may still appear with time
    alone (day 0 within `time_driven_horizon_days`), for the hourly beat task
    (`adverse_events.tasks.refresh_dlt_candidates`). Subjects past the horizon are left alone:
    re-running them changes nothing. (The monitor page used to re-run every subject on each
    view: minutes per view at 10,000 subjects, issue 13 benchmark; it now only reads.)
    Returns how many subjects were re-run."""
    today = today or _today()
    _row, choices = choices_in_force(study, today)
    _before, after = assessment_window(study.pk, choices.dlt_window_days)
    since = today - timedelta(days=time_driven_horizon_days(choices.dlt_window_days, after))
    recent = subjects.filter(site__study=study, infusion_date__isnull=False, infusion_date__gte=since)
    count = 0
    for subject in recent.select_related("site"):
        recompute_candidates(subject=subject, today=today)
        count += 1
    return count


def _ae_course(ae: AdverseEvent, day0: date | None) -> rules.AeCourse:
    """The AE as the DLT rule reads it, from its dated grade course (issue 30): the grade ≥ 3
    spell's worst grade, the day it began, and the day it was next back to ≤ 1."""
    spell = ae_course.first_severe_spell(course_of(ae), resolution=ae.resolution_date)
    if spell is None or day0 is None:
        back, severe_from, grade = ae.resolution_study_day, None, ae.grade
    else:
        back = None if spell.back_to_grade1 is None else study_day(spell.back_to_grade1, day0)
        severe_from, grade = study_day(spell.from_date, day0), spell.grade
    return rules.AeCourse(
        ae_id=ae.pk,
        term=ae.ctcae_term,
        soc=ae.soc,
        grade=grade,
        onset_day=ae.onset_study_day,
        back_to_grade1_day=back,
        from_crs_or_icans=ae.crs_episode_id is not None or ae.icans_episode_id is not None,
        severe_from_day=severe_from,
    )


# --- the monitor ---------------------------------------------------------------------------------


@dataclass
class LevelRow:
    code: str
    enrolled: int = 0
    infused: int = 0
    evaluable: int = 0
    in_window: int = 0
    to_replace: int = 0
    awaiting: int = 0
    confirmed: int = 0
    result: EscalationResult | None = None
    changed_at: Any = None
    replace_subjects: list[tuple[Subject, str]] = field(default_factory=list)
    #: (infusion date, pk, confirmed DLT) of each evaluable subject: the 3+3 part reads the
    #: first six in infusion order to know whether the level was cleared before expansion.
    evaluable_order: list[tuple[date, int, bool]] = field(default_factory=list)
    #: d/n with its exact (Clopper–Pearson) 95% CI; None without an evaluable subject.
    rate: Proportion | None = None
    #: This level is the MTD / recommended dose (§3.1).
    recommended: bool = False

    @property
    def decision(self) -> Decision | None:
        return self.result.decision if self.result else None

    @property
    def rate_text(self) -> str:
        """d/n as a percentage with its exact CI, one decimal ("0.0% (0.0–30.8%)")."""
        return percent_with_ci(self.rate) if self.rate else ""

    @property
    def acknowledgement(self) -> list[AcknowledgementReason]:
        """Why enrolling at this level needs the investigator's acknowledgement (§3.1)."""
        return acknowledgement_reasons(self.result) if self.result else []


@dataclass(frozen=True)
class _Course:
    """What the DLT-evaluability rule reads of one subject (§3.1), as plain values so the
    monitor can read them for a whole study in a few queries."""

    day0: date | None
    withdrawn_on: date | None
    dose: tuple[bool | None, Any, Any] | None  # first infusion: (dose in range, CAR+/kg, lower limit)
    confirmed_days: tuple[int, ...] = ()
    disease_death_on: date | None = None
    therapy_starts: tuple[date, ...] = ()


def _left_window_day(course: _Course, day0: date) -> int | None:
    days: list[int] = []
    if course.withdrawn_on is not None:
        days.append(study_day(course.withdrawn_on, day0))
    if course.disease_death_on is not None:
        days.append(study_day(course.disease_death_on, day0))
    after = [start for start in course.therapy_starts if start >= day0]
    if after:
        days.append(study_day(min(after), day0))
    return min(days) if days else None


def _evaluability(course: _Course, *, window_days: int, today: date) -> rules.EvaluableStatus:
    day0 = course.day0
    if day0 is None or course.dose is None:
        return rules.dlt_evaluable(infused=False, dose_in_range=None, as_of_day=0, window_days=window_days)
    in_range, per_kg, lower = course.dose
    return rules.dlt_evaluable(
        infused=True,
        dose_in_range=in_range,
        dose_below_range=bool(per_kg is not None and lower is not None and per_kg < lower),
        as_of_day=study_day(today, day0),
        window_days=window_days,
        confirmed_dlt_day=min(course.confirmed_days) if course.confirmed_days else None,
        left_window_day=_left_window_day(course, day0),
    )


def _withdrawn_on(status: str, status_date: date | None) -> date | None:
    return status_date if status == Status.WITHDRAWN and status_date else None


def subject_evaluability(subject: Subject, window_days: int, today: date) -> rules.EvaluableStatus:
    infusion = Infusion.objects.filter(subject=subject, entered_in_error=False).order_by("infusion_start", "pk").first()
    death = Death.objects.filter(subject=subject, entered_in_error=False).order_by("pk").first()
    course = _Course(
        day0=subject.infusion_date,
        withdrawn_on=_withdrawn_on(subject.status, subject.status_date),
        dose=None
        if infusion is None
        else (infusion.dose_in_range, infusion.car_positive_per_kg_e6, infusion.dose_lower_e6),
        confirmed_days=tuple(
            DltCandidate.objects.filter(subject=subject, withdrawn=False, status=CandidateStatus.CONFIRMED).values_list(
                "onset_day", flat=True
            )
        ),
        disease_death_on=death.death_date if death and death.primary_cause == DeathCause.DISEASE else None,
        therapy_starts=tuple(
            SubsequentTherapy.objects.filter(subject=subject, entered_in_error=False).values_list(
                "start_date", flat=True
            )
        ),
    )
    return _evaluability(course, window_days=window_days, today=today)


#: Every table the monitor reads. Each is audited by pghistory, so any insert or update of an
#: input writes an event row with a larger key (keys are never reused, even after a rollback).
MONITOR_INPUTS = (
    (Subject, "subjects"),
    (Infusion, "subjects"),
    (Death, "survival"),
    (SubsequentTherapy, "survival"),
    (DltCandidate, "adverse_events"),
    (ProtocolSettings, "study"),
)
#: A cached monitor is recomputed at least this often even with no change (seconds). The key
#: carries a version ("v2": issue 30 added the CI, MTD and expansion fields to LevelRow).
MONITOR_CACHE_SECONDS = 15 * 60


def _monitor_fingerprint(study: Study, today: date) -> str:
    """The newest audit event of each input table, in one query of index look-ups: the same
    fingerprint on the same day means the same inputs, so the same monitor."""
    tables = [apps.get_model(app, f"{model.__name__}Event")._meta.db_table for model, app in MONITOR_INPUTS]
    with connection.cursor() as cursor:
        newest_of = sql.SQL("(SELECT max(pgh_id) FROM {})")
        query = sql.SQL("SELECT {}").format(sql.SQL(", ").join(newest_of.format(sql.Identifier(t)) for t in tables))
        cursor.execute(query.as_string(cursor.cursor))  # table names quoted as identifiers
        newest = cursor.fetchone()
    return f"dlt-monitor:v2:{study.pk}:{today.isoformat()}:" + ":".join(str(key) for key in newest)


def dose_level_monitor_or_reason(study: Study) -> tuple[list[LevelRow], str]:
    """The monitor, or no rows and the reason when the study has no protocol settings yet (a new
    study: the pages say what to record first instead of failing, issue 21)."""
    try:
        return dose_level_monitor(study), ""
    except NoProtocolSettings as exc:
        return [], " ".join(exc.messages)


def dose_level_monitor(study: Study, *, today: date | None = None) -> list[LevelRow]:
    """The monitor below, cached until one of its inputs changes (or the day does): the safety
    dashboard shows it live on every view, and at 10,000 subjects computing it took ~125 ms of
    the page's 300 ms budget (issue 13 benchmark). A change to any input is a new audit event,
    hence a new fingerprint and a fresh computation, so the monitor is never stale."""
    today = today or _today()
    key = _monitor_fingerprint(study, today)
    found = cache.get(key)
    if found is None:
        found = _compute_monitor(study, today=today)
        cache.set(key, found, timeout=MONITOR_CACHE_SECONDS)
    return found


def _compute_monitor(study: Study, *, today: date) -> list[LevelRow]:
    """Per dose level of the study's settings in force: enrolled, infused, DLT-evaluable, to
    replace, candidates awaiting adjudication, confirmed DLTs, and the decision under the
    configured rule with "pending" while candidates await adjudication (§3.1). Study-wide:
    escalation is decided over every site. Also records when each level's decision last changed.

    A fixed number of queries whatever the number of subjects: each input is read once for the
    whole study as plain values (no model instances), so the safety dashboard can show it live
    at 10,000 subjects."""
    _row, choices = choices_in_force(study, today)
    levels = list(choices.dose_levels)
    rows = {level.code: LevelRow(code=level.code) for level in levels}
    enrolled = Subject.objects.filter(site__study=study, enrolled_on__isnull=False, dose_level__in=list(rows))
    infused = enrolled.filter(infusion_date__isnull=False).values("pk")
    doses: dict[int, tuple[bool | None, Any, Any]] = {}
    for subject_id, *dose in (
        Infusion.objects.filter(subject__in=infused, entered_in_error=False)
        .order_by("subject_id", "infusion_start", "pk")
        .values_list("subject_id", "dose_in_range", "car_positive_per_kg_e6", "dose_lower_e6")
    ):
        doses.setdefault(subject_id, (dose[0], dose[1], dose[2]))
    disease_deaths: dict[int, date | None] = {}
    for subject_id, died_on, cause in (
        Death.objects.filter(subject__in=infused, entered_in_error=False)
        .order_by("subject_id", "pk")
        .values_list("subject_id", "death_date", "primary_cause")
    ):
        disease_deaths.setdefault(subject_id, died_on if cause == DeathCause.DISEASE else None)
    therapy_starts: dict[int, list[date]] = {}
    for subject_id, start in SubsequentTherapy.objects.filter(subject__in=infused, entered_in_error=False).values_list(
        "subject_id", "start_date"
    ):
        therapy_starts.setdefault(subject_id, []).append(start)
    awaiting: dict[int, int] = {}
    confirmed_days: dict[int, list[int]] = {}
    for subject_id, status, onset_day in DltCandidate.objects.filter(subject__in=infused, withdrawn=False).values_list(
        "subject_id", "status", "onset_day"
    ):
        if status == CandidateStatus.AWAITING:
            awaiting[subject_id] = awaiting.get(subject_id, 0) + 1
        elif status == CandidateStatus.CONFIRMED:
            confirmed_days.setdefault(subject_id, []).append(onset_day)
    for pk, label, site_id, dose_level, day0, status, status_date in enrolled.order_by("pk").values_list(
        "pk", "subject_id", "site_id", "dose_level", "infusion_date", "status", "status_date"
    ):
        row = rows[dose_level]
        row.enrolled += 1
        course = _Course(
            day0=day0,
            withdrawn_on=_withdrawn_on(status, status_date),
            dose=doses.get(pk),
            confirmed_days=tuple(confirmed_days.get(pk, ())),
            disease_death_on=disease_deaths.get(pk),
            therapy_starts=tuple(therapy_starts.get(pk, ())),
        )
        evaluability = _evaluability(course, window_days=choices.dlt_window_days, today=today)
        if evaluability.status is rules.Evaluability.NOT_INFUSED:
            continue
        row.infused += 1
        if evaluability.status is rules.Evaluability.EVALUABLE:
            row.evaluable += 1
            row.confirmed += 1 if pk in confirmed_days else 0
            row.evaluable_order.append((day0, pk, pk in confirmed_days))
        elif evaluability.status is rules.Evaluability.TO_REPLACE:
            row.to_replace += 1
            # the subject as read (no further query): which one to replace, and why
            subject = Subject(
                pk=pk,
                subject_id=label,
                site_id=site_id,
                dose_level=dose_level,
                infusion_date=day0,
                status=status,
                status_date=status_date,
            )
            row.replace_subjects.append((subject, evaluability.reason.value if evaluability.reason else ""))
        else:
            row.in_window += 1
        row.awaiting += awaiting.get(pk, 0)
    ordered = sorted(levels, key=lambda lv: lv.target_cells_per_kg)
    highest = ordered[-1].code if ordered else None
    for code, row in rows.items():
        row.result = rules.escalation_decision(
            rule=choices.escalation_rule,
            evaluable=row.evaluable,
            confirmed_dlts=min(row.confirmed, row.evaluable),
            pending_candidates=row.awaiting,
            is_highest_level=code == highest,
            cleared=cleared_by_three_plus_three([dlt for _day0, _pk, dlt in sorted(row.evaluable_order)]),
        )
        row.rate = clopper_pearson(row.confirmed, row.evaluable) if row.evaluable else None
        row.changed_at = _remember_decision(study, code, row.result)
    mtd = recommended_dose([LevelCount(lv.code, rows[lv.code].evaluable, rows[lv.code].confirmed) for lv in ordered])
    if mtd is not None:
        rows[mtd].recommended = True
    return [rows[level.code] for level in levels]


def enrolment_acknowledgement(
    study: Study, dose_level: str, *, today: date | None = None
) -> list[AcknowledgementReason]:
    """Why enrolling a subject at `dose_level` now needs the investigator's explicit
    acknowledgement (§3.1): the level's decision is "above MTD" or "expansion: stop and
    review", or one of its candidates awaits adjudication. Empty: none needed. Enrolment
    (the casebook) records the acknowledgement with the subject."""
    for row in dose_level_monitor(study, today=today):
        if row.code == dose_level:
            return row.acknowledgement
    return []


def dose_level_dlt(*, study: Study, dose_level: str) -> DoseLevelDlt:
    """subjects.hooks.dose_level_dlt: the level's decision as the monitor last recorded it and
    its candidates awaiting adjudication, oldest first (the enrolment page, §3.1)."""
    decision = DoseLevelDecision.objects.filter(study=study, dose_level=dose_level).first()
    candidates = (
        DltCandidate.objects.filter(
            subject__site__study=study, subject__dose_level=dose_level, status=CandidateStatus.AWAITING, withdrawn=False
        )
        .select_related("subject")
        .order_by("flagged_at", "pk")
    )
    return DoseLevelDlt(
        decision="" if decision is None else decision.decision,
        decision_changed_at=None if decision is None else decision.changed_at,
        awaiting=tuple(
            AwaitingCandidate(
                subject_pk=c.subject_id,
                subject_id=c.subject.subject_id,
                criterion=c.get_criterion_display(),
                onset_day=c.onset_day,
            )
            for c in candidates
        ),
    )


def _remember_decision(study: Study, code: str, result: EscalationResult) -> Any:
    with transaction.atomic():
        record, created = DoseLevelDecision.objects.select_for_update().get_or_create(
            study=study,
            dose_level=code,
            defaults={"decision": result.decision.value, "pending": result.pending, "changed_at": timezone.now()},
        )
        if not created and (record.decision != result.decision.value or record.pending != result.pending):
            record.decision = result.decision.value
            record.pending = result.pending
            record.changed_at = timezone.now()
            record.save()
        return record.changed_at


# --- hooks: re-flag whenever an input of the rules changes ---------------------------------------


#: The only lab analytes the rules read (the day-28 haematologic recovery, §3.1).
DLT_ANALYTES = frozenset({"ANC", "PLT"})


def _syndrome_input(row: CrsAssessment | IcansAssessment | None) -> tuple[int, int] | None:
    if row is None or row.entered_in_error:
        return None
    return rules.syndrome_rule_input(row.study_day, row.grade)


def _in_day28_window(result: LabResult, subject: Subject) -> bool:
    """Whether an ANC or platelet count is dated inside the day-28 assessment window (`_day28`:
    only the last count on or after its first day and on or before its last is read). True when
    the subject has no infusion yet (nothing to narrow by)."""
    day0 = subject.infusion_date
    if day0 is None:
        return True
    study_id = subject.site.study_id
    window = protocol_picker(study_id)(day0)[1].dlt_window_days  # read once for the save
    before, after = assessment_window(study_id, window)
    return day0 + timedelta(days=window - before) <= result.collected_on <= day0 + timedelta(days=window + after)


def _cannot_move_a_rule(saved: Any, previous: Any) -> bool:
    """True when this save cannot change any candidate, so the rules need not run again (issue 22):
    a lab result of an analyte no rule reads, or an ANC or platelet count dated (before and after
    the save) outside the day-28 assessment window; an AE below grade 3 before and after the
    save; a CRS or ICANS assessment saved through its service whose own syndrome-rule input
    (`clinical.dlt.syndrome_rule_input`: the day and grade, counted only at grade 3 or more) is
    as it was and whose course re-derivation changed no other assessment's
    (`adverse_events.services.ae_crs_icans.COURSE_MOVED_DLT_INPUT`, unknown = run the rules). Candidates that
    appear with time alone are the hourly task's (tasks.refresh_dlt_candidates)."""
    if isinstance(saved, LabResult):
        counts = [row for row in (previous, saved) if row is not None and row.analyte in DLT_ANALYTES]
        return not any(_in_day28_window(row, saved.subject) for row in counts)
    if isinstance(saved, AdverseEvent):
        # the AE rule reads only AEs of grade 3 or more (`clinical.dlt.detect_candidates`; the
        # stored grade is the maximum of the AE's dated course): below it before and after the
        # save (or entered in error), the AE was and stays outside every rule
        return all(row is None or row.entered_in_error or (row.grade or 0) < 3 for row in (previous, saved))
    if isinstance(saved, CrsAssessment | IcansAssessment):
        if getattr(saved, COURSE_MOVED_DLT_INPUT, True):
            return False
        return _syndrome_input(previous) == _syndrome_input(saved)
    return False


def _inputs_changed(*, user: User, saved: Any, previous: Any) -> None:
    if _cannot_move_a_rule(saved, previous):
        return
    recompute_candidates(subject=Subject.objects.get(pk=saved.subject_id))
