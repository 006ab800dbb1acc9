"""Writes of the safety forms (STYLE habit 3). Every form save goes through
`crf.services.save_form`, reached from `crf.services.save` by the save services registered here,
so pages and the API share these rules:

- the AE log refuses a CRS AE (and an ICANS AE) entered by hand, pointing to the episode, and a
  Fever AE on a CRS episode day (CLINICAL_SPEC §1.2 g, §1.3);
- saving a CRS or ICANS assessment re-derives the subject's course: the other assessments'
  stored grades (audit reason "re-derived: …"), the episodes, and the one AE each episode owns;
- grade in source and the investigator's adjudication of an episode (§1.3; DESIGN §4a).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import time
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from adverse_events.derive import (
    course_inputs,
    crs_assessment_values,
    crs_course_of,
    icans_assessment_values,
    icans_settings,
    stored_crs_assessments,
    stored_inputs,
    subject_age,
)
from adverse_events.models import (
    AdverseEvent,
    AeAction,
    AeOutcome,
    CrsAssessment,
    CrsEpisode,
    EpisodeBase,
    IcansAssessment,
    IcansEpisode,
    Relationship,
)
from adverse_events.rules import CRS_TERM, ICANS_TERM, ICANS_VERBATIM, icans_input
from adverse_events.selectors import FEVER_MASKING_CONMED_CATEGORIES, crs_episode_on, medication_exposures
from clinical import ctcae
from clinical import icans as icans_rules
from clinical.crs import Episode
from clinical.dlt import syndrome_rule_input
from crf import checks, derivations
from crf.models import CrfInstance
from crf.rederive import raise_copied_value_query, rederive
from crf.services import atomic_save, protocol_picker, save_form
from dbtools.prepared import Prepared
from labs.models import VitalSigns
from study import access, system_text
from study.audit_context import audit_context
from study.roles import Action
from study.system_text import message
from subjects.models import Subject
from survival.models import Death, DeathCause

if TYPE_CHECKING:
    from study.models import User


def _key(text: str) -> str:
    return " ".join((text or "").casefold().split())


def episode_url(episode: EpisodeBase) -> str:
    kind = "crs" if isinstance(episode, CrsEpisode) else "icans"
    return reverse("adverse_events:episode", args=[episode.subject_id, kind, episode.pk])


def _episode_pointer(model: type[EpisodeBase], subject: Subject) -> str:
    episodes = list(model.objects.filter(subject=subject, superseded=False).order_by("number"))
    if not episodes:
        return _("No episode is derived yet: record the assessments and the episode and its AE follow.")
    return _("Its episodes: %(list)s.") % {
        "list": "; ".join(
            _("episode %(n)s from study day %(day)s (%(url)s)")
            % {"n": e.number, "day": e.onset_day, "url": episode_url(e)}
            for e in episodes
        )
    }


@atomic_save
def record_adverse_event(
    *, user: User, instance: AdverseEvent, expected_version: int | None, reason: str = ""
) -> AdverseEvent:
    """Save an AE log entry (CLINICAL_SPEC §3). A system-owned AE keeps its episode's term,
    grade and dates whatever is typed; the site completes seriousness, relationship, action."""
    if instance.system_owned:
        episode = instance.crs_episode or instance.icans_episode
        assert episode is not None
        for name, value in _episode_ae_values(episode).items():
            setattr(instance, name, value)
        return save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)
    term = _key(instance.ctcae_term)
    if term == _key(CRS_TERM):
        raise ValidationError(
            {
                "ctcae_term": _(
                    "CRS is not entered by hand: each CRS episode derived from the CRS assessments owns one "
                    "AE, created and kept in step by the system (ASTCT grade). Record a CRS assessment instead. "
                )
                + _episode_pointer(CrsEpisode, instance.subject)
            },
            code="crs_by_hand",
        )
    if term == _key(ICANS_TERM) and _key(instance.verbatim) == _key(ICANS_VERBATIM):
        raise ValidationError(
            {
                "ctcae_term": _(
                    "ICANS is not entered by hand: each ICANS episode owns one AE kept in step by the system. "
                    "Record an ICANS assessment instead. "
                )
                + _episode_pointer(IcansEpisode, instance.subject)
            },
            code="icans_by_hand",
        )
    if term == _key(ctcae.FEVER) and instance.onset_date is not None:
        episode = crs_episode_on(instance.subject, instance.onset_date)
        if episode is not None:
            raise ValidationError(
                {
                    "ctcae_term": _(
                        "Fever on a CRS episode day is part of CRS, not a separate AE (CRS episode %(n)s, "
                        "study days %(first)s to %(last)s: %(url)s)."
                    )
                    % {
                        "n": episode.number,
                        "first": episode.onset_day,
                        "last": episode.onset_day + episode.duration_days - 1,
                        "url": episode_url(episode),
                    }
                },
                code="fever_on_crs_day",
            )
    return save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)


# --- courses and episodes -------------------------------------------------------------------


def _episode_ae_values(episode: EpisodeBase) -> dict[str, object]:
    """The AE fields an episode owns (§1.3, §2.3): term, grade (adjudicated when present), dates."""
    is_crs = isinstance(episode, CrsEpisode)
    return {
        "ctcae_term": CRS_TERM if is_crs else ICANS_TERM,
        "verbatim": "" if is_crs else ICANS_VERBATIM,
        "grade": episode.grade,
        "onset_date": episode.onset_date,
        "resolution_date": episode.resolved_date,
    }


#: the AE of an episode, by the owning field (statements compiled once, dbtools.prepared)
_episode_ae = {
    owner: Prepared(
        lambda episode_id, owner=owner: AdverseEvent.objects.filter(**{owner: episode_id})[:1], ("episode_id",)
    )
    for owner in ("crs_episode", "icans_episode")
}


def _sync_ae(*, user: User | None, episode: EpisodeBase, reason: str) -> AdverseEvent:
    """Create the episode's AE, or bring it in step (grade, dates, outcome); an AE whose episode
    no longer exists is marked entered in error, and restored if the episode comes back."""
    owner = "crs_episode" if isinstance(episode, CrsEpisode) else "icans_episode"
    found = _episode_ae[owner].objects(episode_id=episode.pk)
    ae = found[0] if found else None
    if ae is not None:
        ae.subject = episode.subject  # the course's subject, with its site (no join to read it again)
    values = _episode_ae_values(episode)
    if episode.grade == 5:
        # Grade 5 is death related to the AE (CLINICAL_SPEC §3): fatal, serious by death.
        values["outcome"] = AeOutcome.FATAL
        values["serious_death"] = True
    if ae is None:
        if user is None:
            raise ValidationError(_("A user is needed to create an episode's AE."))
        ae = AdverseEvent(
            subject=episode.subject,
            relationship_car_t=Relationship.PROBABLE,
            relationship_lymphodepletion=Relationship.UNLIKELY,
            action=AeAction.TREATMENT,
            outcome=AeOutcome.NOT_RECOVERED if episode.ongoing else AeOutcome.RECOVERED,
            **{owner: episode},
            **values,
        )
        return save_form(user=user, instance=ae, expected_version=None, reason=reason)
    derived_outcomes = (AeOutcome.RECOVERED, AeOutcome.NOT_RECOVERED, AeOutcome.RECOVERING, AeOutcome.FATAL)
    if ae.outcome in derived_outcomes and episode.grade != 5:
        # A death record corrected away from this cause takes the fatal outcome back with grade 5.
        values["outcome"] = AeOutcome.NOT_RECOVERED if episode.ongoing else AeOutcome.RECOVERED
    probe = copy.copy(ae)
    for name, value in values.items():
        setattr(probe, name, value)
    values.update(derivations.compute(probe))
    values["entered_in_error"] = episode.superseded
    values["error_reason"] = reason if episode.superseded else ""
    rederive(forms=[ae], values=lambda _form: values, reason=reason, user=user, removed_too=True)
    return ae


_locked_episodes = {
    model: Prepared(
        lambda subject_id, model=model: model.objects.select_for_update().filter(subject_id=subject_id), ("subject_id",)
    )
    for model in (CrsEpisode, IcansEpisode)
}


def _sync_episodes(
    model: type[CrsEpisode] | type[IcansEpisode],
    *,
    user: User | None,
    subject: Subject,
    episodes: tuple[Episode, ...],
    settings_version: int,
    reason: str,
) -> list[EpisodeBase]:
    existing = {row.number: row for row in _locked_episodes[model].objects(subject_id=subject.pk)}
    kept: list[EpisodeBase] = []
    for row in existing.values():
        row.subject = subject  # with its site: the episode's AE and audit rows read it
    for episode in episodes:
        row = existing.pop(episode.number, None) or model(subject=subject, number=episode.number)
        derived = {
            "onset_date": episode.onset_date,
            "last_date": episode.last_date,
            "onset_day": episode.onset_day,
            "duration_days": episode.duration_days,
            "resolved_date": episode.resolved_date,
            "derived_grade": episode.grade,
            "criteria": episode.criteria,
            "settings_version": settings_version,
            "superseded": False,
        }
        if row.pk is None or any(getattr(row, k) != v for k, v in derived.items()):
            for name, value in derived.items():
                setattr(row, name, value)
            with audit_context(user=user, site=subject.site, reason=reason):
                if row.pk is None:
                    row.save()
                else:
                    row.version += 1
                    row.save(update_fields=[*derived, "version"])
                # An unchanged episode keeps its checks' outcome: they run when it changes.
                checks.run_edit_checks(row)
        _sync_ae(user=user, episode=row, reason=reason)
        kept.append(row)
    for row in existing.values():
        if not row.superseded:
            row.superseded = True
            row.version += 1
            with audit_context(user=user, site=subject.site, reason=reason):
                row.save(update_fields=["superseded", "version"])
                checks.run_edit_checks(row)
            _sync_ae(user=user, episode=row, reason=reason)
    return kept


#: the subject's death from CRS (ICANS), as `.first()` in the model's order (dbtools.prepared)
_fatal_death = {
    cause: Prepared(
        lambda subject_id, cause=cause: Death.objects.filter(
            subject_id=subject_id, entered_in_error=False, primary_cause=cause
        )[:1],
        ("subject_id",),
    )
    for cause in (DeathCause.CRS, DeathCause.ICANS)
}


def _fatal(episodes: tuple[Episode, ...], *, subject: Subject, cause: str) -> tuple[Episode, ...]:
    """Grade 5 is death with CRS (ICANS) as the principal cause (CLINICAL_SPEC §1.1, §2.2): when
    the subject's death record gives that cause, the last episode with onset on or before the
    date of death is grade 5. A death from CRS (ICANS) with no such episode is refused: the
    assessments leading to it are recorded first."""
    found = _fatal_death[cause].objects(subject_id=subject.pk)
    death = found[0] if found else None
    if death is None:
        return episodes
    before = [e for e in episodes if e.onset_date <= death.death_date]
    if not before:
        label = _("CRS") if cause == DeathCause.CRS else _("ICANS")
        raise ValidationError(
            {
                "primary_cause": _(
                    "No %(what)s episode began on or before the date of death: record the %(what)s assessments "
                    "first, then the death."
                )
                % {"what": label}
            },
            code="no_episode",
        )
    fatal = before[-1].number
    return tuple(replace(e, grade=5) if e.number == fatal else e for e in episodes)


#: the subject of a course, locked, with its site (dbtools.prepared: compiled once)
_locked_subject = Prepared(
    lambda subject_id: Subject.objects.select_for_update(of=("self",)).select_related("site").filter(pk=subject_id),
    ("subject_id",),
)


def locked_subject(subject: Subject) -> Subject:
    """`subject` read again with its site under a row lock (FOR UPDATE of the subject alone): the
    saves and re-derivations of one subject's course and DLT candidates queue on it."""
    found = _locked_subject.objects(subject_id=subject.pk)
    if not found:
        raise Subject.DoesNotExist
    return found[0]


