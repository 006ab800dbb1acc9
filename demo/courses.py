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

from clinical.baseline import bsa_mosteller
from clinical.units import Panel
from crf.services import save
from demo import reference_ranges as demo_ranges
from demo import safety as demo_safety
from labs.models import OxygenDevice, VitalSigns
from labs.services import PanelRow, record_lab_panel
from response.models import MarrowAssessment, MrdTest, Relapse
from study.models import Site, User
from subjects import assessments
from subjects.eligibility import CRITERIA
from subjects.lifecycle import Event, NotInfusedReason
from subjects.models import (
    CnsStatus,
    ConcomitantMedication,
    ConmedCategory,
    Demographics,
    DeviationCategory,
    Diagnosis,
    DiseaseHistory,
    DiseaseStatus,
    DoseUnit,
    Infusion,
    Lymphodepletion,
    ProductSource,
    ProductState,
    ProtocolDeviation,
    Route,
    Sex,
    Subject,
)
from subjects.services import subject as services
from subjects.services import visits
from survival.models import Autopsy, ContactMethod, Death, FollowUpContact, SubsequentTherapy

SEED = 20220301
SUBJECTS = 24
SCREEN_FAILURES = (4, 13)
NOT_INFUSED = (9,)
#: the two most recent infused subjects whose last due visit is left unrecorded (overdue)
OVERDUE = (19, 21)
#: study days with a blood count (and inflammatory markers on the odd ones) in the first two weeks
LAB_DAYS = (-1, 1, 3, 5, 7, 10, 14)
#: subjects with a protocol deviation (a day-28 marrow taken late)
LATE_VISIT = (5, 16)
#: subject index → (study day of death, primary cause): relapse, refractory disease, GvHD after HSCT
DEATHS = {2: (190, "disease"), 3: (75, "disease"), 7: (121, "disease"), 12: (160, "gvhd")}
#: day-28 marrow outcomes other than CR MRD−: refractory (NR), MRD positive, MRD not evaluable
#: (too few cells for the assay), and CRi (counts not recovered)
DAY28_NR = (3, 11, 18)
DAY28_MRD_POSITIVE = (8, 14)
DAY28_MRD_NOT_EVALUABLE = (6,)
DAY28_CRI = (2, 10, 20)
#: subject index → (study day of relapse, blast CD7 status): CD7-negative escape in two
RELAPSES = {2: (120, "positive"), 7: (90, "negative"), 10: (150, "negative"), 15: (100, "positive")}
#: subject index → study day of a consolidative allogeneic HSCT in remission
HSCT = {1: 62, 5: 58, 12: 65}
#: subject index → study day of salvage chemotherapy for refractory disease
SALVAGE = {11: 40}
#: survival follow-up contacts on the schedule's follow-up days (CLINICAL_SPEC §7)
FOLLOW_UP_DAYS = (60, 90, 180, 270, 365)
#: subject index → study day after which the subject could not be reached (lost to follow-up)
LOST = {17: 90}

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
    demo_safety.ensure_sponsor_contacts(site.study)
    demo_ranges.ensure_reference_ranges(site, user)
    investigator = demo_safety.site_investigator(site)
    for course in plan(today, seed):
        _walk(course, site=site, user=user, today=today, rng=rng, investigator=investigator, seed=seed)
    # the demo writes a sample of each visit's forms: the rest of every dated visit is "not
    # done" with a reason (CLINICAL_SPEC §7.1), so the visits left undated are the overdue ones
    for subject in Subject.objects.filter(site=site).select_related("site"):
        assessments.close_dated_visits(user=user, subject=subject, reason="Not collected in the demo data")
    return SUBJECTS


