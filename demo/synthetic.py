"""A synthetic study of any size for benchmarks and dashboards (issue 13 item 4).

Per infused subject, about: 30 CRS/ICANS assessments (CRS daily to day 14 and on days 17, 21
and 28; ICANS daily to day 10 and on day 14), 60 lab panels (30 blood counts, 15 inflammatory,
15 chemistry: one LabResult row per analyte), 10 adverse events (the CRS and ICANS episodes'
own AEs and CTCAE events), 6 marrows with their flow MRD, 8 survival follow-up contacts; with
consent, eligibility, enrolment, visits, lymphodepletion and infusion, and some relapses,
consolidative HSCTs and deaths. Proportions follow the published CD7 CAR-T series
(CLINICAL_SPEC §10): about 90 % CR/CRi at day 28, CRS in most subjects and mostly grade 1–2,
ICANS in about one in eight, mostly grade 1.

Rows are bulk-inserted, not saved form by form: the audit triggers are PostgreSQL triggers, so
every insert and update still leaves its history row (the snapshot of an endpoint run reads
them). The stored rows are what the form services would store: derived values come from the
same `clinical/` rules the registered derivations call (crs, icans, units, response, dose,
ctcae, schedule), with the protocol settings in force, and subjects move through their
lifecycle as updates (one history row per status change). Not replayed: edit checks, alerts and
the outbox (the generated data raise no queries), and visit dates are written with the visit.

Deterministic: each subject draws from its own random stream seeded by (seed, index), so the
same seed, size and `as_of` give the same data whatever the chunking. Nothing here is real
patient data.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, models, transaction
from django.utils import timezone

from adverse_events import grade_course
from adverse_events.derive import collection_period
from adverse_events.models import (
    AdverseEvent,
    AeAction,
    AeOutcome,
    CrsAssessment,
    CrsEpisode,
    GradeScale,
    GvhdStaging,
    HospitalStay,
    IcansAssessment,
    IcansEpisode,
    IecHsAssessment,
    Infection,
    Relationship,
)
from adverse_events.rules import CRS_TERM, ICANS_TERM, ICANS_VERBATIM, crs_input, icans_input
from clinical import ctcae
from clinical import icans as icans_rules
from clinical import response as rules
from clinical.baseline import bsa_mosteller
from clinical.crs import crs_course, grade_crs_assessment
from clinical.ctcae import grade_lab_value
from clinical.dose import car_positive_cells_per_kg, check_dose
from clinical.protocol import ProtocolChoices
from clinical.schedule import age_in_completed_years, local_date, study_day
from clinical.units import ANALYTES, reference_flag, to_standard
from crf import auditchain
from crf.checks import jsonable
from crf.fields import impute_partial_dates
from datamanagement import audit_index
from demo import definition as demo_study
from demo import synthetic_forms as sf
from labs.models import LabResult, RangeSource, VitalSigns
from response.derive import marrow_rules_response
from response.models import MarrowAssessment, MrdTest, Relapse
from study.audit_context import audit_context
from study.models import Membership, ProtocolSettings, Site, Study, User, VisitDefinition
from subjects.eligibility import CRITERIA
from subjects.lifecycle import NotInfusedReason, Status
from subjects.models import (
    BridgingTherapy,
    CellCollection,
    ConcomitantMedication,
    Demographics,
    DiseaseHistory,
    EligibilityAssessment,
    IdentityRecord,
    InformedConsent,
    Infusion,
    Lymphodepletion,
    MedicalHistory,
    PerformanceStatus,
    PriorTherapy,
    ProtocolDeviation,
    SiteSequence,
    Subject,
    Visit,
)
from subjects.services.subject import SCREENING_NUMBER, SUBJECT_ID
from subjects.services.visits import planned_for
from survival.models import Autopsy, ContactMethod, Death, FollowUpContact, SubsequentTherapy

#: the data cut the dates are placed against (not today: the same seed gives the same dates)
AS_OF = date(2026, 10, 31)
EFFECTIVE_FROM = date(2022, 1, 1)
REASON = "synthetic study generator"
CHUNK = 200
CRS_DAYS = (*range(0, 15), 17, 21, 28)
ICANS_DAYS = (*range(0, 11), 14)
CBC_DAYS = (-5, -1, *range(0, 15), 17, 21, 24, 28, 45, 60, 90, 120, 150, 180, 270, 365)
INFL_DAYS = (-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 21, 28)
CHEM_DAYS = (-5, -1, 1, 3, 5, 7, 10, 14, 21, 28, 60, 90, 180, 270, 365)
MARROW_DAYS = (28, 60, 90, 180, 365)
FOLLOW_UP_DAYS = (60, 90, 120, 180, 240, 270, 300, 365)
MILLION = Decimal("1E6")
#: the analytes of each panel with the reference range a report prints (LLN, ULN, unit)
PANELS: dict[str, tuple[tuple[str, str, str | None, str | None], ...]] = {
    "CBC": (
        ("WBC", "10^9/L", "3.5", "9.5"),
        ("ANC", "10^9/L", "1.8", "6.3"),
        ("ALC", "10^9/L", "1.1", "3.2"),
        ("HGB", "g/L", "115", "150"),
        ("PLT", "10^9/L", "125", "350"),
    ),
    "INFL": (("CRP", "mg/L", None, "10"), ("FERRITIN", "ug/L", "15", "150"), ("IL6", "pg/mL", None, "7")),
    "CHEM": (("ALT", "U/L", "9", "50"), ("AST", "U/L", "15", "40"), ("TBIL", "umol/L", "3.4", "20.5")),
}
#: CTCAE terms of the events that are not CRS or ICANS: (term, usual grades, weight)
AE_TERMS = (
    ("Neutrophil count decreased", (3, 4, 4), 10),
    ("Platelet count decreased", (2, 3, 4), 9),
    ("Anemia", (2, 3, 3), 8),
    ("Lymphocyte count decreased", (3, 4), 8),
    ("White blood cell decreased", (3, 4), 7),
    ("Febrile neutropenia", (3, 3, 4), 4),
    ("Lung infection", (2, 3), 2),
    ("Sepsis", (3, 4), 1),
    ("Hypokalemia", (1, 2, 3), 4),
    ("Alanine aminotransferase increased", (1, 2, 3), 4),
    ("Aspartate aminotransferase increased", (1, 2), 3),
    ("Nausea", (1, 2), 3),
    ("Fatigue", (1, 2), 3),
    ("Diarrhea", (1, 2), 2),
    ("Headache", (1, 2), 2),
)


@dataclass(frozen=True)
class Options:
    subjects: int
    seed: int = 1
    study_code: str = "synthetic"
    sites: int = 5
    as_of: date = AS_OF


@dataclass
class Plan:
    """One subject's course, drawn from its own random stream (pure: no database)."""

    index: int
    site_index: int
    consent: date
    born: date
    sex: str
    weight_kg: Decimal
    height_cm: Decimal
    outcome: str  # "screen_failed", "not_infused", "infused"
    dose_level: str = ""
    enrolled: date | None = None
    day0: date | None = None
    crs: list[tuple[int, int]] = field(default_factory=list)  # (study day, grade ≥ 1)
    icans: list[tuple[int, int]] = field(default_factory=list)
    day28: str = ""  # "CR", "CRi", "NR"
    mrd_positive: bool = False
    relapse_day: int | None = None
    relapse_cd7_negative: bool = False
    hsct_day: int | None = None
    death_day: int | None = None
    death_cause: str = ""
    lost_day: int | None = None
    rng_state: Any = None
    seed: int = 1

    @property
    def last_day(self) -> int:
        """The last study day the subject is followed (death, loss, or the data cut)."""
        assert self.day0 is not None
        ends = [d for d in (self.death_day, self.lost_day) if d is not None]
        return min([*ends, (self.as_of - self.day0).days])

    @property
    def last_seen(self) -> date:
        """The last date the subject is observed: the screen failure, the decision not to infuse,
        or the end of follow-up."""
        if self.outcome == "screen_failed":
            return self.consent + timedelta(days=3)
        assert self.enrolled is not None and self.day0 is not None
        if self.outcome == "not_infused":
            return self.enrolled + timedelta(days=6)
        return self.day0 + timedelta(days=self.last_day)

    as_of: date = AS_OF