#: a course's stored assessments (dbtools.prepared: compiled once), in the model's order
_course_assessments = {
    model: Prepared(
        lambda subject_id, model=model: model.objects.filter(subject_id=subject_id, entered_in_error=False),
        ("subject_id",),
    )
    for model in (CrsAssessment, IcansAssessment)
}

#: an assessment's row as stored, to bring the saved instance in step after its course
_assessment_row = {
    model: Prepared(lambda pk, model=model: model.objects.filter(pk=pk).order_by(), ("pk",))
    for model in (CrsAssessment, IcansAssessment)
}


def _refreshed(saved: CrsAssessment | IcansAssessment) -> None:
    """`saved.refresh_from_db()` (the course may have re-derived the saved row itself) from a
    statement compiled once; a cached related object (the subject with its site) is kept where
    its id did not change, as assigning the id does, not dropped."""
    fresh = _assessment_row[type(saved)].objects(pk=saved.pk)
    if not fresh:
        raise type(saved).DoesNotExist
    for field in type(saved)._meta.concrete_fields:
        setattr(saved, field.attname, getattr(fresh[0], field.attname))
    saved._state.adding, saved._state.db = False, fresh[0]._state.db


#: Set by the CRS/ICANS save services on the assessment they return: whether the course
#: re-derivation of that save changed what another (or the same) assessment gives the DLT
#: syndrome rule (`clinical.dlt.syndrome_rule_input`). adverse_events.services.dlt runs the
#: DLT rules again after the save only when this is True or the saved assessment's own input
#: moved; a row without it (entered in error, another path) always runs them.
COURSE_MOVED_DLT_INPUT = "course_moved_dlt_input"