def _walk(
    course: Course,
    *,
    site: Site,
    user: User,
    today: date,
    rng: random.Random,
    investigator: User | None = None,
    seed: int = SEED,
) -> None:
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
    _baseline(course, subject=subject, user=user, on=assessed, rng=rng)
    if course.outcome == "infused":
        _marrow(
            subject, user=user, on=assessed, blasts=Decimal(rng.randrange(35, 90)), pb=Decimal(rng.randrange(2, 30))
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
    if enrolled <= today:  # the screening labs and vitals: the baseline before lymphodepletion (issue 28)
        sex = Sex.MALE if course.index % 3 else Sex.FEMALE
        demo_ranges.record_screening(subject=subject, user=user, on=enrolled, sex=sex, index=course.index, seed=seed)
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
    bsa = bsa_mosteller(height_cm=Decimal(course.height_cm), weight_kg=course.weight_kg)
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
    death = day0 + timedelta(days=DEATHS[course.index][0]) if course.index in DEATHS else None
    lost = day0 + timedelta(days=LOST[course.index]) if course.index in LOST else None
    last_contact = min(today, death or today, lost or today)
    _record_visits(subject, user=user, until=last_contact, leave_last_open=overdue)
    for day in range(-1, 15):
        on = day0 + timedelta(days=day)
        if on > today:
            break
        _vitals(course, subject=subject, user=user, on=on, day=day, rng=rng)
        if day in LAB_DAYS:
            _labs(course, subject=subject, user=user, on=on, day=day, rng=rng)
    _conmeds(course, subject=subject, user=user, day0=day0, today=today)
    safety = {"index": course.index, "subject": subject, "user": user, "investigator": investigator}
    safety.update(day0=day0, today=min(today, last_contact), seed=seed)
    demo_safety.record_early(**safety)
    if course.index in LATE_VISIT:
        _deviation(subject, user=user, day0=day0, today=today)
    if day0 + timedelta(days=28) <= last_contact:
        services.change_status(user=user, subject=subject, event=Event.START_FOLLOW_UP, on=day0 + timedelta(days=28))
    _response_and_survival(course, subject=subject, user=user, day0=day0, until=last_contact, rng=rng)
    demo_safety.record_late(**safety, sex=Sex.MALE if course.index % 3 else Sex.FEMALE)
    if death and death <= today:
        save(
            user=user,
            instance=Death(
                subject=subject,
                death_date=death,
                primary_cause=DEATHS[course.index][1],
                autopsy=Autopsy.NO,
                entry_status="complete",
            ),
            expected_version=None,
        )  # the death form moves the subject to "died" (survival.services)
    elif lost and lost <= today:
        services.change_status(user=user, subject=subject, event=Event.LOSE_TO_FOLLOW_UP, on=lost)
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
    fever = demo_safety.vitals_fever(course.index, day, course.fever_days)
    kind = demo_safety.crs_kind(course.index, day)
    hypotensive = kind in demo_safety.HYPOTENSIVE  # the CRS plan's hypotension and oxygen (demo_safety)
    hypoxic = kind in demo_safety.HYPOXIC
    temperature = Decimal(str(round(rng.uniform(38.3, 39.6) if fever else rng.uniform(36.3, 37.2), 1)))
    systolic = rng.randrange(82, 88) if hypotensive else rng.randrange(100, 128)
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
            spo2=rng.randrange(91, 94) if hypoxic else rng.randrange(96, 100),
            oxygen_device=OxygenDevice.NASAL_CANNULA if hypoxic else OxygenDevice.ROOM_AIR,
            oxygen_flow_l_min=Decimal("2.0") if hypoxic else None,
            entry_status="complete",
        ),
        expected_version=None,
    )


