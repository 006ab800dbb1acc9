"""Synthetic subjects for the demo study (issue 6 item 4): 24 courses written through the same
services a coordinator's pages call, so every page of the demo shows something real.

Deterministic: the same `today` and seed give the same subjects, dates and values. Dates are
placed relative to `today` so that the latest subjects are in their first two weeks after
infusion (daily vitals and labs), earlier ones are in follow-up, and some visits are overdue.
Nothing here is real patient data; names are invented.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction

from crf.services import save
from labs.models import OxygenDevice, VitalSigns
from study.models import Site, User
from subjects import services, visits
from subjects.eligibility import CRITERIA
from subjects.lifecycle import Event, NotInfusedReason
from subjects.models import Infusion, Lymphodepletion, ProductSource, ProductState, Subject

SEED = 20220301
SUBJECTS = 24
SCREEN_FAILURES = (4, 13)
NOT_INFUSED = (9,)
#: the two most recent infused subjects whose last due visit is left unrecorded (overdue)
OVERDUE = (19, 21)
#: subject index → study day of death (relapse and progression)
DEATHS = {2: 190, 7: 121}

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢"
GIVEN = "伟 芳 娜 敏 静 磊 洋 艳 勇 军 杰 娟 涛 明 超 秀英 霞 平 刚 桂英".split()  # noqa: SIM905


@dataclass(frozen=True)
class Course:
    """One subject's planned course."""

    index: int
    consent: date
    born: date
    weight_kg: Decimal
    height_cm: int
    outcome: str  # "screen_failed", "not_infused", "infused"
    dose_level: str
    state: str
    fever_days: tuple[int, ...]