def _dlt_inputs(assessments: list[CrsAssessment] | list[IcansAssessment]) -> set[tuple[int, tuple[int, int]]]:
    found = set()
    for assessment in assessments:
        given = syndrome_rule_input(assessment.study_day, assessment.grade)
        if given is not None:
            found.add((assessment.pk, given))
    return found


@atomic_save
def rederive_crs_course(*, user: User | None, subject: Subject, reason: str) -> list[EpisodeBase]:
    """Re-derive the subject's CRS course (§1.3) once: its assessments and con-med exposures are
    read once, the course computed once (adverse_events.derive), each assessment's stored grade
    brought in step through crf.rederive (only what changed is written), then the episodes and
    their AEs. The number of queries does not grow with the number of assessments."""
    return _crs_course(user=user, subject=subject, reason=reason)[0]


def _crs_course(
    *,
    user: User | None,
    subject: Subject,
    reason: str,
    stored: list[CrsAssessment] | None = None,
    known: Mapping[int, Any] | None = None,
) -> tuple[list[EpisodeBase], bool]:
    """`rederive_crs_course`, and whether it changed an assessment's DLT rule input. `stored`:
    the subject's assessments as stored, read by the caller under the subject's lock (which
    `subject` then is: `locked_subject`), in the model's order; `known`: course inputs of some
    of them (`stored_inputs`)."""
    if stored is None:
        subject = locked_subject(subject)
        if subject.day0 is None:
            return [], False
        stored = _course_assessments[CrsAssessment].objects(subject_id=subject.pk)
    elif subject.day0 is None:
        return [], False
    assessments = stored
    for assessment in assessments:
        assessment.subject = subject
    exposures = medication_exposures(subject)
    pick = protocol_picker(subject.site.study_id)
    inputs = course_inputs(assessments, known)
    derived = crs_assessment_values(subject, assessments, exposures=exposures, pick=pick, inputs=inputs)
    before = _dlt_inputs(assessments)
    rederive(forms=assessments, values=lambda form: derived[form.pk], reason=reason, user=user, subject=subject)
    row, choices = pick(subject.day0)
    course = crs_course_of(subject, assessments, exposures=exposures, settings=choices.crs_settings(), inputs=inputs)
    episodes = _fatal(course.episodes, subject=subject, cause=DeathCause.CRS)
    synced = _sync_episodes(
        CrsEpisode, user=user, subject=subject, episodes=episodes, settings_version=row.version, reason=reason
    )
    return synced, _dlt_inputs(assessments) != before