def _baseline(course: Course, *, subject: Subject, user: User, on: date, rng: random.Random) -> None:
    """Demographics and disease history at screening (history dates partial for some)."""
    save(
        user=user,
        instance=Demographics(
            subject=subject,
            assessment_date=on,
            sex=Sex.MALE if course.index % 3 else Sex.FEMALE,
            weight_kg=course.weight_kg,
            height_cm=Decimal(course.height_cm),
            entry_status="complete",
        ),
        expected_version=None,
    )
    diagnosed = course.consent - timedelta(days=rng.randrange(300, 1400))
    partial = course.index % 4 == 0  # from a referral letter: month and year only
    prior_hsct = course.index % 5 == 1
    save(
        user=user,
        instance=DiseaseHistory(
            subject=subject,
            diagnosis=(Diagnosis.T_ALL, Diagnosis.T_ALL, Diagnosis.T_LBL, Diagnosis.ETP_ALL)[course.index % 4],
            diagnosis_date=f"{diagnosed:%Y-%m}" if partial else diagnosed.isoformat(),
            blast_cd7_pct=Decimal(str(round(rng.uniform(72, 99.5), 1))),
            immunophenotype="cCD3+, CD7+, CD5+, CD1a−, CD34+/−",
            cytogenetics="46,XY" if course.index % 2 else "46,XX,t(11;14)(p13;q11)",
            molecular_markers=rng.choice(("NOTCH1 mut", "TAL1 rearranged", "none detected", "STIL::TAL1")),
            disease_status=DiseaseStatus.RELAPSED if course.index % 3 else DiseaseStatus.REFRACTORY,
            prior_lines=rng.randrange(2, 6),
            cns_status=CnsStatus.CNS1 if course.index % 6 else CnsStatus.CNS2,
            prior_hsct=prior_hsct,
            hsct_date=f"{course.consent - timedelta(days=200):%Y-%m}" if prior_hsct else "",
            hsct_donor="matched_sibling" if prior_hsct else "",
            prior_gvhd=False if prior_hsct else None,
            entry_status="complete",
        ),
        expected_version=None,
    )


def _labs(course: Course, *, subject: Subject, user: User, on: date, day: int, rng: random.Random) -> None:
    """A blood count: cytopenias after lymphodepletion recovering in the second week (haemoglobin
    with its nadir at day 7); CRP, ferritin and IL-6 rising with the fever."""
    recovery = max(0.05, min(1.0, (day - 5) / 9)) if day >= 1 else 0.6
    if course.index == demo_safety.PROLONGED_CYTOPENIA and day >= 1:
        recovery = 0.05  # neutrophils and platelets still down at day 14 (CRi at day 28, ICAHT grade 3)
    anc = Decimal(str(round(rng.uniform(1.5, 3.5) * recovery, 2)))
    alc = Decimal(str(round(rng.uniform(0.1, 0.5) if day < 7 else rng.uniform(0.4, 1.8), 2)))
    wbc = (anc + alc + Decimal(str(round(rng.uniform(0.05, 0.6), 2)))).quantize(Decimal("0.01"))
    rows = [
        PanelRow("WBC", wbc, "10^9/L"),
        PanelRow("ANC", anc, "10^9/L"),
        PanelRow("ALC", alc, "10^9/L"),
        # haemoglobin falls to the subject's nadir (72–117 g/L) at day 7 and climbs back by 3 g/L a
        # day, give or take 4 (less than the 6 g/L between two counts: one dip, one anaemia AE)
        PanelRow("HGB", Decimal(72 + course.index * 37 % 46 + 3 * abs(day - 7) + rng.randrange(72, 118) % 5), "g/L"),
        PanelRow("PLT", Decimal(int(rng.uniform(18, 160) * recovery) + 8), "10^9/L"),
    ]
    sex = Sex.MALE if course.index % 3 else Sex.FEMALE
    visit = subject.visits.filter(definition__code=f"D{day}").first() if day >= 0 else None
    record_lab_panel(
        user=user,
        subject=subject,
        panel=Panel.CBC,
        collected_on=on,
        collected_time=time(6, 30),
        visit=visit,
        sex=sex,
        rows=rows,
        complete=True,
    )
    if day % 2 == 1:
        fever = day in course.fever_days or day - 1 in course.fever_days
        record_lab_panel(
            user=user,
            subject=subject,
            panel=Panel.INFLAMMATORY,
            collected_on=on,
            collected_time=time(6, 30),
            visit=visit,
            sex=sex,
            rows=[
                PanelRow("CRP", Decimal(str(round(rng.uniform(40, 160) if fever else rng.uniform(2, 15), 1))), "mg/L"),
                PanelRow(
                    "FERRITIN", Decimal(rng.randrange(2500, 9000) if fever else rng.randrange(400, 1500)), "ng/mL"
                ),
                PanelRow("IL6", Decimal(str(round(rng.uniform(60, 900) if fever else rng.uniform(3, 25), 1))), "pg/mL"),
            ],
            complete=True,
        )


