"""The subject lifecycle through its services (issue 4 item 2): consent opens screening with a
screening number, the eligibility checklist (never before consent), enrolment with a subject ID
and a dose level, then every status change — allowed ones saved with their details, refused
ones with a clear message and nothing saved. Literal expectations throughout."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from crf.models import EntryStatus
from subjects.lifecycle import Event
from subjects.models import EligibilityAssessment, InformedConsent, Subject
from subjects.services import subject as services
from tests.subjects.conftest import ASSESSED, CONSENTED, ELIGIBLE, ENROLLED

pytestmark = pytest.mark.req("ISSUE-4")


def _messages(exc: ValidationError) -> list[str]:
    return list(exc.messages)


def _state(subject: Subject) -> tuple:
    subject = Subject.objects.get(pk=subject.pk)
    return (subject.status, subject.status_date, subject.status_reason, subject.not_infused_reason)


# --- consent -------------------------------------------------------------------------------------


def test_consent_opens_screening_with_a_screening_number(consent):
    subject = consent()
    subject = Subject.objects.get(pk=subject.pk)
    assert (subject.status, subject.screening_number, subject.subject_id, subject.status_date) == (
        "screening",
        "A-S001",
        "",
        CONSENTED,
    )
    form = InformedConsent.objects.get(subject=subject)
    # saved whole by the service (a version and a date or nothing), so complete: not "in progress" for good
    assert (form.consent_version, form.consent_date, form.entry_status) == ("1.0", CONSENTED, EntryStatus.COMPLETE)


def test_screening_numbers_run_per_site(consent, site_b, users_a):
    from tests.conftest import make_user

    coordinator_b = make_user("coordinator_b", site=site_b, role="coordinator")
    subjects = [consent(), consent(), consent(site=site_b, user=coordinator_b), consent()]
    assert [s.screening_number for s in subjects] == ["A-S001", "A-S002", "B-S001", "A-S003"]


def test_consent_needs_a_version(consent):
    with pytest.raises(ValidationError) as refused:
        consent(version="  ")
    assert _messages(refused.value) == ["Give the version of the consent form."]
    assert Subject.objects.count() == 0


@pytest.mark.parametrize("role", ["monitor", "data_manager", "statistician", "study_admin"])
def test_only_site_editors_record_consent(role, consent, users_a):
    with pytest.raises(PermissionDenied):
        consent(user=users_a[role])
    assert Subject.objects.count() == 0


def test_reconsent_on_a_new_version_is_another_record(consent, coordinator):
    subject = consent()
    services.record_reconsent(user=coordinator, subject=subject, consent_version="2.0", consent_date=date(2026, 4, 1))
    assert list(
        InformedConsent.objects.filter(subject=subject).values_list("consent_version", "consent_date", "entry_status")
    ) == [
        ("1.0", CONSENTED, "complete"),
        ("2.0", date(2026, 4, 1), "complete"),
    ]
    assert Subject.objects.get(pk=subject.pk).status == "screening"


def test_reconsent_on_the_same_version_is_refused(consent, coordinator):
    subject = consent()
    with pytest.raises(ValidationError) as refused:
        services.record_reconsent(user=coordinator, subject=subject, consent_version="1.0", consent_date=ASSESSED)
    assert _messages(refused.value) == ["Consent on version 1.0 is already recorded."]


def test_reconsent_before_the_first_consent_is_refused(consent, coordinator):
    subject = consent()
    with pytest.raises(ValidationError) as refused:
        services.record_reconsent(
            user=coordinator, subject=subject, consent_version="2.0", consent_date=date(2026, 2, 28)
        )
    assert _messages(refused.value) == ["A re-consent cannot be dated before the first consent (2026-03-01)."]


def test_reconsent_after_screen_failure_is_refused(consent, coordinator):
    subject = consent()
    services.change_status(
        user=coordinator, subject=subject, event=Event.FAIL_SCREENING, on=ASSESSED, reason="ANC too low"
    )
    with pytest.raises(ValidationError) as refused:
        services.record_reconsent(user=coordinator, subject=subject, consent_version="2.0", consent_date=ASSESSED)
    assert _messages(refused.value) == ["A subject whose status is “Screen failure” cannot be re-consented."]


# --- eligibility ---------------------------------------------------------------------------------


def _eligibility(user, subject, *, on=ASSESSED, criteria=None):
    return services.record_eligibility(
        user=user, subject=subject, protocol_version="2.1", assessment_date=on, criteria=criteria or ELIGIBLE
    )


def test_eligibility_dated_before_consent_is_refused(consent, coordinator):
    subject = consent()
    with pytest.raises(ValidationError) as refused:
        _eligibility(coordinator, subject, on=date(2026, 2, 28))
    assert refused.value.message_dict == {
        "assessment_date": [
            "Eligibility cannot be assessed before consent: the assessment date 2026-02-28 is before the consent "
            "date 2026-03-01."
        ]
    }
    assert EligibilityAssessment.objects.count() == 0


def test_eligibility_on_the_consent_date_is_recorded_with_each_answer(consent, coordinator):
    subject = consent()
    form = _eligibility(coordinator, subject, on=CONSENTED)
    form = EligibilityAssessment.objects.get(pk=form.pk)
    assert (form.assessment_date, form.protocol_version, form.criteria, form.eligible, form.entry_status) == (
        CONSENTED,
        "2.1",
        ELIGIBLE,
        True,
        "complete",
    )


def test_an_exclusion_met_makes_the_subject_ineligible(consent, coordinator):
    subject = consent()
    form = _eligibility(coordinator, subject, criteria={**ELIGIBLE, "EX1": True})
    assert form.eligible is False


def test_every_criterion_must_be_answered(consent, coordinator):
    subject = consent()
    answers = {k: v for k, v in ELIGIBLE.items() if k not in ("IN3", "EX4")}
    with pytest.raises(ValidationError) as refused:
        _eligibility(coordinator, subject, criteria=answers)
    assert refused.value.message_dict == {"criteria": ["Answer every criterion: IN3, EX4."]}


def test_eligibility_outside_screening_is_refused(at_status, coordinator):
    subject = at_status("enrolled")
    with pytest.raises(ValidationError) as refused:
        _eligibility(coordinator, subject)
    assert _messages(refused.value) == [
        "The eligibility checklist is recorded during screening; this subject's status is “Enrolled”."
    ]


# --- enrolment -----------------------------------------------------------------------------------


def test_enrolment_assigns_the_subject_id_and_the_dose_level(screened, coordinator):
    subject = services.enrol(user=coordinator, subject=screened(), on=ENROLLED, dose_level="DL2")
    subject = Subject.objects.get(pk=subject.pk)
    assert (subject.status, subject.subject_id, subject.screening_number, subject.dose_level, subject.enrolled_on) == (
        "enrolled",
        "A-001",
        "A-S001",
        "DL2",
        ENROLLED,
    )
    event = subject.events.order_by("-pgh_id").first()
    assert (event.status, event.dose_level, event.pgh_context["reason"]) == ("enrolled", "DL2", "Enrolment")


def test_subject_ids_run_per_site_and_are_never_reused(enrolled, consent, screened, site_b, coordinator):
    from tests.conftest import make_user

    coordinator_b = make_user("coordinator_b", site=site_b, role="coordinator")
    first = enrolled()
    failed = consent()
    services.change_status(user=coordinator, subject=failed, event=Event.FAIL_SCREENING, on=ASSESSED, reason="x")
    second = enrolled()
    other_site = enrolled(site=site_b, user=coordinator_b)
    third = enrolled()
    assert [first.subject_id, second.subject_id, other_site.subject_id, third.subject_id] == [
        "A-001",
        "A-002",
        "B-001",
        "A-003",
    ]
    assert Subject.objects.get(pk=failed.pk).subject_id == ""


def test_a_subject_id_taken_before_the_sequence_is_skipped(subject_a, enrolled):
    assert subject_a.subject_id == "A-001"
    assert enrolled().subject_id == "A-002"


def test_enrolment_without_eligibility_is_refused(consent, coordinator):
    subject = consent()
    with pytest.raises(ValidationError) as refused:
        services.enrol(user=coordinator, subject=subject, on=ENROLLED, dose_level="DL1")
    assert _messages(refused.value) == ["Enrolment needs an eligibility checklist showing the subject eligible."]
    assert Subject.objects.get(pk=subject.pk).subject_id == ""


def test_enrolment_of_an_ineligible_subject_is_refused(consent, coordinator):
    subject = consent()
    _eligibility(coordinator, subject, criteria={**ELIGIBLE, "IN2": False})
    with pytest.raises(ValidationError) as refused:
        services.enrol(user=coordinator, subject=subject, on=ENROLLED, dose_level="DL1")
    assert _messages(refused.value) == ["Enrolment needs an eligibility checklist showing the subject eligible."]


def test_enrolment_before_the_eligibility_assessment_is_refused(screened, coordinator):
    with pytest.raises(ValidationError) as refused:
        services.enrol(user=coordinator, subject=screened(), on=date(2026, 3, 2), dose_level="DL1")
    assert refused.value.message_dict == {
        "on": ["The enrolment date cannot be before the eligibility assessment (2026-03-03)."]
    }


def test_enrolment_needs_a_dose_level_of_the_protocol_settings(screened, coordinator):
    subject = screened()
    with pytest.raises(ValidationError) as refused:
        services.enrol(user=coordinator, subject=subject, on=ENROLLED, dose_level="DL9")
    assert refused.value.message_dict == {"dose_level": ["Choose one of the study's dose levels: DL1, DL2, DL3."]}
    assert Subject.objects.get(pk=subject.pk).status == "screening"


def test_enrolment_twice_is_refused(at_status, coordinator):
    subject = at_status("enrolled")
    with pytest.raises(ValidationError) as refused:
        services.enrol(user=coordinator, subject=subject, on=ENROLLED, dose_level="DL1")
    assert _messages(refused.value) == [
        "Not allowed: “Enrol” cannot be recorded for a subject whose status is “Enrolled”."
    ]


# --- dose level ----------------------------------------------------------------------------------


def test_a_dose_level_change_needs_a_reason(at_status, coordinator):
    subject = at_status("enrolled")
    with pytest.raises(ValidationError) as refused:
        services.change_dose_level(user=coordinator, subject=subject, dose_level="DL2", reason=" ")
    assert refused.value.message_dict == {"reason": ["Give a reason for changing the dose level."]}
    assert Subject.objects.get(pk=subject.pk).dose_level == "DL1"


def test_a_dose_level_change_is_audited_with_its_reason(at_status, users_a):
    subject = at_status("enrolled")
    services.change_dose_level(
        user=users_a["investigator"], subject=subject, dose_level="DL2", reason="SRC decision 2026-03-06"
    )
    event = Subject.objects.get(pk=subject.pk).events.order_by("-pgh_id").first()
    context = event.pgh_context
    assert (event.dose_level, context["reason"], context["username"], context["role"]) == (
        "DL2",
        "SRC decision 2026-03-06",
        "investigator_a",
        "investigator",
    )


def test_a_dose_level_outside_the_settings_is_refused_on_change(at_status, coordinator):
    subject = at_status("enrolled")
    with pytest.raises(ValidationError) as refused:
        services.change_dose_level(user=coordinator, subject=subject, dose_level="DL0", reason="typo")
    assert refused.value.message_dict == {"dose_level": ["Choose one of the study's dose levels: DL1, DL2, DL3."]}


def test_a_screening_subject_has_no_dose_level_to_change(consent, coordinator):
    with pytest.raises(ValidationError) as refused:
        services.change_dose_level(user=coordinator, subject=consent(), dose_level="DL2", reason="x")
    assert _messages(refused.value) == ["Only an enrolled subject has a dose level to change."]


# --- status changes ------------------------------------------------------------------------------


def test_the_main_path_to_completion_keeps_each_status_in_history(at_status, coordinator):
    subject = at_status("follow_up")
    services.change_status(user=coordinator, subject=subject, event=Event.COMPLETE, on=date(2026, 11, 15))
    statuses = list(Subject.objects.get(pk=subject.pk).events.order_by("pgh_id").values_list("status", "status_date"))
    assert statuses == [
        ("screening", CONSENTED),
        ("enrolled", ENROLLED),
        ("lymphodepleted", date(2026, 3, 10)),
        ("infused", date(2026, 3, 15)),
        ("follow_up", date(2026, 3, 29)),
        ("completed", date(2026, 11, 15)),
    ]


def test_screen_failure_needs_and_keeps_a_reason(consent, coordinator):
    subject = consent()
    with pytest.raises(ValidationError) as refused:
        services.change_status(user=coordinator, subject=subject, event=Event.FAIL_SCREENING, on=ASSESSED)
    assert refused.value.message_dict == {"reason": ["Give the reason."]}
    services.change_status(
        user=coordinator, subject=subject, event=Event.FAIL_SCREENING, on=ASSESSED, reason="CD7 negative"
    )
    assert _state(subject) == ("screen_failed", ASSESSED, "CD7 negative", "")


@pytest.mark.parametrize(
    "reason", ["manufacturing_failure", "out_of_specification", "progression", "death", "infection", "withdrawal"]
)
@pytest.mark.parametrize("status", ["enrolled", "lymphodepleted"])
def test_enrolled_but_not_infused_with_each_reason(status, reason, at_status, coordinator):
    subject = at_status(status)
    services.change_status(
        user=coordinator, subject=subject, event=Event.NOT_INFUSED, on=date(2026, 3, 12), not_infused_reason=reason
    )
    assert _state(subject) == ("not_infused", date(2026, 3, 12), "", reason)


def test_not_infused_needs_a_reason_from_the_list(at_status, coordinator):
    subject = at_status("enrolled")
    with pytest.raises(ValidationError) as refused:
        services.change_status(
            user=coordinator, subject=subject, event=Event.NOT_INFUSED, on=date(2026, 3, 12), not_infused_reason="bored"
        )
    assert refused.value.message_dict == {"not_infused_reason": ["Choose why the subject was not infused."]}
    assert _state(subject)[0] == "enrolled"


@pytest.mark.parametrize("status", ["infused", "follow_up"])
def test_withdrawal_keeps_reason_date_and_survival_follow_up(status, at_status, coordinator):
    subject = at_status(status)
    with pytest.raises(ValidationError) as refused:
        services.change_status(
            user=coordinator, subject=subject, event=Event.WITHDRAW, on=date(2026, 4, 1), reason="Moved away"
        )
    assert refused.value.message_dict == {"survival_follow_up": ["Say whether survival follow-up continues."]}
    services.change_status(
        user=coordinator,
        subject=subject,
        event=Event.WITHDRAW,
        on=date(2026, 4, 1),
        reason="Moved away",
        survival_follow_up=True,
    )
    subject = Subject.objects.get(pk=subject.pk)
    assert (subject.status, subject.status_date, subject.status_reason, subject.survival_follow_up) == (
        "withdrawn",
        date(2026, 4, 1),
        "Moved away",
        True,
    )


def test_death_after_withdrawal_only_with_survival_follow_up(at_status, coordinator):
    followed = at_status("infused")
    services.change_status(
        user=coordinator,
        subject=followed,
        event=Event.WITHDRAW,
        on=date(2026, 4, 1),
        reason="r",
        survival_follow_up=True,
    )
    services.change_status(user=coordinator, subject=followed, event=Event.DIE, on=date(2026, 6, 1))
    assert _state(followed)[:2] == ("died", date(2026, 6, 1))

    not_followed = at_status("infused")
    services.change_status(
        user=coordinator,
        subject=not_followed,
        event=Event.WITHDRAW,
        on=date(2026, 4, 1),
        reason="r",
        survival_follow_up=False,
    )
    with pytest.raises(ValidationError) as refused:
        services.change_status(user=coordinator, subject=not_followed, event=Event.DIE, on=date(2026, 6, 1))
    assert _messages(refused.value) == [
        "This subject withdrew without survival follow-up: a death cannot be recorded in the study."
    ]


@pytest.mark.parametrize("event", [Event.DIE, Event.LOSE_TO_FOLLOW_UP])
@pytest.mark.parametrize("status", ["infused", "follow_up"])
def test_death_and_loss_to_follow_up_after_infusion(status, event, at_status, coordinator):
    subject = at_status(status)
    services.change_status(user=coordinator, subject=subject, event=event, on=date(2026, 5, 1))
    assert _state(subject)[:2] == ({"die": "died", "lose_to_follow_up": "lost"}[event], date(2026, 5, 1))


@pytest.mark.parametrize(
    ("status", "event", "message"),
    [
        (
            "screening",
            Event.LYMPHODEPLETE,
            "“Lymphodepletion started” cannot be recorded for a subject whose status is “Screening”",
        ),
        ("screening", Event.INFUSE, "“Infused” cannot be recorded for a subject whose status is “Screening”"),
        ("screening", Event.WITHDRAW, "“Withdrawn” cannot be recorded for a subject whose status is “Screening”"),
        ("enrolled", Event.INFUSE, "“Infused” cannot be recorded for a subject whose status is “Enrolled”"),
        ("enrolled", Event.DIE, "“Died” cannot be recorded for a subject whose status is “Enrolled”"),
        (
            "enrolled",
            Event.FAIL_SCREENING,
            "“Screen failure” cannot be recorded for a subject whose status is “Enrolled”",
        ),
        (
            "lymphodepleted",
            Event.COMPLETE,
            "“Study completed” cannot be recorded for a subject whose status is “Lymphodepleted”",
        ),
        ("infused", Event.NOT_INFUSED, "“Not infused” cannot be recorded for a subject whose status is “Infused”"),
        ("infused", Event.COMPLETE, "“Study completed” cannot be recorded for a subject whose status is “Infused”"),
        ("follow_up", Event.INFUSE, "“Infused” cannot be recorded for a subject whose status is “In follow-up”"),
        ("follow_up", Event.ENROL, "“Enrol” cannot be recorded for a subject whose status is “In follow-up”"),
    ],
)
def test_illegal_transitions_are_refused_with_a_clear_message(status, event, message, consent, at_status, coordinator):
    subject = consent() if status == "screening" else at_status(status)
    before = _state(subject)
    with pytest.raises(ValidationError) as refused:
        services.change_status(
            user=coordinator,
            subject=subject,
            event=event,
            on=date(2026, 11, 1),
            reason="r",
            not_infused_reason="progression",
            survival_follow_up=True,
        )
    assert _messages(refused.value) == [f"Not allowed: {message}."]
    assert _state(subject) == before


@pytest.mark.parametrize("status", ["completed", "died", "not_infused", "screen_failed"])
def test_final_statuses_allow_nothing_more(status, at_status, consent, coordinator):
    if status == "screen_failed":
        subject = consent()
        services.change_status(user=coordinator, subject=subject, event=Event.FAIL_SCREENING, on=ASSESSED, reason="r")
    else:
        subject = at_status("follow_up" if status in ("completed", "died") else "enrolled")
        event = {
            "completed": Event.COMPLETE,
            "died": Event.DIE,
            "not_infused": Event.NOT_INFUSED,
        }[status]
        services.change_status(
            user=coordinator, subject=subject, event=event, on=date(2026, 12, 1), not_infused_reason="infection"
        )
    for event in Event:
        with pytest.raises(ValidationError):
            services.change_status(
                user=coordinator,
                subject=subject,
                event=event,
                on=date(2026, 11, 1),
                reason="r",
                not_infused_reason="death",
                survival_follow_up=True,
            )
    assert _state(subject)[0] == status


def test_a_status_dated_before_the_last_one_is_refused(at_status, coordinator):
    subject = at_status("lymphodepleted")
    with pytest.raises(ValidationError) as refused:
        services.change_status(user=coordinator, subject=subject, event=Event.INFUSE, on=date(2026, 3, 9))
    assert refused.value.message_dict == {
        "on": ["The date 2026-03-09 is before the subject's last status date 2026-03-10."]
    }


@pytest.mark.parametrize("role", ["monitor", "data_manager", "statistician", "study_admin"])
def test_only_site_editors_change_status(role, at_status, users_a):
    subject = at_status("enrolled")
    with pytest.raises(PermissionDenied):
        services.change_status(user=users_a[role], subject=subject, event=Event.LYMPHODEPLETE, on=date(2026, 3, 10))
    with pytest.raises(PermissionDenied):
        services.change_dose_level(user=users_a[role], subject=subject, dose_level="DL2", reason="r")
    assert _state(subject)[0] == "enrolled"


@pytest.mark.req("ISSUE-30")
def test_lost_to_follow_up_then_died_is_a_valid_audited_transition(at_status, coordinator):
    """A subject lost to follow-up and later found to have died: "lost" → "died" on or after
    the date it was lost (audited like every status change); nothing else leaves "lost"."""
    subject = at_status("follow_up")
    services.change_status(user=coordinator, subject=subject, event=Event.LOSE_TO_FOLLOW_UP, on=date(2026, 11, 20))
    with pytest.raises(ValidationError):
        services.change_status(user=coordinator, subject=subject, event=Event.DIE, on=date(2026, 11, 19))
    for event in (Event.COMPLETE, Event.WITHDRAW, Event.START_FOLLOW_UP):
        with pytest.raises(ValidationError):
            services.change_status(
                user=coordinator,
                subject=subject,
                event=event,
                on=date(2026, 11, 25),
                reason="r",
                survival_follow_up=True,
            )
    services.change_status(user=coordinator, subject=subject, event=Event.DIE, on=date(2026, 11, 28))
    assert _state(subject)[:2] == ("died", date(2026, 11, 28))
    trail = list(subject.events.order_by("pgh_id").values_list("status", flat=True))
    assert trail[-2:] == ["lost", "died"]