@atomic_save
def rederive_icans_course(*, user: User | None, subject: Subject, reason: str) -> list[EpisodeBase]:
    """ICANS as §1.3 without the fever clause (§2.3): assessments, episodes, their AEs — from
    one read of the assessments, as the CRS course."""
    return _icans_course(user=user, subject=subject, reason=reason)[0]


def _icans_course(*, user: User | None, subject: Subject, reason: str) -> tuple[list[EpisodeBase], bool]:
    """`rederive_icans_course`, and whether it changed an assessment's DLT rule input."""
    subject = locked_subject(subject)
    if subject.day0 is None:
        return [], False
    assessments = _course_assessments[IcansAssessment].objects(subject_id=subject.pk)
    pick = protocol_picker(subject.site.study_id)
    ages = {}
    for assessment in assessments:
        assessment.subject = subject
        ages[assessment.pk] = subject_age(subject, assessment.assessment_date)
    derived = {a.pk: icans_assessment_values(a, pick=pick, age=ages[a.pk]) for a in assessments}
    before = _dlt_inputs(assessments)
    rederive(forms=assessments, values=lambda form: derived[form.pk], reason=reason, user=user, subject=subject)
    row, choices = pick(subject.day0)
    settings = icans_settings(choices)
    inputs = [icans_input(a, age_years=ages[a.pk] or 0, settings=settings) for a in assessments]
    course = icans_rules.icans_course(inputs, infusion_date=subject.day0, settings=settings)
    episodes = _fatal(course.episodes, subject=subject, cause=DeathCause.ICANS)
    synced = _sync_episodes(
        IcansEpisode, user=user, subject=subject, episodes=episodes, settings_version=row.version, reason=reason
    )
    return synced, _dlt_inputs(assessments) != before