def _conmeds(course: Course, *, subject: Subject, user: User, day0: date, today: date) -> None:
    """Prophylaxis from lymphodepletion; paracetamol on fever; tocilizumab on the first CRS grade ≥ 2
    day and dexamethasone for the hypotensive courses (demo_safety.crs_treatment: what fever
    masking and the CRS pages look at)."""
    courses = [
        ("阿昔洛韦 aciclovir", "J05AB01", ConmedCategory.ANTIMICROBIAL, "400", DoseUnit.MG, Route.ORAL, -5, None),
        (
            "复方磺胺甲噁唑 co-trimoxazole",
            "J01EE01",
            ConmedCategory.ANTIMICROBIAL,
            "960",
            DoseUnit.MG,
            Route.ORAL,
            -5,
            None,
        ),
    ]
    if course.fever_days:
        first, last = course.fever_days[0], course.fever_days[-1]
        courses.append(
            (
                "对乙酰氨基酚 paracetamol",
                "N02BE01",
                ConmedCategory.ANTIPYRETIC,
                "500",
                DoseUnit.MG,
                Route.ORAL,
                first,
                last,
            )
        )
    tocilizumab, dexamethasone = demo_safety.crs_treatment(course.index)
    if tocilizumab is not None:
        courses.append(
            (
                "托珠单抗 tocilizumab",
                "L04AC07",
                ConmedCategory.TOCILIZUMAB,
                "8",
                DoseUnit.MG_KG,
                Route.IV,
                tocilizumab,
                tocilizumab,
            )
        )
    if dexamethasone is not None:
        courses.append(
            (
                "地塞米松 dexamethasone",
                "H02AB02",
                ConmedCategory.CORTICOSTEROID,
                "10",
                DoseUnit.MG,
                Route.IV,
                *dexamethasone,
            )
        )
    for name, atc, category, dose, unit, route, start, stop in courses:
        started = day0 + timedelta(days=start)
        if started > today:
            continue
        stopped = day0 + timedelta(days=stop) if stop is not None else None
        ongoing = stopped is None or stopped > today
        save(
            user=user,
            instance=ConcomitantMedication(
                subject=subject,
                medication_name=name,
                atc_code=atc,
                category=category,
                dexamethasone_equivalent_mg=Decimal(dose) if category == ConmedCategory.CORTICOSTEROID else None,
                dose=Decimal(dose),
                dose_unit=unit,
                route=route,
                start_date=started,
                stop_date=None if ongoing else stopped,
                ongoing=ongoing,
                indication={"antimicrobial": "prophylaxis 预防", "antipyretic": "fever 发热"}.get(category, "CRS"),
                entry_status="complete",
            ),
            expected_version=None,
        )


def _deviation(subject: Subject, *, user: User, day0: date, today: date) -> None:
    on = day0 + timedelta(days=33)
    if on > today:
        return
    save(
        user=user,
        instance=ProtocolDeviation(
            subject=subject,
            deviation_date=on,
            category=DeviationCategory.VISIT_WINDOW,
            description="Day-28 bone marrow aspirate done on day 33, outside the ±3-day window (holiday).",
            important=False,
            corrective_action="Site reminded of the window; marrow slots booked at infusion.",
            entry_status="complete",
        ),
        expected_version=None,
    )


def _marrow(
    subject: Subject,
    *,
    user: User,
    on: date,
    blasts: Decimal,
    pb: Decimal = Decimal("0"),
    anc: Decimal = Decimal("1.6"),
    platelets: Decimal = Decimal("130"),
    cd7: Decimal | None = None,
) -> MarrowAssessment:
    return save(
        user=user,
        instance=MarrowAssessment(
            subject=subject,
            assessment_date=on,
            marrow_blasts_pct=blasts,
            peripheral_blasts_pct=pb,
            anc=anc,
            platelets=platelets,
            transfused_previous_7_days=False,
            blast_cd7_pct=cd7,
            entry_status="complete",
        ),
        expected_version=None,
    )


