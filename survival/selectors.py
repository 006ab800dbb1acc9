"""Reads for the time-to-event endpoints (CLINICAL_SPEC §5.3, §6): a subject's dated events
gathered from the forms, handed to `clinical.response.time_to_event_records`. Callers reach
subjects through the visibility gate (study.access) first."""

from __future__ import annotations

from datetime import date

from clinical import response as rules
from response.models import MarrowAssessment, Relapse, ResponseCategory
from study.models import VisitDefinition
from subjects.models import Subject
from survival.models import Death, FollowUpContact, SubsequentTherapy, TherapyType

DAY28_WINDOW_DEFAULT = 3  # CLINICAL_SPEC §7: ±3 days to day 28


def last_known_alive(subject: Subject, *, cutoff: date | None = None) -> date | None:
    """§6: the latest follow-up contact with the subject alive (contacts after the cut-off
    ignored), at least the infusion date; None before infusion."""
    if subject.infusion_date is None:
        return None
    alive = FollowUpContact.objects.filter(subject=subject, entered_in_error=False, alive=True).values_list(
        "contact_date", flat=True
    )
    return rules.last_known_alive(infusion_date=subject.infusion_date, alive_on=list(alive), cutoff=cutoff)


def day28_window_after(subject: Subject) -> int:
    """The day-28 visit's window after (§5.3 follows §7's window settings)."""
    found = (
        VisitDefinition.objects.filter(study_id=subject.site.study_id, anchor="infusion", day=28)
        .values_list("window_after", flat=True)
        .first()
    )
    return DAY28_WINDOW_DEFAULT if found is None else int(found)


def subject_course(subject: Subject, *, cutoff: date | None = None) -> rules.SubjectCourse | None:
    """The dated events of an infused subject; endpoints use adjudicated responses where present.
    Contacts after the cut-off never extend the last date known alive (§6)."""
    day0 = subject.infusion_date
    if day0 is None:
        return None
    assessments = MarrowAssessment.objects.filter(
        subject=subject, entered_in_error=False, assessment_date__gte=day0, is_baseline=False
    ).exclude(response="")
    responses = []
    relapses = set(
        Relapse.objects.filter(subject=subject, entered_in_error=False).values_list("relapse_date", flat=True)
    )
    for ma in assessments.order_by("assessment_date", "pk"):
        category = rules.Category(ma.final_response)
        mrd = rules.MrdStatus(ma.mrd_status) if ma.mrd_status else None
        responses.append(rules.DatedResponse(ma.assessment_date, category, mrd))
        if ma.final_response in (ResponseCategory.RELAPSE, ResponseCategory.PD):
            relapses.add(ma.assessment_date)
    death = Death.objects.filter(subject=subject, entered_in_error=False).values_list("death_date", flat=True).first()
    therapies = SubsequentTherapy.objects.filter(subject=subject, entered_in_error=False, start_date__gte=day0)
    first_therapy = therapies.order_by("start_date").values_list("start_date", flat=True).first()
    first_hsct = (
        therapies.filter(therapy_type=TherapyType.HSCT)
        .order_by("start_date")
        .values_list("start_date", flat=True)
        .first()
    )
    return rules.SubjectCourse(
        infusion_date=day0,
        last_known_alive=last_known_alive(subject, cutoff=cutoff) or day0,
        responses=tuple(responses),
        relapse_dates=tuple(sorted(relapses)),
        death_date=death,
        hsct_date=first_hsct,
        new_therapy_date=first_therapy,
    )


def time_to_event(subject: Subject, *, cutoff: date, censor_at_hsct: bool = False) -> rules.TimeToEventRecords | None:
    """OS, EFS, RFS, DOR and the competing-risk record of one subject over a data cut."""
    course = subject_course(subject, cutoff=cutoff)
    if course is None:
        return None
    return rules.time_to_event_records(
        course, cutoff=cutoff, day28_window_after_days=day28_window_after(subject), censor_at_hsct=censor_at_hsct
    )