def _saved_then_course(
    course: Callable[..., tuple[list[EpisodeBase], bool]],
    msgid: str,
    *,
    user: User,
    instance: CrsAssessment | IcansAssessment,
    expected_version: int | None,
    reason: str,
) -> Any:
    """Save an assessment with its grade (crf.derivations), then re-derive the subject's course
    with `msgid` ("… of %(date)s saved") as the audit reason; the saved row says whether a DLT
    input moved (COURSE_MOVED_DLT_INPUT)."""
    saved = save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)
    _episodes, moved = course(
        user=user, subject=saved.subject, reason=message(msgid, date=saved.assessment_date.isoformat())
    )
    _refreshed(saved)
    setattr(saved, COURSE_MOVED_DLT_INPUT, moved)
    return saved


def _in_model_order(assessments: list[CrsAssessment]) -> list[CrsAssessment]:
    """`CrsAssessment.Meta.ordering` within one subject, as PostgreSQL sorts it (date, time with
    no time last, id)."""
    return sorted(
        assessments,
        key=lambda a: (a.assessment_date, a.assessment_time is None, a.assessment_time or time.min, a.pk),
    )


@atomic_save
def record_crs_assessment(
    *, user: User, instance: CrsAssessment, expected_version: int | None, reason: str = ""
) -> CrsAssessment:
    """Save the assessment with its grade (crf.derivations), then re-derive the CRS course. The
    subject is locked first and its stored assessments read once, under the lock, for both: the
    saved one's grade (`derive_crs_assessment`) and the course after the save, which takes the
    saved row in place of its stored self (issue 22, ninth pass: they were read twice, the first
    time without the lock)."""
    msgid = gettext_noop("re-derived: CRS assessment of %(date)s saved")
    subject = locked_subject(instance.subject)
    if subject.day0 is None:  # the derivation refuses the save (no Day-0 clock)
        return _saved_then_course(
            _crs_course, msgid, user=user, instance=instance, expected_version=expected_version, reason=reason
        )
    stored = _course_assessments[CrsAssessment].objects(subject_id=subject.pk)
    inputs = stored_inputs(stored)  # built once: the saved one's grade and the course use them
    with stored_crs_assessments(subject.pk, stored, inputs):
        saved = save_form(user=user, instance=instance, expected_version=expected_version, reason=reason)
    _refreshed(saved)  # as stored: the course compares its derived values with the stored ones
    version = saved.version
    course = [row for row in stored if row.pk != saved.pk]
    if not saved.entered_in_error:
        course = _in_model_order([*course, saved])
    _episodes, moved = _crs_course(
        user=user,
        subject=subject,
        reason=message(msgid, date=saved.assessment_date.isoformat()),
        stored=course,
        known=inputs,
    )
    if saved.version != version:  # the course re-derived the saved row itself
        _refreshed(saved)
    setattr(saved, COURSE_MOVED_DLT_INPUT, moved)
    return saved