def _flow_mrd(assessment: MarrowAssessment, *, user: User, detected: bool, cells: int, sensitivity: str) -> None:
    save(
        user=user,
        instance=MrdTest(
            subject=assessment.subject,
            assessment=assessment,
            sample_date=assessment.assessment_date,
            method="flow",
            specimen="marrow",
            detected=detected,
            level_pct=Decimal("0.08") if detected else None,
            sensitivity=Decimal(sensitivity),
            cells_analysed=cells,
            cd7_independent_gating=True,
            entry_status="complete",
        ),
        expected_version=None,
    )


def _response_and_survival(
    course: Course, *, subject: Subject, user: User, day0: date, until: date, rng: random.Random
) -> None:
    """Day-28 marrow with flow MRD (most CR/CRi MRD−; a few NR, MRD+ or MRD not evaluable),
    later relapses with their marrow (some CD7-negative), consolidative HSCTs or salvage
    therapy, and survival contacts on the follow-up days up to `until` (the last date known
    alive: today, the death, or when contact was lost) — a censored one-year curve."""
    i = course.index
    marrow_day = 33 if i in LATE_VISIT else 28
    on = day0 + timedelta(days=marrow_day)
    if on <= until:
        if i in DAY28_NR:
            _marrow(subject, user=user, on=on, blasts=Decimal(rng.randrange(30, 70)), pb=Decimal("4"))
        else:
            cri = i in DAY28_CRI
            ma = _marrow(
                subject,
                user=user,
                on=on,
                blasts=Decimal(str(round(rng.uniform(0.5, 4.0), 1))),
                anc=Decimal("0.7") if cri else Decimal(str(round(rng.uniform(1.2, 3.0), 1))),
                platelets=Decimal("45") if cri else Decimal(rng.randrange(110, 220)),
            )
            if i in DAY28_MRD_NOT_EVALUABLE:
                _flow_mrd(ma, user=user, detected=False, cells=20_000, sensitivity="1E-3")
            else:
                _flow_mrd(ma, user=user, detected=i in DAY28_MRD_POSITIVE, cells=2_000_000, sensitivity="1E-5")
    therapies = [(HSCT.get(i), "hsct"), (SALVAGE.get(i), "chemotherapy")]
    for start, kind in therapies:
        if start is None or day0 + timedelta(days=start) > until:
            continue
        hsct = kind == "hsct"
        save(
            user=user,
            instance=SubsequentTherapy(
                subject=subject,
                therapy_type=kind,
                start_date=day0 + timedelta(days=start),
                consolidative=hsct,
                donor=("haploidentical", "matched_sibling", "matched_unrelated")[i % 3] if hsct else "",
                conditioning="Bu/Cy/ATG 白消安/环磷酰胺/ATG" if hsct else "",
                description="" if hsct else "CAG 方案 (cytarabine, aclarubicin, G-CSF)",
                entry_status="complete",
            ),
            expected_version=None,
        )
    if i in RELAPSES and day0 + timedelta(days=RELAPSES[i][0]) <= until:
        relapse_day, cd7 = RELAPSES[i]
        relapsed = day0 + timedelta(days=relapse_day)
        cd7_pct = Decimal("92.0") if cd7 == "positive" else Decimal("3.5")
        _marrow(subject, user=user, on=relapsed, blasts=Decimal(rng.randrange(20, 60)), pb=Decimal("6"), cd7=cd7_pct)
        save(
            user=user,
            instance=Relapse(
                subject=subject,
                relapse_date=relapsed,
                site_marrow=True,
                site_blood=True,
                blast_cd7_status=cd7,
                blast_cd7_pct=cd7_pct,
                entry_status="complete",
            ),
            expected_version=None,
        )
    contacts = [day0 + timedelta(days=n) for n in FOLLOW_UP_DAYS if day0 + timedelta(days=n) <= until]
    if until < day0 + timedelta(days=FOLLOW_UP_DAYS[-1]) and until not in contacts and i not in DEATHS:
        contacts.append(until)  # still under the site's care: seen today (the last date known alive)
    for contacted in contacts:
        n = (contacted - day0).days
        save(
            user=user,
            instance=FollowUpContact(
                subject=subject,
                contact_date=contacted,
                method=ContactMethod.CLINIC_VISIT if n <= 90 else ContactMethod.TELEPHONE,
                alive=True,
                entry_status="complete",
            ),
            expected_version=None,
        )