def plan(today: date, seed: int = SEED) -> list[Course]:
    """The 24 courses: consents every 18 days, the last about four weeks before `today`."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by design
    courses = []
    infused = 0
    for i in range(SUBJECTS):
        consent = today - timedelta(days=440 - 18 * i)
        age = rng.choice((9, 12, 15, 19, 24, 31, 38, 45, 52, 61))
        born = consent - timedelta(days=int(age * 365.25) + rng.randrange(0, 300))
        weight = Decimal(str(round(rng.uniform(28, 45) if age < 16 else rng.uniform(48, 82), 1)))
        height = rng.randrange(130, 165) if age < 16 else rng.randrange(155, 185)
        if i in SCREEN_FAILURES:
            outcome = "screen_failed"
        elif i in NOT_INFUSED:
            outcome = "not_infused"
        else:
            outcome = "infused"
        level = ""
        if outcome != "screen_failed":
            # 3+3: three at DL1, six at DL2 (one DLT expanded the cohort), the rest at DL3.
            level = "DL1" if infused < 3 else "DL2" if infused < 9 else "DL3"
            if outcome == "infused":
                infused += 1
        state = rng.choice((ProductState.FRESH, ProductState.THAWED))
        fever_start = rng.choice((1, 1, 2, 3, 0))
        fever_days = tuple(range(fever_start, fever_start + rng.choice((0, 2, 3, 4)))) if fever_start else ()
        courses.append(Course(i, consent, born, weight, height, outcome, level, state, fever_days))
    return courses


def _at(site: Site, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(site.time_zone))


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


@transaction.atomic
def load_demo_subjects(*, site: Site, user: User, today: date, seed: int = SEED) -> int:
    """Write the 24 demo subjects at `site` as `user` (a coordinator there). Does nothing when
    the site already has subjects (the loader is idempotent). Returns how many it wrote."""
    if Subject.objects.filter(site=site).exists():
        return 0
    rng = random.Random(seed + 1)  # noqa: S311 - synthetic data, reproducible by design
    for course in plan(today, seed):
        _walk(course, site=site, user=user, today=today, rng=rng)
    return SUBJECTS


def _walk(course: Course, *, site: Site, user: User, today: date, rng: random.Random) -> None:
    subject = services.record_consent(user=user, site=site, consent_version="2.0", consent_date=course.consent)
    services.save_identity_record(
        user=user,
        subject=subject,
        full_name=_name(rng),
        date_of_birth=course.born,
        hospital_number=f"H{2022000 + course.index * 37:07d}",
        phone=f"138{rng.randrange(10_000_000, 99_999_999)}",
    )
    assessed = course.consent + timedelta(days=3)
    answers = {c.code: c.inclusion for c in CRITERIA}
    if course.outcome == "screen_failed":
        answers["EX1"] = True  # active uncontrolled infection
    services.record_eligibility(
        user=user, subject=subject, protocol_version="3.1", assessment_date=assessed, criteria=answers
    )
    if course.outcome == "screen_failed":
        services.change_status(
            user=user,
            subject=subject,
            event=Event.FAIL_SCREENING,
            on=assessed,
            reason="Active uncontrolled infection at screening",
        )
        return
    enrolled = assessed + timedelta(days=2)
    day0 = enrolled + timedelta(days=14)
    subject = services.enrol(
        user=user, subject=subject, on=enrolled, dose_level=course.dose_level, planned_infusion_date=day0
    )
    _record_visits(subject, user=user, until=min(enrolled, today))
    if course.outcome == "not_infused":
        services.change_status(
            user=user,
            subject=subject,
            event=Event.NOT_INFUSED,
            on=enrolled + timedelta(days=6),
            reason="Rapid progression during manufacturing",
            not_infused_reason=NotInfusedReason.PROGRESSION,
        )
        return
    bsa = (Decimal(course.weight_kg) * course.height_cm / 3600).sqrt().quantize(Decimal("0.01"))
    ld_visit = subject.visits.get(definition__code="LD")
    save(
        user=user,
        instance=Lymphodepletion(
            subject=subject,
            visit=ld_visit,
            fludarabine_mg_m2=Decimal("30"),
            cyclophosphamide_mg_m2=Decimal("300"),
            bsa_m2=bsa,
            start_date=day0 - timedelta(days=5),
            end_date=day0 - timedelta(days=3),
            entry_status="complete",
        ),
        expected_version=None,
    )
    _infuse(course, subject=subject, user=user, day0=day0, rng=rng)
    subject.refresh_from_db()
    overdue = course.index in OVERDUE
    death = day0 + timedelta(days=DEATHS[course.index]) if course.index in DEATHS else None
    last_contact = min(today, death) if death else today
    _record_visits(subject, user=user, until=last_contact, leave_last_open=overdue)
    for day in range(-1, 15):
        on = day0 + timedelta(days=day)
        if on > today:
            break
        _vitals(course, subject=subject, user=user, on=on, day=day, rng=rng)
    if day0 + timedelta(days=28) <= last_contact:
        services.change_status(user=user, subject=subject, event=Event.START_FOLLOW_UP, on=day0 + timedelta(days=28))
    if death and death <= today:
        services.change_status(user=user, subject=subject, event=Event.DIE, on=death)
    elif day0 + timedelta(days=365) <= today:
        services.change_status(user=user, subject=subject, event=Event.COMPLETE, on=day0 + timedelta(days=365))


def _infuse(course: Course, *, subject: Subject, user: User, day0: date, rng: random.Random) -> None:
    site = subject.site
    target = {"DL1": Decimal("0.5"), "DL2": Decimal("1.0"), "DL3": Decimal("2.0")}[course.dose_level]
    car_pct = Decimal(str(round(rng.uniform(35, 70), 1)))
    per_kg = target * Decimal(str(round(rng.uniform(0.9, 1.1), 2)))
    viable = (per_kg * course.weight_kg * 100 / car_pct).quantize(Decimal("0.001"))
    start = _at(site, day0, 10, rng.choice((0, 15, 30, 45)))
    thawed = course.state == ProductState.THAWED
    save(
        user=user,
        instance=Infusion(
            subject=subject,
            visit=subject.visits.get(definition__code="D0"),
            product_id=f"CD7-{day0:%y%m}-{course.index + 1:03d}",
            lot_number=f"L{day0:%Y%m%d}",
            source=ProductSource.DONOR if course.index % 3 == 0 else ProductSource.AUTOLOGOUS,
            state=course.state,
            thaw_time=start - timedelta(minutes=25) if thawed else None,
            bag_id=f"B{course.index + 1:03d}-1",
            bag_matches_subject=True,
            checked_by_first="李娜",
            checked_by_second="王军",
            infusion_start=start,
            infusion_end=start + timedelta(minutes=18),
            volume_ml=Decimal("50.0") if thawed else Decimal("80.0"),
            viable_cells_e6=viable,
            car_positive_pct=car_pct,
            weight_kg=course.weight_kg,
            entry_status="complete",
        ),
        expected_version=None,
    )


def _record_visits(subject: Subject, *, user: User, until: date, leave_last_open: bool = False) -> None:
    """Date the visits planned on or before `until` (on their planned day); optionally leave the
    most recent one unrecorded so the worklist shows it overdue."""
    due = [
        v
        for v in subject.visits.select_related("definition").order_by("planned_date")
        if v.planned_date is not None and v.planned_date <= until and v.visit_date is None
    ]
    if leave_last_open:
        closed = [v for v in due if v.planned_date + timedelta(days=v.definition.window_after) < until]
        if closed:
            due.remove(closed[-1])
    for visit in due:
        visits.record_visit_date(user=user, visit=visit, visit_date=visit.planned_date)


def _vitals(course: Course, *, subject: Subject, user: User, on: date, day: int, rng: random.Random) -> None:
    fever = day in course.fever_days
    severe = fever and course.dose_level == "DL3" and day == course.fever_days[-1] and course.index % 2 == 0
    temperature = Decimal(str(round(rng.uniform(38.3, 39.6) if fever else rng.uniform(36.3, 37.2), 1)))
    systolic = rng.randrange(82, 88) if severe else rng.randrange(100, 128)
    visit = subject.visits.filter(definition__code=f"D{day}").first() if day >= 0 else None
    save(
        user=user,
        instance=VitalSigns(
            subject=subject,
            visit=visit,
            assessment_date=on,
            assessment_time=time(8, 0),
            temperature_c=temperature,
            systolic_bp=systolic,
            diastolic_bp=systolic - rng.randrange(35, 45),
            heart_rate=rng.randrange(100, 125) if fever else rng.randrange(68, 92),
            spo2=rng.randrange(91, 94) if severe else rng.randrange(96, 100),
            oxygen_device=OxygenDevice.NASAL_CANNULA if severe else OxygenDevice.ROOM_AIR,
            oxygen_flow_l_min=Decimal("2.0") if severe else None,
            entry_status="complete",
        ),
        expected_version=None,
    )