def plan_subject(index: int, options: Options, dose_levels: tuple[str, ...]) -> Plan:
    rng = random.Random(f"{options.seed}:{index}")  # noqa: S311 - synthetic data, reproducible by design
    n = options.subjects
    consent = options.as_of - timedelta(days=int(1100 * (n - index) / max(n, 1)) + rng.randrange(0, 10) + 20)
    age = rng.randrange(12, 71)
    born = consent - timedelta(days=int(age * 365.25) + rng.randrange(0, 360))
    adult = age >= 16
    weight = Decimal(str(round(rng.uniform(48, 85) if adult else rng.uniform(30, 55), 1)))
    height = Decimal(rng.randrange(155, 186) if adult else rng.randrange(135, 170))
    draw = rng.random()
    outcome = "screen_failed" if draw < 0.08 else "not_infused" if draw < 0.12 else "infused"
    plan = Plan(
        index=index,
        site_index=index % options.sites,
        consent=consent,
        born=born,
        sex=rng.choice(("M", "M", "F")),
        weight_kg=weight,
        height_cm=height,
        outcome=outcome,
        as_of=options.as_of,
        seed=options.seed,
    )
    if outcome == "screen_failed":
        plan.rng_state = rng.getstate()
        return plan
    plan.dose_level = dose_levels[index % len(dose_levels)]
    plan.enrolled = consent + timedelta(days=5)
    plan.day0 = plan.enrolled + timedelta(days=14)
    if outcome == "infused":
        _plan_course(plan, rng)
    plan.rng_state = rng.getstate()
    return plan


def _plan_course(plan: Plan, rng: random.Random) -> None:
    # CRS in 90 %; grade 1–2 in most (CLINICAL_SPEC §10), onset day 1–3, 2–7 days.
    if rng.random() < 0.9:
        peak = rng.choices((1, 2, 3, 4), weights=(52, 38, 8, 2))[0]
        onset = rng.randrange(1, 4)
        length = rng.randrange(2, 8)
        middle = onset + length // 2
        plan.crs = [
            (d, peak if d == middle else min(peak, 1 + (d == middle + 1))) for d in range(onset, onset + length)
        ]
    # ICANS in about one in eight, mostly grade 1, onset day 4–8.
    if rng.random() < 0.12:
        peak = rng.choices((1, 2, 3), weights=(70, 22, 8))[0]
        onset = rng.randrange(4, 9)
        plan.icans = [(d, peak if d == onset + 1 else 1) for d in range(onset, onset + rng.randrange(1, 4))]
    plan.day28 = rng.choices(("CR", "CRi", "NR"), weights=(80, 10, 10))[0]
    plan.mrd_positive = plan.day28 != "NR" and rng.random() < 0.12
    if plan.day28 == "NR":
        if rng.random() < 0.7:
            plan.death_day, plan.death_cause = rng.randrange(60, 240), "disease"
        return
    if rng.random() < 0.3:
        plan.relapse_day = rng.randrange(75, 420)
        plan.relapse_cd7_negative = rng.random() < 0.35
    if rng.random() < 0.35:
        plan.hsct_day = rng.randrange(45, 70)
    if plan.relapse_day is not None and rng.random() < 0.6:
        plan.death_day, plan.death_cause = plan.relapse_day + rng.randrange(30, 150), "disease"
    elif rng.random() < 0.04:
        plan.death_day = rng.randrange(100, 400)
        plan.death_cause = "gvhd" if plan.hsct_day else "infection"
    if plan.death_day is None and rng.random() < 0.03:
        plan.lost_day = rng.randrange(100, 300)


# --- the study, its sites and users ---------------------------------------------------------


@dataclass
class Setup:
    study: Study
    sites: list[Site]
    coordinators: dict[int, User]
    settings: ProtocolSettings
    choices: ProtocolChoices
    definitions: list[VisitDefinition]
    investigator: User


def setup_study(options: Options) -> Setup:
    """The study, its sites, schedule, protocol settings and users (an investigator at every
    site for the dashboards; a coordinator per site who "enters" the data)."""
    code = options.study_code
    with audit_context(user=None, reason=REASON):
        study = Study.objects.create(
            code=code,
            title=f"Synthetic CD7 CAR-T study ({options.subjects} subjects, seed {options.seed})",
            title_zh=f"合成 CD7 CAR-T 研究（{options.subjects} 例，种子 {options.seed}）",
            phase="I",
            planned_subjects=options.subjects,
        )
        sites = [
            Site.objects.create(
                study=study,
                code=f"{i + 1:02d}",
                name=f"Synthetic site {i + 1}",
                name_zh=f"合成中心 {i + 1}",
                time_zone="Asia/Shanghai",
                default_language="zh-hans",
                subject_prefix=f"S{i + 1}",
            )
            for i in range(options.sites)
        ]
        definitions = [
            VisitDefinition.objects.create(study=study, order=order, **visit)
            for order, visit in enumerate(demo_study.schedule(), start=1)
        ]
        choices = ProtocolChoices()
        settings = ProtocolSettings.objects.create(
            study=study,
            version=1,
            effective_from=EFFECTIVE_FROM,
            values=choices.to_json(),
            reason="CLINICAL_SPEC defaults",
            created_at=timezone.now(),
        )
        now = timezone.now()
        investigator = User.objects.create(username=f"{code}-investigator", printed_name="Synthetic investigator")
        coordinators = {}
        for i, site in enumerate(sites):
            Membership.objects.create(user=investigator, site=site, role="investigator", granted_at=now)
            coordinator = User.objects.create(
                username=f"{code}-coordinator-{site.code}", printed_name=f"Coordinator {site.code}"
            )
            Membership.objects.create(user=coordinator, site=site, role="coordinator", granted_at=now)
            coordinators[i] = coordinator
    return Setup(study, sites, coordinators, settings, choices, definitions, investigator)


# --- writing ---------------------------------------------------------------------------------


def generate(options: Options, *, progress: Callable[[str], None] = lambda _m: None) -> dict[str, int]:
    """Write the study into the current database. Returns the rows written per model."""
    if Study.objects.filter(code=options.study_code).exists():
        raise ValueError(f"a study with code {options.study_code!r} already exists")
    with transaction.atomic():
        setup = setup_study(options)
    levels = tuple(level.code for level in setup.choices.dose_levels)
    counts: dict[str, int] = {}
    numbers = {i: {"screening": 0, "subject": 0} for i in range(options.sites)}
    for site_index, site in enumerate(setup.sites):
        indices = [i for i in range(options.subjects) if i % options.sites == site_index]
        for start in range(0, len(indices), CHUNK):
            plans = [plan_subject(i, options, levels) for i in indices[start : start + CHUNK]]
            with (
                transaction.atomic(),
                audit_context(user=setup.coordinators[site_index], site=site, reason=REASON),
                auditchain.linked_after_load(),  # the chain linked once per table, not row by row
                audit_index.indexed_after_load(connection),  # and indexed by one statement per table
            ):
                written = _Chunk(setup, site, setup.coordinators[site_index], plans, numbers[site_index]).write()
            for name, count in written.items():
                counts[name] = counts.get(name, 0) + count
            progress(f"site {site.code}: {start + len(plans)}/{len(indices)} subjects")
    with transaction.atomic(), audit_context(user=None, reason=REASON):
        for site_index, site in enumerate(setup.sites):
            for kind, value in numbers[site_index].items():
                SiteSequence.objects.update_or_create(site=site, kind=kind, defaults={"last_value": value})
    return counts