@atomic_save
def record_icans_assessment(
    *, user: User, instance: IcansAssessment, expected_version: int | None, reason: str = ""
) -> IcansAssessment:
    """Save the assessment with its grade (crf.derivations), then re-derive the ICANS course."""
    msgid = gettext_noop("re-derived: ICANS assessment of %(date)s saved")
    return _saved_then_course(
        _icans_course, msgid, user=user, instance=instance, expected_version=expected_version, reason=reason
    )


def rederive_after_conmed(*, user: User | None, subject: Subject, what: str) -> list[EpisodeBase]:
    """A con-med that can mask fever was saved (CLINICAL_SPEC §1.2 b): re-derive the CRS days."""
    return rederive_crs_course(
        user=user, subject=subject, reason=message(gettext_noop("re-derived: %(what)s"), what=what)
    )


# --- grade in source and adjudication (§1.3) -------------------------------------------------


def _locked_episode(episode: EpisodeBase, expected_version: int) -> EpisodeBase:
    row = type(episode).objects.select_for_update().select_related("subject__site").get(pk=episode.pk)
    if row.version != expected_version:
        raise ValidationError(
            _("Someone else changed this episode after you opened it. Reload the page and try again."), code="stale"
        )
    if row.superseded:
        raise ValidationError(_("This episode no longer exists after a correction of the assessments."))
    return row


@transaction.atomic
def record_source_grade(
    *, user: User, episode: EpisodeBase, source_grade: int | None, expected_version: int, reason: str = ""
) -> EpisodeBase:
    """The grade the treating physician wrote in the source; a mismatch with the derived grade
    raises an automatic query (crf.checks) until an investigator adjudicates."""
    if not access.can(user, Action.EDIT_CRF, site=episode.subject.site):
        raise PermissionDenied
    row = _locked_episode(episode, expected_version)
    if source_grade is not None and not 1 <= source_grade <= 5:
        raise ValidationError({"source_grade": _("Grades run from 1 to 5.")})
    if row.source_grade is not None and not reason.strip():
        raise ValidationError({"reason": _("Give a reason for changing the grade in source.")})
    row.source_grade = source_grade
    row.version += 1
    with audit_context(user=user, site=row.subject.site, reason=reason.strip()):
        row.save(update_fields=["source_grade", "version"])
        checks.run_edit_checks(row)
    return row


@transaction.atomic
def adjudicate_episode(
    *, user: User, episode: EpisodeBase, grade: int, reason: str, expected_version: int
) -> EpisodeBase:
    """An investigator sets the episode grade with a reason (DESIGN §4a: investigators only);
    the grade-in-source query closes and the episode's AE takes the adjudicated grade."""
    if not access.can(user, Action.ADJUDICATE, site=episode.subject.site):
        raise PermissionDenied
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for the adjudicated grade.")})
    if not 1 <= grade <= 5:
        raise ValidationError({"grade": _("Grades run from 1 to 5.")})
    row = _locked_episode(episode, expected_version)
    row.adjudicated_grade = grade
    row.adjudication_reason = reason.strip()
    row.adjudicated_by = user
    row.adjudicated_at = timezone.now()
    row.version += 1
    with audit_context(user=user, site=row.subject.site, reason=reason.strip()):
        row.save(
            update_fields=["adjudicated_grade", "adjudication_reason", "adjudicated_by", "adjudicated_at", "version"]
        )
        checks.run_edit_checks(row)
    _sync_ae(user=user, episode=row, reason=message(gettext_noop("re-derived: episode grade adjudicated")))
    return row


def _crs_assessment_removed(*, user: User, saved: CrsAssessment, previous: CrsAssessment | None) -> None:
    """An assessment entered in error leaves the course: re-derive it (§1.3)."""
    if saved.entered_in_error and previous is not None and not previous.entered_in_error:
        rederive_crs_course(
            user=user,
            subject=saved.subject,
            reason=message(
                gettext_noop("re-derived: CRS assessment of %(date)s entered in error"),
                date=saved.assessment_date.isoformat(),
            ),
        )


def _icans_assessment_removed(*, user: User, saved: IcansAssessment, previous: IcansAssessment | None) -> None:
    if saved.entered_in_error and previous is not None and not previous.entered_in_error:
        rederive_icans_course(
            user=user,
            subject=saved.subject,
            reason=message(
                gettext_noop("re-derived: ICANS assessment of %(date)s entered in error"),
                date=saved.assessment_date.isoformat(),
            ),
        )