class _Chunk:
    """One transaction's worth of subjects of one site, written model by model."""

    def __init__(self, setup: Setup, site: Site, user: User, plans: list[Plan], numbers: dict[str, int]) -> None:
        self.setup = setup
        self.site = site
        self.user = user
        self.plans = plans
        self.numbers = numbers
        self.now = timezone.now()
        self.version = setup.settings.version
        self.choices = setup.choices
        self.counts: dict[str, int] = {}
        self.subjects: dict[int, Subject] = {}
        self.rngs = {p.index: _restore(p.rng_state) for p in plans}
        # the other forms draw from streams of their own: the core course stays the same data
        self.frngs = {p.index: sf.forms_rng(p.seed, p.index) for p in plans}
        self.visits: dict[tuple[int, str], Visit] = {}
        self.conmeds: dict[int, list[sf.Conmed]] = {}
        self.crs_forms: dict[int, dict[date, CrsAssessment]] = {}
        self.aes: dict[int, list[AdverseEvent]] = {}
        self.screening_vitals: list[tuple[int, VitalSigns]] = []

    # helpers
    def form(self, model: type[models.Model], subject: Subject, **values: Any) -> Any:
        return model(
            subject=subject,
            entry_status="complete",
            version=1,
            created_by=self.user,
            updated_by=self.user,
            created_at=self.now,
            updated_at=self.now,
            **values,
        )

    def insert(self, model: type[models.Model], rows: list[Any]) -> list[Any]:
        if rows:
            model.objects.bulk_create(rows, batch_size=2000)
            self.counts[model.__name__] = self.counts.get(model.__name__, 0) + len(rows)
        return rows

    def copy(self, model: type[models.Model], rows: list[Any]) -> None:
        """COPY for the largest table (lab rows: no keys needed back). Row triggers fire on COPY
        as on INSERT; the audit context set by the statement before lasts the transaction."""
        if not rows:
            return
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        for row in rows:
            for f in fields:
                if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
                    f.pre_save(row, add=True)
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(_copy_text(getattr(row, f.attname)) for f in fields))
            buffer.write("\n")
        buffer.seek(0)
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # through Django: sets the audit context of this transaction
            cursor.cursor.copy_expert(
                f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN", buffer
            )
        self.counts[model.__name__] = self.counts.get(model.__name__, 0) + len(rows)

    def infused(self) -> list[Plan]:
        return [p for p in self.plans if p.outcome == "infused"]

    def write(self) -> dict[str, int]:
        steps = self._screening()
        self._baseline()
        self._enrolment(steps)
        self._collection()
        self._treatment(steps)
        self._conmed_log()
        self._safety()
        self._vital_signs()
        self._toxicities()
        self._labs()
        self._response()
        self._survival(steps)
        self._later_forms()
        self._apply(steps)
        return self.counts

    # consent, identity, eligibility
    def _screening(self) -> dict[int, list[dict[str, Any]]]:
        subjects = []
        for plan in self.plans:
            self.numbers["screening"] += 1
            number = SCREENING_NUMBER.format(prefix=self.site.subject_prefix, n=self.numbers["screening"])
            subjects.append(
                Subject(site=self.site, status=Status.SCREENING, status_date=plan.consent, screening_number=number)
            )
        self.insert(Subject, subjects)
        self.subjects = {p.index: s for p, s in zip(self.plans, subjects, strict=True)}
        identities, consents, checklists = [], [], []
        for plan in self.plans:
            subject = self.subjects[plan.index]
            identities.append(
                IdentityRecord(
                    subject=subject,
                    full_name=f"合成受试者 {plan.index + 1}",
                    date_of_birth=plan.born,
                    hospital_number=f"SYN{plan.index + 1:07d}",
                )
            )
            consents.append(self.form(InformedConsent, subject, consent_version="2.0", consent_date=plan.consent))
            answers = {c.code: c.inclusion for c in CRITERIA}
            if plan.outcome == "screen_failed":
                answers["EX1"] = True
            checklists.append(
                self.form(
                    EligibilityAssessment,
                    subject,
                    protocol_version="3.1",
                    assessment_date=plan.consent + timedelta(days=3),
                    criteria=answers,
                )
            )
        self.insert(IdentityRecord, identities)
        self.insert(InformedConsent, consents)
        self.insert(EligibilityAssessment, checklists)
        steps: dict[int, list[dict[str, Any]]] = {p.index: [] for p in self.plans}
        for plan in self.plans:
            if plan.outcome == "screen_failed":
                steps[plan.index].append(
                    {
                        "status": Status.SCREEN_FAILED,
                        "status_date": plan.consent + timedelta(days=3),
                        "status_reason": "Active uncontrolled infection at screening",
                    }
                )
        return steps

    def _enrolment(self, steps: dict[int, list[dict[str, Any]]]) -> None:
        visits = []
        for plan in self.plans:
            if plan.outcome == "screen_failed":
                continue
            self.numbers["subject"] += 1
            assert plan.enrolled is not None and plan.day0 is not None
            steps[plan.index].append(
                {
                    "subject_id": SUBJECT_ID.format(prefix=self.site.subject_prefix, n=self.numbers["subject"]),
                    "status": Status.ENROLLED,
                    "status_date": plan.enrolled,
                    "enrolled_on": plan.enrolled,
                    "dose_level": plan.dose_level,
                    "planned_infusion_date": plan.day0,
                }
            )
            if plan.outcome == "not_infused":
                steps[plan.index].append(
                    {
                        "status": Status.NOT_INFUSED,
                        "status_date": plan.enrolled + timedelta(days=6),
                        "status_reason": "Rapid progression during manufacturing",
                        "not_infused_reason": NotInfusedReason.PROGRESSION,
                    }
                )
                last = plan.enrolled
            else:
                last = plan.day0 + timedelta(days=plan.last_day)
            for definition in self.setup.definitions:
                planned = planned_for(definition, enrolled_on=plan.enrolled, day0=plan.day0)
                done = planned is not None and planned <= min(last, plan.as_of)
                visit = Visit(
                    subject=self.subjects[plan.index],
                    definition=definition,
                    planned_date=planned,
                    visit_date=planned if done else None,
                )
                visits.append(visit)
                if done:
                    self.visits[(plan.index, definition.code)] = visit
        self.insert(Visit, visits)

    def _treatment(self, steps: dict[int, list[dict[str, Any]]]) -> None:
        lds, infusions = [], []
        levels = {level.code: level for level in self.choices.dose_levels}
        for plan in self.infused():
            rng = self.rngs[plan.index]
            subject = self.subjects[plan.index]
            assert plan.day0 is not None
            ld_start = plan.day0 - timedelta(days=5)
            lds.append(
                self.form(
                    Lymphodepletion,
                    subject,
                    fludarabine_mg_m2=Decimal("30"),
                    cyclophosphamide_mg_m2=Decimal("300"),
                    bsa_m2=bsa_mosteller(height_cm=plan.height_cm, weight_kg=plan.weight_kg),
                    start_date=ld_start,
                    end_date=plan.day0 - timedelta(days=3),
                )
            )
            steps[plan.index].append({"status": Status.LYMPHODEPLETED, "status_date": ld_start})
            level = levels[plan.dose_level]
            car_pct = Decimal(str(round(rng.uniform(35, 70), 1)))
            per_kg_target = level.target_cells_per_kg / MILLION * Decimal(str(round(rng.uniform(0.9, 1.1), 2)))
            viable = (per_kg_target * plan.weight_kg * 100 / car_pct).quantize(Decimal("0.001"))
            start = datetime.combine(
                plan.day0, time(10, rng.choice((0, 15, 30, 45))), tzinfo=ZoneInfo(self.site.time_zone)
            )
            per_kg = car_positive_cells_per_kg(
                viable_cells=viable * MILLION, car_positive_pct=car_pct, weight_kg=plan.weight_kg
            )
            checked = check_dose(level, per_kg)
            thawed = plan.index % 2 == 1
            infusions.append(
                self.form(
                    Infusion,
                    subject,
                    visit=None,
                    product_id=f"CD7-SYN-{plan.index + 1:06d}",
                    lot_number=f"L{plan.day0:%Y%m%d}",
                    source="donor" if plan.index % 3 == 0 else "autologous",
                    state="thawed" if thawed else "fresh",
                    thaw_time=start - timedelta(minutes=25) if thawed else None,
                    bag_id=f"B{plan.index + 1:06d}-1",
                    bag_matches_subject=True,
                    checked_by_first="李娜",
                    checked_by_second="王军",
                    infusion_start=start,
                    infusion_end=start + timedelta(minutes=18),
                    volume_ml=Decimal("50.0") if thawed else Decimal("80.0"),
                    viable_cells_e6=viable,
                    car_positive_pct=car_pct,
                    weight_kg=plan.weight_kg,
                    # derived as subjects.derive.derive_infusion
                    infusion_date=local_date(start, self.site.time_zone),
                    car_positive_per_kg_e6=(per_kg / MILLION).quantize(Decimal("0.0001")),
                    dose_level=plan.dose_level,
                    dose_lower_e6=(checked.lower / MILLION).quantize(Decimal("0.0001")),
                    dose_upper_e6=(checked.upper / MILLION).quantize(Decimal("0.0001")),
                    dose_in_range=checked.within_range,
                    settings_version=self.version,
                )
            )
            steps[plan.index].append({"status": Status.INFUSED, "status_date": plan.day0, "infusion_date": plan.day0})
        self.insert(Lymphodepletion, lds)
        self.insert(Infusion, infusions)

    # CRS, ICANS, their episodes and AEs, other AEs
    def _safety(self) -> None:
        crs_rows: list[CrsAssessment] = []
        icans_rows: list[IcansAssessment] = []
        crs_episodes: list[CrsEpisode] = []
        icans_episodes: list[IcansEpisode] = []
        aes: list[AdverseEvent] = []
        crs_settings = self.choices.crs_settings()
        icans_settings = icans_rules.IcansSettings(
            capd_below_age_years=self.choices.capd_below_age, episode_gap_days=self.choices.crs_episode_gap_days
        )
        for plan in self.infused():
            rng = self.rngs[plan.index]
            subject = self.subjects[plan.index]
            day0 = plan.day0
            assert day0 is not None
            grades = dict(plan.crs)
            forms = []
            for day in CRS_DAYS:
                if day > plan.last_day:
                    break
                forms.append(
                    self.form(
                        CrsAssessment,
                        subject,
                        assessment_date=day0 + timedelta(days=day),
                        assessment_time=time(8, 0),
                        **_crs_inputs(grades.get(day, 0), rng),
                    )
                )
            exposed = sf.exposures(self.conmeds.get(plan.index, []), day0)  # the con-med log (§1.2 b)
            course = crs_course(
                [crs_input(f) for f in forms], infusion_date=day0, exposures=exposed, settings=crs_settings
            )
            masked = {d.day: d.fever_masked for d in course.days}
            for f in forms:  # as adverse_events.derive.derive_crs_assessment
                graded = grade_crs_assessment(crs_input(f), fever_masked=masked[f.assessment_date])
                f.grade, f.fever, f.fever_masked = graded.grade, graded.fever, graded.fever_masked
                f.hypotension_grade, f.hypoxia_grade = graded.hypotension_grade, graded.hypoxia_grade
                f.flags = [str(flag) for flag in graded.flags]
                f.criteria = graded.criteria
                f.study_day = study_day(f.assessment_date, day0)
                f.settings_version = self.version
            crs_rows.extend(forms)
            self.crs_forms[plan.index] = {f.assessment_date: f for f in forms}
            for episode in course.episodes:
                row = _episode(CrsEpisode, subject, episode, self.version)
                crs_episodes.append(row)
                aes.append(self._episode_ae(row, plan))

            grades = dict(plan.icans)
            age_forms = []
            for day in ICANS_DAYS:
                if day > plan.last_day:
                    break
                on = day0 + timedelta(days=day)
                age = age_in_completed_years(plan.born, on)
                f = self.form(
                    IcansAssessment,
                    subject,
                    assessment_date=on,
                    assessment_time=time(9, 0),
                    language="zh",
                    **_ice_items(grades.get(day, 0)),
                )
                rule_input = icans_input(f, age_years=age, settings=icans_settings)
                igraded = icans_rules.grade_icans_assessment(rule_input, settings=icans_settings)
                f.grade, f.evaluable = igraded.grade, igraded.evaluable
                f.instrument_used, f.instrument_total = str(igraded.instrument), igraded.instrument_total
                f.age_years, f.criteria = age, igraded.criteria
                f.study_day, f.settings_version = study_day(on, day0), self.version
                age_forms.append((f, rule_input))
            icans_rows.extend(f for f, _ in age_forms)
            icourse = icans_rules.icans_course([r for _, r in age_forms], infusion_date=day0, settings=icans_settings)
            for episode in icourse.episodes:
                row = _episode(IcansEpisode, subject, episode, self.version)
                icans_episodes.append(row)
                aes.append(self._episode_ae(row, plan))
            events = self._ctcae_events(plan, rng)
            self.aes[plan.index] = events
            aes.extend(events)
        self.insert(CrsAssessment, crs_rows)
        self.insert(IcansAssessment, icans_rows)
        self.insert(CrsEpisode, crs_episodes)
        self.insert(IcansEpisode, icans_episodes)
        for ae in aes:  # the episode rows have their keys now
            ae.crs_episode_id = ae.crs_episode.pk if ae.crs_episode else None
            ae.icans_episode_id = ae.icans_episode.pk if ae.icans_episode else None
        self.insert(AdverseEvent, aes)

    def _ae(self, plan: Plan, **values: Any) -> AdverseEvent:
        """An AE with its derived values as adverse_events.derive.derive_adverse_event."""
        assert plan.day0 is not None
        ae = self.form(AdverseEvent, self.subjects[plan.index], **values)
        term = ctcae.term_by_name(ae.ctcae_term)
        ae.ctcae_term, ae.meddra_code, ae.soc, ae.ctcae_version = (
            term.name,
            term.meddra_code,
            term.soc,
            ctcae.CTCAE_VERSION,
        )
        owned = values.get("crs_episode") is not None or values.get("icans_episode") is not None
        ae.grade_scale = GradeScale.ASTCT if owned else GradeScale.CTCAE
        ae.serious = any(
            (
                ae.serious_death,
                ae.serious_life_threatening,
                ae.serious_hospitalisation,
                ae.serious_disability,
                ae.serious_congenital_anomaly,
                ae.serious_important_medical_event,
            )
        )
        ae.onset_study_day = study_day(ae.onset_date, plan.day0)
        ae.resolution_study_day = None if ae.resolution_date is None else study_day(ae.resolution_date, plan.day0)
        ae.collection_period = collection_period(
            onset=ae.onset_date, ld_start=plan.day0 - timedelta(days=5), infusion=plan.day0
        )
        for name, value in grade_course.derived_fields(ae).items():  # the dated grade course (issue 30)
            setattr(ae, name, value)
        return ae

    def _episode_ae(self, episode: CrsEpisode | IcansEpisode, plan: Plan) -> AdverseEvent:
        """The episode's own AE, as adverse_events.services.ae_crs_icans._sync_ae creates it."""
        is_crs = isinstance(episode, CrsEpisode)
        return self._ae(
            plan,
            ctcae_term=CRS_TERM if is_crs else ICANS_TERM,
            verbatim="" if is_crs else ICANS_VERBATIM,
            grade=episode.derived_grade,
            onset_date=episode.onset_date,
            resolution_date=episode.resolved_date,
            relationship_car_t=Relationship.PROBABLE,
            relationship_lymphodepletion=Relationship.UNLIKELY,
            action=AeAction.TREATMENT,
            outcome=AeOutcome.NOT_RECOVERED if episode.resolved_date is None else AeOutcome.RECOVERED,
            **({"crs_episode": episode} if is_crs else {"icans_episode": episode}),
        )

    def _ctcae_events(self, plan: Plan, rng: random.Random) -> list[AdverseEvent]:
        assert plan.day0 is not None
        events = []
        terms = [t for t, _g, _w in AE_TERMS]
        weights = [w for _t, _g, w in AE_TERMS]
        chosen = set()
        for _ in range(rng.randrange(11, 17)):
            name = rng.choices(terms, weights=weights)[0]
            if name in chosen:
                continue
            chosen.add(name)
            term = ctcae.term_by_name(name)
            usual = next(g for t, g, _w in AE_TERMS if t == name)
            grade = next(g for g in (rng.choice(usual), *sorted(term.grades)) if g in term.grades and g < 5)
            onset = rng.randrange(-4, 30)
            if onset > plan.last_day:
                continue
            length = rng.randrange(2, 21)
            resolved = onset + length if onset + length <= plan.last_day else None
            serious = grade >= 3 and name in ("Febrile neutropenia", "Sepsis", "Lung infection")
            events.append(
                self._ae(
                    plan,
                    ctcae_term=name,
                    grade=grade,
                    onset_date=plan.day0 + timedelta(days=onset),
                    resolution_date=None if resolved is None else plan.day0 + timedelta(days=resolved),
                    relationship_car_t=rng.choice(
                        (Relationship.POSSIBLE, Relationship.PROBABLE, Relationship.UNLIKELY)
                    ),
                    relationship_lymphodepletion=rng.choice((Relationship.POSSIBLE, Relationship.PROBABLE)),
                    action=AeAction.TREATMENT if grade >= 3 else AeAction.NONE,
                    outcome=AeOutcome.RECOVERED if resolved is not None else AeOutcome.NOT_RECOVERED,
                    serious_hospitalisation=serious,
                )
            )
        return events

    # labs
    def _labs(self) -> None:
        rows: list[LabResult] = []
        for plan in self.infused():
            rng = self.rngs[plan.index]
            subject = self.subjects[plan.index]
            assert plan.day0 is not None
            fever_days = {d for d, _g in plan.crs}
            for panel, days in (("CBC", CBC_DAYS), ("INFL", INFL_DAYS), ("CHEM", CHEM_DAYS)):
                for day in days:
                    if day > plan.last_day:
                        break
                    values = _lab_values(panel, day, day in fever_days, rng)
                    for code, unit, lln, uln in PANELS[panel]:
                        rows.append(
                            _lab_row(
                                self.form(
                                    LabResult,
                                    subject,
                                    collected_on=plan.day0 + timedelta(days=day),
                                    collected_time=time(6, 30),
                                    panel=panel,
                                    analyte=code,
                                    value=values[code],
                                    unit=unit,
                                    lln=None if lln is None else Decimal(lln),
                                    uln=None if uln is None else Decimal(uln),
                                    sex=plan.sex,
                                )
                            )
                        )
        self.copy(LabResult, rows)

    # marrows, MRD, relapse
    def _response(self) -> None:
        settings = self.choices.response_settings()
        by_round: dict[int, list[tuple[Plan, MarrowAssessment, MrdTest | None]]] = {}
        relapses = []
        for plan in self.infused():
            rng = self.rngs[plan.index]
            subject = self.subjects[plan.index]
            assert plan.day0 is not None
            screening = plan.consent + timedelta(days=3)
            marrows = [(screening, _marrow_values("baseline", rng), None)]
            for day in MARROW_DAYS:
                if day > plan.last_day or (plan.relapse_day is not None and day >= plan.relapse_day):
                    break
                if plan.day28 == "NR" and day > 28:
                    break
                state = plan.day28 if day == 28 else "CR"
                marrows.append(
                    (plan.day0 + timedelta(days=day), _marrow_values(state, rng), plan.mrd_positive and day == 28)
                )
            if plan.relapse_day is not None and plan.relapse_day <= plan.last_day:
                on = plan.day0 + timedelta(days=plan.relapse_day)
                cd7 = Decimal("3.5") if plan.relapse_cd7_negative else Decimal("92.0")
                marrows.append((on, {**_marrow_values("relapse", rng), "blast_cd7_pct": cd7}, None))
                relapses.append(
                    self.form(
                        Relapse,
                        subject,
                        relapse_date=on,
                        site_marrow=True,
                        site_blood=True,
                        blast_cd7_status="negative" if plan.relapse_cd7_negative else "positive",
                        blast_cd7_pct=cd7,
                    )
                )
            for number, (on, values, mrd_positive) in enumerate(marrows):
                ma = self.form(MarrowAssessment, subject, assessment_date=on, **values)
                test = None
                if number > 0 and values["marrow_blasts_pct"] < 5:
                    test = self.form(
                        MrdTest,
                        subject,
                        sample_date=on,
                        method="flow",
                        specimen="marrow",
                        detected=bool(mrd_positive),
                        level_pct=Decimal("0.08") if mrd_positive else None,
                        sensitivity=Decimal("1E-5"),
                        cells_analysed=2_000_000,
                        cd7_independent_gating=True,
                    )
                by_round.setdefault(number, []).append((plan, ma, test))
        # In date order per subject, as forms are entered: each marrow is derived against the
        # ones before it (baseline, prior remission); its MRD test re-derives it (an update).
        history: dict[int, list[MarrowAssessment]] = {}
        for number in sorted(by_round):
            batch = by_round[number]
            for plan, ma, _test in batch:
                _derive_marrow(ma, history.get(plan.index, []), plan, [], settings, self.version)
            self.insert(MarrowAssessment, [ma for _p, ma, _t in batch])
            tests = []
            for _plan, ma, test in batch:
                if test is not None:
                    test.assessment = ma
                    test.status = rules.mrd_test_status(_rule_test(test), settings).value
                    test.settings_version = self.version
                    tests.append(test)
            self.insert(MrdTest, tests)
            changed = []
            for plan, ma, test in batch:
                if test is not None:
                    _derive_marrow(ma, history.get(plan.index, []), plan, [test], settings, self.version)
                    changed.append(ma)
                history.setdefault(plan.index, []).append(ma)
            if changed:
                MarrowAssessment.objects.bulk_update(
                    changed, ["mrd_status", "response_label", "derivation_inputs", "version"], batch_size=2000
                )
        self.insert(Relapse, relapses)

    # survival
    def _survival(self, steps: dict[int, list[dict[str, Any]]]) -> None:
        therapies, contacts, deaths = [], [], []
        for plan in self.infused():
            subject = self.subjects[plan.index]
            assert plan.day0 is not None
            if plan.hsct_day is not None and plan.hsct_day <= plan.last_day:
                therapies.append(
                    self.form(
                        SubsequentTherapy,
                        subject,
                        therapy_type="hsct",
                        start_date=plan.day0 + timedelta(days=plan.hsct_day),
                        consolidative=True,
                        donor=("haploidentical", "matched_sibling", "matched_unrelated")[plan.index % 3],
                        conditioning="Bu/Cy/ATG 白消安/环磷酰胺/ATG",
                    )
                )
            if plan.relapse_day is not None and plan.relapse_day + 7 <= plan.last_day:
                therapies.append(
                    self.form(
                        SubsequentTherapy,
                        subject,
                        therapy_type="chemotherapy",
                        start_date=plan.day0 + timedelta(days=plan.relapse_day + 7),
                        consolidative=False,
                        description="CAG 方案 (cytarabine, aclarubicin, G-CSF)",
                    )
                )
            for day in FOLLOW_UP_DAYS:
                if day > plan.last_day:
                    break
                contacts.append(
                    self.form(
                        FollowUpContact,
                        subject,
                        contact_date=plan.day0 + timedelta(days=day),
                        method=ContactMethod.CLINIC_VISIT if day <= 90 else ContactMethod.TELEPHONE,
                        alive=True,
                    )
                )
            last = plan.last_day
            if last >= 28:
                steps[plan.index].append({"status": Status.FOLLOW_UP, "status_date": plan.day0 + timedelta(days=28)})
            if plan.death_day is not None and plan.death_day == last:
                on = plan.day0 + timedelta(days=last)
                deaths.append(
                    self.form(Death, subject, death_date=on, primary_cause=plan.death_cause, autopsy=Autopsy.NO)
                )
                steps[plan.index].append({"status": Status.DIED, "status_date": on})
            elif plan.lost_day is not None and plan.lost_day == last:
                steps[plan.index].append(
                    {"status": Status.LOST_TO_FOLLOW_UP, "status_date": plan.day0 + timedelta(days=last)}
                )
            elif last >= 365:
                steps[plan.index].append({"status": Status.COMPLETED, "status_date": plan.day0 + timedelta(days=365)})
        self.insert(SubsequentTherapy, therapies)
        self.insert(FollowUpContact, contacts)
        self.insert(Death, deaths)

    # baseline forms at screening (CLINICAL_SPEC §7.1 "Screening"), every consented subject
    def _baseline(self) -> None:
        demographics, histories, priors, conditions, performance, vitals = [], [], [], [], [], []
        crs_settings = self.choices.crs_settings()
        for plan in self.plans:
            rng = self.frngs[plan.index]
            subject = self.subjects[plan.index]
            screened = plan.consent + timedelta(days=3)
            demographics.append(
                self.form(
                    Demographics,
                    subject,
                    **sf.demographics_values(
                        born=plan.born, on=screened, sex=plan.sex, weight=plan.weight_kg, height=plan.height_cm
                    ),
                )
            )
            diagnosed = plan.consent - timedelta(days=rng.randrange(300, 1600))
            lines = rng.choices((1, 2, 3, 4, 5), weights=(10, 35, 30, 15, 10))[0]
            prior_hsct = rng.random() < 0.2
            hsct_on = plan.consent - timedelta(days=rng.randrange(150, 290))
            history = self.form(
                DiseaseHistory,
                subject,
                diagnosis=rng.choice(sf.DIAGNOSES),
                diagnosis_date=sf.partial(diagnosed, rng),
                blast_cd7_pct=sf.d1(rng.uniform(70, 99.5)),
                immunophenotype="cCD3+, CD7+, CD5+, CD1a−, CD34+/−",
                cytogenetics=rng.choice(("46,XY", "46,XX", "46,XY,t(11;14)(p13;q11)", "complex karyotype")),
                molecular_markers=rng.choice(("NOTCH1 mut", "TAL1 rearranged", "none detected", "STIL::TAL1")),
                disease_status=rng.choice(("relapsed", "relapsed", "refractory")),
                prior_lines=lines,
                cns_status=rng.choices(("CNS1", "CNS2", "CNS3"), weights=(85, 10, 5))[0],
                prior_hsct=prior_hsct,
                hsct_date=f"{hsct_on:%Y-%m}" if prior_hsct else "",
                hsct_donor=rng.choice(sf.DONORS) if prior_hsct else "",
                prior_gvhd=(rng.random() < 0.3) if prior_hsct else None,
            )
            if history.prior_gvhd:
                history.gvhd_history = "Acute skin GvHD grade II, resolved on steroids / 皮肤急性 GvHD II 度"
            impute_partial_dates(history, "diagnosis_date", "hsct_date")  # as DiseaseHistory.clean
            histories.append(history)
            span = max(60, (plan.consent - diagnosed).days - 30)
            for line in range(1, lines + 1):
                therapy, regimen = sf.PRIOR_REGIMENS[(line - 1 + plan.index) % len(sf.PRIOR_REGIMENS)]
                started = diagnosed + timedelta(days=span * (line - 1) // lines)
                ended = started + timedelta(days=max(20, span // lines - 10))
                prior = self.form(
                    PriorTherapy,
                    subject,
                    line_number=line,
                    therapy_type=therapy,
                    regimen=regimen,
                    start_date=sf.partial(started, rng, 0.15),
                    end_date=ended.isoformat(),
                    best_response=rng.choice(("CR", "CR", "CRi", "PR", "NR", "PD")),
                )
                impute_partial_dates(prior, "start_date", "end_date")  # as PriorTherapy.clean
                priors.append(prior)
            for condition, chronic in rng.sample(sf.MEDICAL_HISTORY, rng.choices((0, 1, 2, 3), (30, 35, 25, 10))[0]):
                onset = plan.consent - timedelta(days=rng.randrange(400, 5000))
                ongoing = chronic and rng.random() < 0.8
                ended = "" if ongoing else (onset + timedelta(days=rng.randrange(20, 300))).isoformat()
                row = self.form(
                    MedicalHistory,
                    subject,
                    condition=condition,
                    onset_date=f"{onset:%Y}" if rng.random() < 0.3 else sf.partial(onset, rng, 0.5),
                    ongoing=ongoing,
                    end_date=ended,
                )
                impute_partial_dates(row, "onset_date", "end_date")  # as MedicalHistory.clean
                conditions.append(row)
            performance.append(self._performance(plan, screened, later=False))
            threshold = sf.sbp_threshold(plan.born, screened, crs_settings)
            for values in sf.vital_readings(
                day=-99, on=screened, times=(time(9, 0),), crs_form=None, threshold=threshold, rng=rng
            ):
                vitals.append((plan.index, self._vitals_row(plan, values)))
        self.insert(Demographics, demographics)
        self.copy(DiseaseHistory, histories)
        self.copy(PriorTherapy, priors)
        self.copy(MedicalHistory, conditions)
        self.copy(PerformanceStatus, performance)
        self.screening_vitals = vitals  # dated visits come with enrolment: written with the others

    def _performance(self, plan: Plan, on: date, *, later: bool) -> PerformanceStatus:
        values = sf.performance_values(
            born=plan.born, on=on, lansky_below=self.choices.lansky_below_age, rng=self.frngs[plan.index], later=later
        )
        return self.form(PerformanceStatus, self.subjects[plan.index], settings_version=self.version, **values)

    def _vitals_row(self, plan: Plan, values: dict[str, Any]) -> VitalSigns:
        return self.form(VitalSigns, self.subjects[plan.index], settings_version=self.version, **values)

    # cell collection and bridging (enrolled subjects)
    def _collection(self) -> None:
        collections, bridging = [], []
        for plan in self.plans:
            if plan.outcome == "screen_failed":
                continue
            rng = self.frngs[plan.index]
            assert plan.enrolled is not None
            donor = plan.index % 3 == 0  # the infusion's source (donor-derived for one in three)
            relation = rng.choice(("matched_sibling", "unrelated", "haploidentical"))
            collections.append(
                self.form(
                    CellCollection,
                    subject=self.subjects[plan.index],
                    collection_date=plan.enrolled + timedelta(days=1),
                    source="donor" if donor else "autologous",
                    donor_origin=rng.choice(("prior_hsct", "new")) if donor else "",
                    donor_relation=relation if donor else "",
                    hla_match=("5/10" if relation == "haploidentical" else "10/10") if donor else "",
                    cd3_cells_e8=Decimal(str(round(rng.uniform(8, 60), 2))),
                )
            )
            if plan.outcome == "infused" and rng.random() < 0.6:
                bridging.append(
                    self.form(
                        BridgingTherapy,
                        self.subjects[plan.index],
                        regimen=rng.choice(sf.BRIDGING),
                        start_date=plan.enrolled + timedelta(days=2),
                        end_date=plan.enrolled + timedelta(days=rng.randrange(4, 8)),
                    )
                )
        self.copy(CellCollection, collections)
        self.copy(BridgingTherapy, bridging)

    # the con-med log, before the CRS course that reads it (fever masking, §1.2 b)
    def _conmed_log(self) -> None:
        rows = []
        for plan in self.infused():
            assert plan.day0 is not None
            courses = sf.conmed_plan(plan.crs, plan.icans, plan.last_day, self.frngs[plan.index])
            self.conmeds[plan.index] = courses
            for c in courses:
                rows.append(
                    self.form(
                        ConcomitantMedication,
                        self.subjects[plan.index],
                        medication_name=c.name,
                        atc_code=c.atc,
                        category=c.category,
                        dexamethasone_equivalent_mg=None if c.dex is None else Decimal(c.dex),
                        dose=Decimal(c.dose),
                        dose_unit=c.unit,
                        route=c.route,
                        start_date=plan.day0 + timedelta(days=c.start),
                        stop_date=None if c.stop is None else plan.day0 + timedelta(days=c.stop),
                        ongoing=c.stop is None,
                        indication=c.indication,
                    )
                )
        self.copy(ConcomitantMedication, rows)  # in order: keys follow the list (medication_exposures' tie-break)

    def _stay(self, plan: Plan) -> tuple[int, int | None]:
        """The hospital stay around the infusion (study days): admitted the day before
        lymphodepletion, discharged on day 14, later after severe CRS or ICANS."""
        worst = max([g for _d, g in plan.crs] + [0])
        worst_icans = max([g for _d, g in plan.icans] + [0])
        discharge = 14 + (4 + plan.index % 7 if worst >= 3 or worst_icans >= 2 else 0)
        return -6, discharge if discharge <= plan.last_day else None

    # vital signs: screening, lymphodepletion, several a day in hospital, later visits
    def _vital_signs(self) -> None:
        rows = []
        for index, row in self.screening_vitals:
            row.visit = self.visits.get((index, "SCR"))
            rows.append(row)
        crs_settings = self.choices.crs_settings()
        for plan in self.infused():
            rng = self.frngs[plan.index]
            assert plan.day0 is not None
            _admitted, discharged = self._stay(plan)
            inpatient_to = plan.last_day if discharged is None else discharged
            days = [*range(-5, inpatient_to + 1), *(d for d in sf.LATER_VISIT_DAYS if d > inpatient_to)]
            crs = self.crs_forms.get(plan.index, {})
            for day in days:
                if day > plan.last_day:
                    break
                on = plan.day0 + timedelta(days=day)
                times = (time(9, 0),) if day > inpatient_to else sf.FOUR_A_DAY if day >= 0 else sf.TWO_A_DAY
                threshold = sf.sbp_threshold(plan.born, on, crs_settings)
                readings = sf.vital_readings(
                    day=day, on=on, times=times, crs_form=crs.get(on), threshold=threshold, rng=rng
                )
                code = "LD" if day == -5 else f"D{day}"
                for n, values in enumerate(readings):
                    row = self._vitals_row(plan, values)
                    if n == 0:
                        row.visit = self.visits.get((plan.index, code))
                    rows.append(row)
        self._grade_fevers(rows)
        self.copy(VitalSigns, rows)

    def _grade_fevers(self, rows: list[VitalSigns]) -> None:
        """Each reading's CTCAE fever grade among its subject's readings, as
        `labs.derive.fever_grade` derives it on save (CLINICAL_SPEC §3; issue 27)."""
        zone = ZoneInfo(self.site.time_zone)
        by_subject: dict[int, list[VitalSigns]] = {}
        for row in rows:
            by_subject.setdefault(id(row.subject), []).append(row)
        for readings in by_subject.values():
            # untimed readings sort at the start of their day, as on save
            ordered = sorted(
                readings, key=lambda r: (r.assessment_date, r.assessment_time is not None, r.assessment_time)
            )
            course = [
                ctcae.TemperatureReading(
                    at=None
                    if r.assessment_time is None
                    else datetime.combine(r.assessment_date, r.assessment_time, tzinfo=zone).astimezone(UTC),
                    celsius=r.temperature_c,
                )
                for r in ordered
            ]
            for index, row in enumerate(ordered):
                graded = ctcae.grade_fever_course(course, index)
                row.fever_grade = None if graded is None else graded.grade

    # hospital and ICU stays, infections, acute GvHD, IEC-HS
    def _toxicities(self) -> None:
        stays, infections, stagings, iec, extra_aes = [], [], [], [], []
        gvhd_settings = self.choices.gvhd_settings()
        for plan in self.infused():
            rng = self.frngs[plan.index]
            subject = self.subjects[plan.index]
            assert plan.day0 is not None
            day0 = plan.day0
            admitted, discharged = self._stay(plan)
            stays.append(
                self._stay_row(plan, "hospital", admitted, discharged, "清淋、回输及监测 / LD, CAR-T and monitoring")
            )
            severe = [d for d, g in plan.crs if g >= 3]
            if severe:
                last = severe[-1] + 2
                stays.append(
                    self._stay_row(
                        plan,
                        "icu",
                        severe[0],
                        last if last <= plan.last_day else None,
                        "CRS grade ≥ 3 on vasopressors / 细胞因子释放综合征 ≥3 级",
                    )
                )
            for ae in self.aes.get(plan.index, []):
                where = {"Lung infection": ("lung", "Klebsiella pneumoniae"), "Sepsis": ("blood", "Escherichia coli")}
                if ae.ctcae_term in where:
                    site, organism = where[ae.ctcae_term]
                    infections.append(
                        self._infection(
                            plan,
                            ae.onset_date,
                            ae.resolution_date,
                            "bacterial",
                            organism,
                            site,
                            ae.ctcae_term,
                            ae.grade,
                            "",
                        )
                    )
            if plan.last_day >= 40 and rng.random() < 0.1:  # CMV reactivation (§4.4)
                onset = rng.randrange(21, 35)
                resolved = onset + rng.randrange(10, 20)
                end = day0 + timedelta(days=resolved) if resolved <= plan.last_day else None
                on = day0 + timedelta(days=onset)
                verbatim = "CMV reactivation (viraemia) / CMV 再激活"
                infections.append(
                    self._infection(
                        plan,
                        on,
                        end,
                        "viral",
                        "Cytomegalovirus",
                        "blood",
                        "Infections and infestations - Other, specify",
                        2,
                        verbatim,
                        reactivation="CMV",
                    )
                )
                extra_aes.append(
                    self._ae(
                        plan,
                        ctcae_term="Infections and infestations - Other, specify",
                        verbatim=verbatim,
                        grade=2,
                        onset_date=on,
                        resolution_date=end,
                        relationship_car_t=Relationship.POSSIBLE,
                        relationship_lymphodepletion=Relationship.POSSIBLE,
                        action=AeAction.TREATMENT,
                        outcome=AeOutcome.RECOVERED if end else AeOutcome.NOT_RECOVERED,
                    )
                )
            if plan.index % 3 == 0 and plan.last_day >= 35 and rng.random() < 0.5:  # donor-derived: aGvHD
                onset = rng.randrange(14, 25)
                skin = rng.choice(("10", "20", "30", "45"))
                for day, bsa, stool in (
                    (onset, skin, None),
                    (onset + 7, "20", rng.choice((None, "600"))),
                    (onset + 14, "5", None),
                ):
                    if day > plan.last_day:
                        break
                    staging = self.form(
                        GvhdStaging,
                        subject,
                        assessment_date=day0 + timedelta(days=day),
                        weight_kg=plan.weight_kg,
                        skin_bsa_pct=Decimal(bsa),
                        bilirubin=Decimal(rng.randrange(8, 25)),
                        bilirubin_unit="umol/L",
                        stool_ml_per_day=None if stool is None else Decimal(stool),
                        settings_version=self.version,
                    )
                    for name, value in sf.gvhd_values(staging, day0=day0, gvhd_settings=gvhd_settings).items():
                        setattr(staging, name, value)
                    stagings.append(staging)
                end = onset + 21
                extra_aes.append(
                    self._ae(
                        plan,
                        ctcae_term="Immune system disorders - Other, specify",
                        verbatim="Acute GvHD, donor-derived CAR-T / 急性移植物抗宿主病",
                        grade=2,
                        onset_date=day0 + timedelta(days=onset),
                        resolution_date=day0 + timedelta(days=end) if end <= plan.last_day else None,
                        relationship_car_t=Relationship.PROBABLE,
                        relationship_lymphodepletion=Relationship.UNLIKELY,
                        action=AeAction.TREATMENT,
                        outcome=AeOutcome.RECOVERED if end <= plan.last_day else AeOutcome.NOT_RECOVERED,
                    )
                )
            if plan.crs and plan.last_day >= 10 and rng.random() < 0.03:  # IEC-HS after CRS (§4.2)
                iec.append(
                    self.form(
                        IecHsAssessment,
                        subject,
                        assessment_date=day0 + timedelta(days=8),
                        present=True,
                        onset_date=day0 + timedelta(days=7),
                        ferritin_peak=Decimal(rng.randrange(12000, 40000)),
                        fibrinogen_nadir=Decimal("1.3"),
                        alt_peak=Decimal(rng.randrange(80, 200)),
                        ast_peak=Decimal(rng.randrange(90, 250)),
                        bilirubin_peak=Decimal(rng.randrange(15, 40)),
                        marrow_haemophagocytosis="not_done",
                        treatments=[],
                        grade=1,
                        study_day=8,
                    )
                )
        self.copy(HospitalStay, stays)
        self.copy(Infection, infections)
        self.copy(GvhdStaging, stagings)
        self.insert(IecHsAssessment, iec)  # an array column: not in COPY's text form here
        self.insert(AdverseEvent, extra_aes)

    def _stay_row(self, plan: Plan, kind: str, first: int, last: int | None, reason: str) -> HospitalStay:
        assert plan.day0 is not None
        return self.form(
            HospitalStay,
            self.subjects[plan.index],
            kind=kind,
            admission_date=plan.day0 + timedelta(days=first),
            discharge_date=None if last is None else plan.day0 + timedelta(days=last),
            admission_reason=reason,
            # derived as adverse_events.toxicity_derive.derive_hospital_stay
            admission_study_day=first,
            length_of_stay_days=None if last is None else last - first,
        )

    def _infection(
        self,
        plan: Plan,
        onset: date,
        resolved: date | None,
        organism_type: str,
        organism: str,
        site: str,
        term_name: str,
        grade: int,
        verbatim: str,
        reactivation: str = "",
    ) -> Infection:
        assert plan.day0 is not None
        term = ctcae.term_by_name(term_name)
        return self.form(
            Infection,
            self.subjects[plan.index],
            onset_date=onset,
            resolution_date=resolved,
            organism_type=organism_type,
            organism=organism,
            viral_reactivation=reactivation,
            infection_site=site,
            ctcae_term=term.name,
            verbatim=verbatim,
            grade=grade,
            # derived as adverse_events.toxicity_derive.derive_infection
            meddra_code=term.meddra_code,
            ctcae_version=ctcae.CTCAE_VERSION,
            onset_study_day=study_day(onset, plan.day0),
        )

    # performance status at the later visits, protocol deviations
    def _later_forms(self) -> None:
        performance, deviations = [], []
        for plan in self.infused():
            assert plan.day0 is not None
            for day in sf.PS_DAYS:
                if day > plan.last_day:
                    break
                row = self._performance(plan, plan.day0 + timedelta(days=day), later=True)
                row.visit = self.visits.get((plan.index, f"D{day}"))
                performance.append(row)
            if plan.last_day >= 35 and self.frngs[plan.index].random() < 0.06:
                deviations.append(
                    self.form(
                        ProtocolDeviation,
                        self.subjects[plan.index],
                        deviation_date=plan.day0 + timedelta(days=33),
                        category="visit_window",
                        description="Day-28 bone marrow aspirate done on day 33, outside the ±3-day window.",
                        important=False,
                        corrective_action="Site reminded of the window; marrow slots booked at infusion.",
                    )
                )
        self.copy(PerformanceStatus, performance)
        self.copy(ProtocolDeviation, deviations)

    def _apply(self, steps: dict[int, list[dict[str, Any]]]) -> None:
        """The lifecycle, one status change per update (each leaves its history row)."""
        rounds = max((len(s) for s in steps.values()), default=0)
        for number in range(rounds):
            changed, fields = [], set()
            for index, subject_steps in steps.items():
                if number < len(subject_steps):
                    subject = self.subjects[index]
                    for name, value in subject_steps[number].items():
                        setattr(subject, name, value)
                        fields.add(name)
                    changed.append(subject)
            Subject.objects.bulk_update(changed, sorted(fields), batch_size=2000)


def _copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, date | time | datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _restore(state: Any) -> random.Random:
    rng = random.Random()  # noqa: S311 - synthetic data, reproducible by design
    rng.setstate(state)
    return rng


def _crs_inputs(grade: int, rng: random.Random) -> dict[str, Any]:
    """Assessment inputs whose ASTCT grade (CLINICAL_SPEC §1.1) is `grade`: fever from grade 1,
    then low-flow oxygen, then a vasopressor or high flow, then two vasopressors or CPAP."""
    values: dict[str, Any] = {
        "tmax_c": Decimal(str(round(rng.uniform(36.4, 37.4), 1))),
        "hypotension": False,
        "oxygen_device": "room_air",
        "oxygen_flow_l_min": None,
        "vasopressors": [],
    }
    if grade >= 1:
        values["tmax_c"] = Decimal(str(round(rng.uniform(38.2, 39.8), 1)))
    if grade == 2:
        if rng.random() < 0.5:
            values.update(oxygen_device="nasal_cannula", oxygen_flow_l_min=Decimal("2.0"))
        else:
            values.update(hypotension=True, hypotension_fluid_responsive=True)
    elif grade == 3:
        values.update(hypotension=True, hypotension_fluid_responsive=False, vasopressors=["norepinephrine"])
    elif grade == 4:
        values.update(
            hypotension=True, hypotension_fluid_responsive=False, vasopressors=["norepinephrine", "vasopressin"]
        )
        values.update(oxygen_device="cpap")
    # §1.2 d: each finding recorded as attributable to CRS; nothing to attribute → unanswered
    values["hypotension_attributable_to_crs"] = True if values["hypotension"] or values["vasopressors"] else None
    values["hypoxia_attributable_to_crs"] = True if values["oxygen_device"] != "room_air" else None
    return values


def _ice_items(grade: int) -> dict[str, int]:
    """ICE items (CLINICAL_SPEC §2.1) whose total gives the ICANS encephalopathy grade:
    10 → 0, 7–9 → 1, 3–6 → 2, 0–2 → 3."""
    total = {0: 10, 1: 8, 2: 5, 3: 1}[grade]
    items = {
        "ice_orientation": 4,
        "ice_naming": 3,
        "ice_following_commands": 1,
        "ice_writing": 1,
        "ice_counting_backwards": 1,
    }
    deficit = 10 - total
    for name in ("ice_writing", "ice_counting_backwards", "ice_orientation", "ice_naming", "ice_following_commands"):
        take = min(deficit, items[name])
        items[name] -= take
        deficit -= take
    return items


def _episode(model: type[CrsEpisode] | type[IcansEpisode], subject: Subject, episode: Any, version: int) -> Any:
    """An episode row as adverse_events.services.ae_crs_icans._sync_episodes writes it."""
    return model(
        subject=subject,
        number=episode.number,
        onset_date=episode.onset_date,
        last_date=episode.last_date,
        onset_day=episode.onset_day,
        duration_days=episode.duration_days,
        resolved_date=episode.resolved_date,
        derived_grade=episode.grade,
        criteria=episode.criteria,
        settings_version=version,
        superseded=False,
        version=1,
    )


def _lab_values(panel: str, day: int, fever: bool, rng: random.Random) -> dict[str, Decimal]:
    """Cytopenias after lymphodepletion recovering in the second week; CRP, ferritin and IL-6
    rising with CRS; transaminases mostly normal."""

    def d(value: float, places: int = 2) -> Decimal:
        return Decimal(str(round(value, places)))

    if panel == "CBC":
        recovery = 0.6 if day < 0 else max(0.05, min(1.0, (day - 5) / 9))
        anc = d(rng.uniform(1.5, 3.5) * recovery)
        alc = d(rng.uniform(0.1, 0.5) if day < 7 else rng.uniform(0.4, 1.8))
        return {
            "WBC": anc + alc + d(rng.uniform(0.05, 0.6)),
            "ANC": anc,
            "ALC": alc,
            "HGB": Decimal(rng.randrange(72, 125)),
            "PLT": Decimal(int(rng.uniform(18, 200) * recovery) + 8),
        }
    if panel == "INFL":
        return {
            "CRP": d(rng.uniform(40, 160) if fever else rng.uniform(1, 15), 1),
            "FERRITIN": Decimal(rng.randrange(2500, 9000) if fever else rng.randrange(300, 1500)),
            "IL6": d(rng.uniform(60, 900) if fever else rng.uniform(2, 25), 1),
        }
    return {
        "ALT": Decimal(rng.randrange(8, 120)),
        "AST": Decimal(rng.randrange(10, 90)),
        "TBIL": d(rng.uniform(4, 30), 1),
    }


def _lab_row(result: LabResult) -> LabResult:
    """Standard value, range, flag and lab-derived grade as labs.derive.derive_lab_result with the report's own
    range (the report's LLN/ULN win over the site table)."""
    entry = ANALYTES[result.analyte]
    result.standard_value = to_standard(result.value, analyte_code=entry.code, unit=result.unit)
    result.standard_unit = entry.standard_unit
    result.standard_lln = (
        None if result.lln is None else to_standard(result.lln, analyte_code=entry.code, unit=result.unit)
    )
    result.standard_uln = (
        None if result.uln is None else to_standard(result.uln, analyte_code=entry.code, unit=result.unit)
    )
    result.range_source = RangeSource.REPORT
    flag = reference_flag(result.standard_value, lln=result.standard_lln, uln=result.standard_uln)
    result.flag = "" if flag is None else flag.value
    grade = grade_lab_value(entry.code, result.standard_value, lln=result.standard_lln)  # CLINICAL_SPEC §3
    result.ctcae_term = "" if grade is None else grade.term
    result.ctcae_grade = None if grade is None else grade.grade
    return result


def _marrow_values(state: str, rng: random.Random) -> dict[str, Any]:
    def d(value: float, places: int = 1) -> Decimal:
        return Decimal(str(round(value, places)))

    if state in ("baseline", "relapse", "NR"):
        return {
            "marrow_blasts_pct": Decimal(rng.randrange(30 if state != "relapse" else 20, 90)),
            "peripheral_blasts_pct": Decimal(rng.randrange(2, 30)),
            "anc": d(rng.uniform(0.3, 1.5)),
            "platelets": Decimal(rng.randrange(20, 90)),
            "transfused_previous_7_days": False,
        }
    cri = state == "CRi"
    return {
        "marrow_blasts_pct": d(rng.uniform(0.2, 4.0)),
        "peripheral_blasts_pct": Decimal("0"),
        "anc": Decimal("0.7") if cri else d(rng.uniform(1.2, 3.5)),
        "platelets": Decimal("45") if cri else Decimal(rng.randrange(110, 260)),
        "transfused_previous_7_days": False,
    }


def _rule_test(test: MrdTest) -> rules.MrdTest:
    return rules.MrdTest(
        method=rules.MrdMethod(test.method),
        detected=test.detected,
        level_pct=test.level_pct,
        sensitivity=test.sensitivity,
        cells_analysed=test.cells_analysed,
        specimen=test.specimen,
        cd7_independent_gating=test.cd7_independent_gating,
    )


REMISSION = ("CR", "CRi")


def _derive_marrow(
    ma: MarrowAssessment,
    earlier: list[MarrowAssessment],
    plan: Plan,
    tests: list[MrdTest],
    settings: rules.ResponseSettings,
    version: int,
) -> None:
    """As response.derive.derive_response, from the subject's earlier marrows in memory (no
    extramedullary disease, no adjudication in synthetic data)."""
    assert plan.day0 is not None
    ld = plan.day0 - timedelta(days=5)
    mrd = rules.mrd_status([_rule_test(t) for t in tests], settings)
    inputs: dict[str, Any] = {
        "marrow_blasts_pct": jsonable(ma.marrow_blasts_pct),
        "peripheral_blasts_pct": jsonable(ma.peripheral_blasts_pct),
        "anc": jsonable(ma.anc),
        "platelets": jsonable(ma.platelets),
        "transfused_previous_7_days": ma.transfused_previous_7_days,
        "cns_status": ma.cns_status,
        "extramedullary_disease": ma.extramedullary_disease,
        "mrd_tests": [t.pk for t in tests],
        "first_lymphodepletion": jsonable(ld),
        "count_operator": settings.count_operator,
        "relapse_operator": settings.relapse_operator,
        "relapse_threshold_pct": jsonable(settings.relapse_threshold_pct),
        "mrd_cutoff_pct": jsonable(settings.mrd_cutoff_pct),
        "mrd_min_cells_flow": settings.mrd_min_cells_flow,
    }
    ma.settings_version, ma.criteria_version = version, rules.CRITERIA
    ma.mrd_status = mrd.value if mrd else ""
    if tests:
        ma.version = 2  # the MRD test's save re-derived the marrow: one more version
    if ma.assessment_date < ld:
        ma.is_baseline, ma.derivation_inputs = True, inputs
        ma.marrow_response = ma.emd_response = ma.response = ma.response_label = ""
        ma.boundary, ma.needs_adjudication = [], False
        return
    before = [e for e in earlier if e.assessment_date < ld]
    baseline = max(before, key=lambda e: (e.assessment_date, e.pk)) if before else None
    prior_remission = any(e.response in REMISSION for e in earlier if ld <= e.assessment_date < ma.assessment_date)
    marrow = marrow_rules_response(ma, baseline, prior_remission=prior_remission, settings=settings)
    overall = rules.overall_response(marrow.category, None, prior_remission=prior_remission)
    boundary = [
        {"field": b.field, "value": jsonable(b.value), "threshold": jsonable(b.threshold), "rule": b.rule}
        for b in marrow.boundary
    ]
    inputs.update(baseline_assessment=baseline.pk if baseline else None, prior_remission=prior_remission)
    ma.is_baseline = False
    ma.marrow_response, ma.emd_response = marrow.category.value, ""
    ma.response, ma.response_label = overall.value, rules.response_label(overall, mrd)
    ma.boundary, ma.needs_adjudication = boundary, bool(boundary) and not ma.adjudicated_response
    ma.derivation_inputs = inputs