def _conmed_changed(*, user: User, saved: CrfInstance, previous: CrfInstance | None) -> None:
    """A con-med of a fever-masking category (antipyretic, tocilizumab, corticosteroid) was
    saved, edited or entered in error — or an edit moved it out of such a category: its start
    date can change the CRS grade of the days after it (CLINICAL_SPEC §1.2 b), so the subject's
    CRS days are re-derived with the audit reason "re-derived: …" (DESIGN §4)."""
    categories = FEVER_MASKING_CONMED_CATEGORIES
    touched = [row for row in (previous, saved) if row is not None and getattr(row, "category", "") in categories]
    if not touched or not CrsAssessment.objects.filter(subject_id=saved.subject_id).exists():
        return
    row = touched[-1]
    labels = dict(row._meta.get_field("category").flatchoices)  # lazy: stored by its code (issue 25)
    what = message(
        gettext_noop("concomitant medication %(category)s from %(date)s %(change)s"),
        category=labels.get(row.category, row.category),  # type: ignore[attr-defined]
        date=row.start_date.isoformat() if row.start_date else "—",  # type: ignore[attr-defined]
        change=message(gettext_noop("entered in error") if saved.entered_in_error else gettext_noop("saved")),
    )
    rederive_after_conmed(user=user, subject=saved.subject, what=what)


def _death_changed(*, user: User, saved: Death, previous: Death | None) -> None:
    """A death from CRS or ICANS makes that episode grade 5 (CLINICAL_SPEC §1.1, §2.2), and a
    correction of the cause or of the death record takes it back: the episodes and their
    system-owned AEs are re-derived with the audit reason "re-derived: death" (DESIGN §4)."""
    causes = {row.primary_cause for row in (previous, saved) if row is not None}
    reason = _("re-derived: death")
    if DeathCause.CRS in causes:
        rederive_crs_course(user=user, subject=saved.subject, reason=reason)
    if DeathCause.ICANS in causes:
        rederive_icans_course(user=user, subject=saved.subject, reason=reason)


#: Rule code of the query raised on a CRS form whose copied vital signs were corrected.
VITALS_CORRECTED_RULE = "crs_copied_vitals_corrected"


def _copied_vitals_corrected(*, user: User, saved: VitalSigns, previous: VitalSigns | None) -> None:
    """A correction of vital signs the CRS form of that day copied (issue 24 item 4: Tmax,
    hypotension from the lowest systolic pressure, oxygen device and flow) raises a query on
    each CRS assessment entered after them that still holds the copied value; the copy is not
    rewritten (it was the user's to edit)."""
    if previous is None:
        return
    removed = saved.entered_in_error and not previous.entered_in_error
    moved = saved.assessment_date != previous.assessment_date

    def corrected(*names: str) -> bool:
        return removed or moved or any(getattr(saved, n) != getattr(previous, n) for n in names)

    forms = CrsAssessment.objects.filter(
        subject_id=saved.subject_id,
        assessment_date=previous.assessment_date,
        entered_in_error=False,
        created_at__gte=previous.created_at,
    )
    when = previous.assessment_date.isoformat() + (
        f" {previous.assessment_time.strftime('%H:%M')}" if previous.assessment_time else ""
    )
    for form in forms:
        copied: str | None = None
        if previous.temperature_c is not None and form.tmax_c == previous.temperature_c and corrected("temperature_c"):
            copied = "tmax_c"
        elif previous.hypotension is not None and form.hypotension == previous.hypotension and corrected("systolic_bp"):
            copied = "hypotension"
        elif (
            previous.oxygen_device != "room_air"
            and form.oxygen_device == previous.oxygen_device
            and form.oxygen_flow_l_min == previous.oxygen_flow_l_min
            and corrected("oxygen_device", "oxygen_flow_l_min")
        ):
            copied = "oxygen_device"
        if copied is None:
            continue
        raise_copied_value_query(
            form=form,
            field_name=copied,
            rule_code=VITALS_CORRECTED_RULE,
            message=system_text.compose(
                gettext_noop(
                    "The vital signs of %(when)s this value may have been copied from were corrected "
                    "or entered in error. Confirm this value against the source, or correct it."
                ),
                when=when,
            ),
        )
