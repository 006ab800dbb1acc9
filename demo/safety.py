"""Safety data of the 24 demo subjects (issue 10 item 5), written through the services the safety
pages call (`crf.services.save` → the adverse_events save services; DLT adjudication and the SAE
"reported" mark through `adverse_events.services.dlt` / `adverse_events.services.alerts`).

The story, consistent with the plan of `demo.courses` (its `fever_days`, day-28 marrows, deaths):

- CRS (CLINICAL_SPEC §1): every febrile infused subject — onset day 1–3, mostly grade 1–2, grade 3
  (norepinephrine) in three; tocilizumab on the first grade ≥ 2 day and dexamethasone for
  hypotension (`demo.courses._conmeds` reads `CRS_PLAN`). The daily vitals show the same
  fever, hypotension and oxygen.
- DL2: subject 6 on norepinephrine for days 3–6 → a grade-3-on-4-days DLT candidate, confirmed
  by the demo investigator with a reason (the DLT that expanded DL2 to six, §3.1).
- DL3: subject 22 with ALT increased grade 3 from day 6, back to grade ≤ 1 only on day 16 → a
  candidate awaiting adjudication.
- ICANS (§2): grade 1 in three, grade 2 in one, grade 3 (ICE 2) for one day in one.
- Cytopenias (§3): Neutrophil / Platelet / Lymphocyte count decreased and Anemia AEs derived from
  the grades of the blood counts actually recorded from day −1 on (a cytopenia of lymphodepletion
  is its own AE, unrelated to the CAR-T cells, until it worsens after the infusion) — lymphopenia is
  grade 3–4 and never a DLT candidate (§3.1 haematologic exclusion). Day-21 and day-28 counts
  match the day-28 marrow (CRi subjects have not recovered); subject 10 has prolonged
  neutropenia (early ICAHT grade 3, §4.1), febrile neutropenia and a CMV reactivation.
- Other AEs (hypokalaemia, ALT increased, nausea during lymphodepletion, headache), infections,
  hospital and ICU stays, two SAEs (one reported to the sponsor, one awaiting report), one
  acute GvHD (MAGIC grade II at worst) after a donor-derived product, one mild IEC-HS.

Deterministic: a per-subject random generator seeded from the demo seed, dates relative to the
subject's day 0; nothing dated after `today` is written.
"""

from __future__ import annotations

import random
from datetime import date, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adverse_events.models import (
    AdverseEvent,
    CandidateStatus,
    CrsAssessment,
    DltCandidate,
    GvhdStaging,
    HospitalStay,
    IcansAssessment,
    IecHsAssessment,
    Infection,
    SaeReport,
    SafetyContacts,
)
from adverse_events.services import alerts as alert_services
from adverse_events.services import dlt as dlt_services
from clinical.units import Panel
from crf.services import save
from labs.models import LabResult, VitalSigns
from labs.services import PanelRow, record_lab_panel
from response.models import MarrowAssessment
from study.models import Membership
from study.roles import Role
from subjects.models import ConcomitantMedication, ConmedCategory, DoseUnit, Infusion, Route

if TYPE_CHECKING:
    from study.models import Site, Study, User
    from subjects.models import Subject

#: CRS day kinds: fever only (grade 1); fever with low-flow oxygen (2); fever with fluid-responsive
#: hypotension and oxygen (2); fever on norepinephrine (3); afebrile on norepinephrine after
#: tocilizumab (3, fever masked, §1.2 b); afebrile and nothing (0: the episode ends); fever from
#: another cause (febrile neutropenia after CRS resolved: 0, §1.2 a).
FEVER, OXYGEN, HYPOTENSION, PRESSOR, MASKED_PRESSOR, RESOLVED, OTHER_CAUSE = "F", "O", "H", "P", "p", "0", "N"
FEBRILE = (FEVER, OXYGEN, HYPOTENSION, PRESSOR)
HYPOTENSIVE = (HYPOTENSION, PRESSOR, MASKED_PRESSOR)
HYPOXIC = (OXYGEN, HYPOTENSION, PRESSOR, MASKED_PRESSOR)
GRADE2_OR_MORE = (OXYGEN, HYPOTENSION, PRESSOR, MASKED_PRESSOR)

#: subject index → {study day: CRS kind}; its febrile days are the plan's `fever_days`.
CRS_PLAN: dict[int, dict[int, str]] = {
    1: {1: FEVER, 2: FEVER, 3: RESOLVED},
    2: {3: FEVER, 4: FEVER, 5: FEVER, 6: OXYGEN, 7: RESOLVED},
    6: {2: FEVER, 3: PRESSOR, 4: PRESSOR, 5: PRESSOR, 6: MASKED_PRESSOR, 7: RESOLVED},
    10: {2: FEVER, 3: FEVER, 4: RESOLVED},
    12: {1: FEVER, 2: HYPOTENSION, 3: RESOLVED},
    14: {1: FEVER, 2: FEVER, 3: OXYGEN, 4: PRESSOR, 5: RESOLVED},
    15: {3: FEVER, 4: FEVER, 5: RESOLVED},
    18: {2: FEVER, 3: FEVER, 4: HYPOTENSION, 5: RESOLVED},
    19: {3: FEVER, 4: FEVER, 5: FEVER, 6: OXYGEN, 7: RESOLVED},
    20: {3: FEVER, 4: OXYGEN, 5: PRESSOR, 6: RESOLVED},
    21: {1: FEVER, 2: FEVER, 3: FEVER, 4: RESOLVED},
    22: {1: FEVER, 2: HYPOTENSION, 3: RESOLVED},
    23: {1: FEVER, 2: FEVER, 3: FEVER, 4: RESOLVED, 6: OTHER_CAUSE},
}
#: subject index → {study day: (ICE total, level of consciousness)}; all aged 12 or more (ICE).
ICANS_PLAN: dict[int, dict[int, tuple[int, str]]] = {
    2: {6: (8, "alert"), 7: (9, "alert"), 8: (10, "alert")},
    6: {5: (8, "alert"), 6: (10, "alert")},
    14: {5: (7, "alert"), 6: (5, "alert"), 7: (8, "alert"), 8: (10, "alert")},
    20: {5: (8, "alert"), 6: (2, "alert"), 7: (4, "awakens_to_voice"), 8: (8, "alert"), 9: (10, "alert")},
    23: {4: (9, "alert"), 5: (8, "alert"), 6: (10, "alert")},
}
#: subject index → study day of a febrile neutropenia (the daily vitals show the fever)
FEBRILE_NEUTROPENIA = {10: 12, 23: 6}
#: the subject whose neutrophils and platelets stay low to day 28 (ICAHT grade 3, CRi)
PROLONGED_CYTOPENIA = 10
#: day-28 CRi subjects whose day-21 counts have not recovered either (demo.courses.DAY28_CRI)
LOW_DAY21 = (2, 20)
#: the confirmed DL2 DLT and the DL3 candidate awaiting adjudication
DLT_CONFIRMED = 6
DLT_AWAITING = 22
#: donor-derived product (prior HSCT donor) with acute GvHD after infusion
GVHD = 21
IEC_HS = 19
SPONSOR_SAFETY_EMAILS = ["drug-safety@sponsor.example"]

DLT_REASON = (
    "CRS grade 3 needing norepinephrine on days 3–6 despite tocilizumab and dexamethasone: meets the "
    "protocol DLT definition. 3+3: DL2 expands to six. 细胞因子释放综合征 3 级持续 4 天，确认为 DLT。"
)


#: The blood counts whose lab-derived grade makes an AE of the demo (`_Writer.cytopenias`), with
#: the AE's relationship to the CAR-T cells when it starts after the infusion.
COUNT_AES = {"ANC": "possible", "PLT": "possible", "ALC": "probable", "HGB": "possible"}


def crs_kind(index: int, day: int) -> str | None:
    return CRS_PLAN.get(index, {}).get(day)


def febrile_days(index: int) -> tuple[int, ...]:
    """The CRS plan's febrile days (a test keeps them equal to the plan's `fever_days`)."""
    return tuple(sorted(d for d, k in CRS_PLAN.get(index, {}).items() if k in FEBRILE))


def vitals_fever(index: int, day: int, fever_days: tuple[int, ...]) -> bool:
    return day in fever_days or FEBRILE_NEUTROPENIA.get(index) == day


def crs_treatment(index: int) -> tuple[int | None, tuple[int, int] | None]:
    """Tocilizumab on the first CRS grade ≥ 2 day; dexamethasone from the first hypotensive day to
    two days after the last (longer while ICANS is grade ≥ 2). (None when not given.)"""
    plan = CRS_PLAN.get(index, {})
    grade2 = sorted(d for d, k in plan.items() if k in GRADE2_OR_MORE)
    hypotensive = sorted(d for d, k in plan.items() if k in HYPOTENSIVE)
    tocilizumab = grade2[0] if grade2 else None
    if not hypotensive:
        return tocilizumab, None
    icans_g2 = [d for d, (ice, _c) in ICANS_PLAN.get(index, {}).items() if ice <= 6]
    last = max([hypotensive[-1] + 2, *(d + 1 for d in icans_g2)])
    return tocilizumab, (hypotensive[0], last)


def ensure_sponsor_contacts(study: Study) -> None:
    """The demo sponsor's safety address: a reserved `.example` domain (RFC 2606), never delivered."""
    SafetyContacts.objects.get_or_create(study=study, defaults={"sponsor_emails": SPONSOR_SAFETY_EMAILS})


def site_investigator(site: Site) -> User | None:
    membership = (
        Membership.objects.filter(site=site, role=Role.INVESTIGATOR, ended_at__isnull=True, user__is_active=True)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    return membership.user if membership else None


class _Writer:
    """One subject's safety forms, skipping anything dated after `today`."""

    def __init__(
        self, *, index: int, subject: Subject, user: User, investigator: User | None, day0: date, today: date, seed: int
    ) -> None:
        self.index = index
        self.subject = subject
        self.user = user
        self.investigator = investigator
        self.day0 = day0
        self.today = today
        self.rng = random.Random(seed * 100 + index)  # noqa: S311 - synthetic data, reproducible by design

    def on(self, day: int) -> date:
        return self.day0 + timedelta(days=day)

    def due(self, day: int) -> bool:
        return self.on(day) <= self.today

    def save(self, instance: Any) -> Any:
        instance.entry_status = "complete"
        return save(user=self.user, instance=instance, expected_version=None)

    # --- CRS and ICANS -----------------------------------------------------------------------

    def crs(self) -> None:
        for day, kind in sorted(CRS_PLAN.get(self.index, {}).items()):
            if not self.due(day):
                continue
            vitals = VitalSigns.objects.filter(subject=self.subject, assessment_date=self.on(day)).first()
            measured = vitals.temperature_c if vitals and vitals.temperature_c else Decimal("37.0")
            febrile = kind in FEBRILE or kind == OTHER_CAUSE
            tmax = measured + Decimal(self.rng.choice(("0.0", "0.1", "0.2", "0.3"))) if febrile else measured
            hypotensive = kind in HYPOTENSIVE
            hypoxic = kind in HYPOXIC
            self.save(
                CrsAssessment(
                    subject=self.subject,
                    assessment_date=self.on(day),
                    assessment_time=time(14, 0),
                    tmax_c=tmax,
                    fever_other_cause=kind == OTHER_CAUSE,
                    hypotension=hypotensive,
                    hypotension_fluid_responsive=(kind == HYPOTENSION) if hypotensive else None,
                    vasopressors=["norepinephrine"] if kind in (PRESSOR, MASKED_PRESSOR) else [],
                    oxygen_device="nasal_cannula" if hypoxic else "room_air",
                    oxygen_flow_l_min=Decimal("2.0") if hypoxic else None,
                    # answered only where there is a finding (§1.2 d, nothing pre-set)
                    hypotension_attributable_to_crs=True if hypotensive or kind in (PRESSOR, MASKED_PRESSOR) else None,
                    hypoxia_attributable_to_crs=True if hypoxic else None,
                )
            )

    def icans(self) -> None:
        for day, (total, consciousness) in sorted(ICANS_PLAN.get(self.index, {}).items()):
            if not self.due(day):
                continue
            items = {}
            left = total
            for name, maximum in (
                ("ice_orientation", 4),
                ("ice_naming", 3),
                ("ice_following_commands", 1),
                ("ice_writing", 1),
                ("ice_counting_backwards", 1),
            ):
                items[name] = min(maximum, left)
                left -= items[name]
            self.save(
                IcansAssessment(
                    subject=self.subject,
                    assessment_date=self.on(day),
                    assessment_time=time(10, 0),
                    instrument="ice",
                    encephalopathy_state="scored",
                    language="zh",
                    consciousness=consciousness,
                    **items,
                )
            )

    # --- counts and cytopenias ---------------------------------------------------------------

    def late_counts(self, sex: str) -> None:
        """Blood counts on day 21 and on the day-28 marrow's date, the latter equal to the counts
        the marrow form carries (so ICAHT, the response and the DLT day-28 rule agree)."""
        rng = self.rng
        if self.due(21):
            if self.index == PROLONGED_CYTOPENIA:
                anc, plt = Decimal(str(round(rng.uniform(0.2, 0.4), 2))), Decimal(rng.randrange(26, 36))
            elif self.index in LOW_DAY21:
                anc, plt = Decimal(str(round(rng.uniform(0.8, 1.2), 2))), Decimal(rng.randrange(40, 60))
            else:
                anc, plt = Decimal(str(round(rng.uniform(1.6, 3.2), 2))), Decimal(rng.randrange(90, 180))
            self._cbc(21, self.on(21), anc, plt, sex)
        marrow = (
            MarrowAssessment.objects.filter(
                subject=self.subject,
                is_baseline=False,
                assessment_date__gte=self.on(25),
                assessment_date__lte=self.on(35),
            )
            .order_by("assessment_date")
            .first()
        )
        if marrow is not None and marrow.anc is not None and marrow.platelets is not None:
            self._cbc(28, marrow.assessment_date, marrow.anc, marrow.platelets, sex)

    def _cbc(self, day: int, on: date, anc: Decimal, plt: Decimal, sex: str) -> None:
        rng = self.rng
        alc = Decimal(str(round(rng.uniform(0.8, 1.6), 2)))
        wbc = (anc + alc + Decimal(str(round(rng.uniform(0.1, 0.5), 2)))).quantize(Decimal("0.01"))
        visit = self.subject.visits.filter(definition__code=f"D{day}").first()
        if visit is not None and visit.planned_date is not None and abs((on - visit.planned_date).days) > 3:
            visit = None
        record_lab_panel(
            user=self.user,
            subject=self.subject,
            panel=Panel.CBC,
            collected_on=on,
            collected_time=time(6, 30),
            visit=visit,
            sex=sex,
            rows=[
                PanelRow("WBC", wbc, "10^9/L"),
                PanelRow("ANC", anc, "10^9/L"),
                PanelRow("ALC", alc, "10^9/L"),
                PanelRow("HGB", Decimal(rng.randrange(100, 137)), "g/L"),  # recovered from the day-7 nadir
                PanelRow("PLT", plt, "10^9/L"),
            ],
            complete=True,
        )

    def cytopenias(self) -> None:
        """CTCAE v5.0 count AEs (and anaemia) from the blood counts recorded from the day-−1 count
        after lymphodepletion on: one AE per run of results graded ≥ 2 (the grade the lab form
        derived and stored), at its maximum grade, resolved on the first result back to grade ≤ 1.
        So every result of grade ≥ 3 is covered by an AE of its term, as the lab rule
        LB-GRADE-GE3-NO-AE asks (CLINICAL_SPEC §3 "Lab-derived grades"), and the demo opens no
        query for a count it has itself reported. A run that starts before the infusion is the
        lymphodepletion's AE until a count after the infusion is worse (`_count_ae`)."""
        rows = LabResult.objects.filter(
            subject=self.subject,
            entered_in_error=False,
            analyte__in=tuple(COUNT_AES),
            collected_on__gte=self.on(-1),
        ).order_by("collected_on", "collected_time", "pk")
        series: dict[str, list[tuple[date, int, str]]] = {analyte: [] for analyte in COUNT_AES}
        for row in rows:
            series[row.analyte].append((row.collected_on, row.ctcae_grade or 0, row.ctcae_term))
        for analyte, car_t in COUNT_AES.items():
            run: list[tuple[date, int, str]] = []
            for collected, grade, term in series[analyte]:
                if grade >= 2:
                    run.append((collected, grade, term))
                    continue
                if run:
                    self._count_ae(run, resolved=collected, car_t=car_t)
                    run = []
            if run:
                self._count_ae(run, resolved=None, car_t=car_t)

    def _count_ae(self, run: list[tuple[date, int, str]], *, resolved: date | None, car_t: str) -> None:
        """One run of counts graded ≥ 2. A run that begins before the infusion is the
        lymphodepletion's AE, unrelated to the CAR-T cells, for as long as the counts after the
        infusion are no worse; the first worse count ends it and begins a treatment-emergent AE
        (CLINICAL_SPEC §3: an AE is counted by its onset after the infusion) at the grade reached
        from then on. Either way every count of the run lies within an AE of its term."""
        term = run[0][2]
        before = [grade for on, grade, _t in run if on < self.day0]
        if before:
            worse = next((i for i, (on, grade, _t) in enumerate(run) if on >= self.day0 and grade > max(before)), None)
            if worse is not None:
                self.ae(
                    term,
                    max(before),
                    onset=run[0][0],
                    resolved=run[worse][0],
                    car_t="unrelated",
                    lymphodepletion="probable",
                    outcome="not_recovered",  # it went on at a higher grade: the AE below
                )
                run = run[worse:]
        onset = run[0][0]
        self.ae(
            term,
            max(grade for _on, grade, _t in run),
            onset=onset,
            resolved=resolved,
            car_t=car_t if onset >= self.day0 else "unrelated",
            lymphodepletion="probable",
        )

    # --- AEs, infections, stays ----------------------------------------------------------------

    def ae(
        self,
        term: str,
        grade: int,
        *,
        onset: date,
        resolved: date | None,
        verbatim: str = "",
        car_t: str = "possible",
        lymphodepletion: str = "unlikely",
        action: str = "none",
        outcome: str | None = None,
        **serious: bool,
    ) -> AdverseEvent | None:
        if onset > self.today:
            return None
        if resolved is not None and resolved > self.today:
            resolved = None
        return self.save(
            AdverseEvent(
                subject=self.subject,
                ctcae_term=term,
                verbatim=verbatim,
                grade=grade,
                onset_date=onset,
                resolution_date=resolved,
                relationship_car_t=car_t,
                relationship_lymphodepletion=lymphodepletion,
                action=action,
                outcome=outcome or ("recovered" if resolved else "not_recovered"),
                **serious,
            )
        )

    def infection(self, day: int, last: int | None, **values: Any) -> None:
        if not self.due(day):
            return
        resolved = self.on(last) if last is not None and self.due(last) else None
        self.save(Infection(subject=self.subject, onset_date=self.on(day), resolution_date=resolved, **values))

    def stay(self, kind: str, first: int, last: int | None, reason: str) -> None:
        if not self.due(first):
            return
        discharged = self.on(last) if last is not None and self.due(last) else None
        self.save(
            HospitalStay(
                subject=self.subject,
                kind=kind,
                admission_date=self.on(first),
                discharge_date=discharged,
                admission_reason=reason,
            )
        )

    def conmed(
        self, name: str, atc: str, category: str, dose: str, unit: str, first: int, last: int, why: str, dex: str
    ) -> None:
        if not self.due(first):
            return
        ongoing = not self.due(last)
        self.save(
            ConcomitantMedication(
                subject=self.subject,
                medication_name=name,
                atc_code=atc,
                category=category,
                dexamethasone_equivalent_mg=Decimal(dex),
                dose=Decimal(dose),
                dose_unit=unit,
                route=Route.IV,
                start_date=self.on(first),
                stop_date=None if ongoing else self.on(last),
                ongoing=ongoing,
                indication=why,
            )
        )

    def other_events(self) -> None:
        """The subject's non-count AEs, infections, stays, GvHD, IEC-HS, SAEs and DLT adjudication."""
        i, on = self.index, self.on
        if i == 3:
            self.ae("Nausea", 1, onset=on(-4), resolved=on(-2), car_t="unrelated", lymphodepletion="probable")
        if i == 1:
            self.ae("Alanine aminotransferase increased", 1, onset=on(7), resolved=on(14))
            self.ae("Upper respiratory infection", 2, onset=on(20), resolved=on(27), action="treatment")
            self.infection(
                20,
                27,
                organism_type="viral",
                organism="Rhinovirus",
                infection_site="upper_respiratory",
                ctcae_term="Upper respiratory infection",
                grade=2,
            )
        if i == 6:
            self.ae("Hypokalemia", 2, onset=on(4), resolved=on(8), action="treatment")
            self.stay("icu", 3, 7, "CRS grade 3 on norepinephrine / 细胞因子释放综合征 3 级，去甲肾上腺素")
            self._adjudicate_dlt()
        if i == PROLONGED_CYTOPENIA:
            self.ae("Febrile neutropenia", 3, onset=on(12), resolved=on(15), car_t="probable", action="treatment")
            self.ae(
                "Infections and infestations - Other, specify",
                2,
                onset=on(24),
                resolved=on(38),
                verbatim="CMV reactivation (viraemia) / CMV 再激活",
                action="treatment",
            )
            self.infection(
                24,
                38,
                organism_type="viral",
                organism="Cytomegalovirus",
                viral_reactivation="CMV",
                infection_site="blood",
                ctcae_term="Infections and infestations - Other, specify",
                verbatim="CMV viraemia",
                grade=2,
            )
        if i == 12:
            self.ae("Hypokalemia", 3, onset=on(2), resolved=on(5), action="treatment")
        if i == 14:
            self.ae("Hypokalemia", 2, onset=on(3), resolved=on(6), action="treatment")
            self.ae("Alanine aminotransferase increased", 2, onset=on(6), resolved=on(13))
        if i == 15:
            self.ae("Headache", 1, onset=on(3), resolved=on(4), car_t="probable")
        if i == IEC_HS:
            peak = (
                LabResult.objects.filter(subject=self.subject, analyte="FERRITIN", entered_in_error=False)
                .order_by("-standard_value")
                .values_list("standard_value", flat=True)
                .first()
            )
            if self.due(8):
                self.save(
                    IecHsAssessment(
                        subject=self.subject,
                        assessment_date=on(8),
                        present=True,
                        onset_date=on(7),
                        ferritin_peak=peak.quantize(Decimal("1")) if peak is not None else None,
                        fibrinogen_nadir=Decimal("1.3"),
                        alt_peak=Decimal("96"),
                        ast_peak=Decimal("141"),
                        bilirubin_peak=Decimal("22"),
                        marrow_haemophagocytosis="not_done",
                        treatments=[],
                        grade=1,
                    )
                )
        if i == 20:
            self.ae("Hypokalemia", 2, onset=on(5), resolved=on(9), action="treatment")
            self.stay("icu", 5, 8, "CRS grade 3 and ICANS grade 3 / CRS 3 级合并 ICANS 3 级")
        if i == GVHD:
            self._gvhd()
        if i == DLT_AWAITING:
            self.ae("Alanine aminotransferase increased", 3, onset=on(6), resolved=on(16), car_t="probable")
        if i == 23:
            self.stay("hospital", -6, None, "Lymphodepletion, CAR-T infusion and monitoring / 清淋、回输及监测")
            self.ae(
                "Febrile neutropenia",
                3,
                onset=on(FEBRILE_NEUTROPENIA[23]),
                resolved=None,
                car_t="probable",
                action="treatment",
                serious_hospitalisation=True,
            )  # an SAE awaiting its report: the 24-hour clock runs from now

    def _gvhd(self) -> None:
        on = self.on
        weight = (
            Infusion.objects.filter(subject=self.subject, entered_in_error=False)
            .order_by("pk")
            .values_list("weight_kg", flat=True)
            .first()
        ) or Decimal("60")
        for day, skin, stool in ((18, "20", None), (24, "40", "700"), (35, "5", None)):
            if self.due(day):
                self.save(
                    GvhdStaging(
                        subject=self.subject,
                        assessment_date=on(day),
                        weight_kg=weight.quantize(Decimal("0.1")),
                        skin_bsa_pct=Decimal(skin),
                        bilirubin=Decimal("14"),
                        bilirubin_unit="umol/L",
                        stool_ml_per_day=Decimal(stool) if stool else None,
                    )
                )
        self.ae(
            "Immune system disorders - Other, specify",
            2,
            onset=on(18),
            resolved=on(41),
            verbatim="Acute GvHD (skin, lower GI), donor-derived CAR-T / 急性移植物抗宿主病",
            action="treatment",
        )
        self.conmed(
            "甲泼尼龙 methylprednisolone",
            "H02AB04",
            ConmedCategory.CORTICOSTEROID,
            "60",
            DoseUnit.MG,
            24,
            38,
            "acute GvHD 急性 GvHD",
            "11.25",  # 4 mg methylprednisolone ≈ 0.75 mg dexamethasone
        )
        self.stay("hospital", 30, 37, "Klebsiella pneumonia / 肺炎克雷伯菌肺炎")
        ae = self.ae(
            "Lung infection",
            3,
            onset=on(30),
            resolved=on(37),
            action="treatment",
            serious_hospitalisation=True,
        )
        self.infection(
            30,
            37,
            organism_type="bacterial",
            organism="Klebsiella pneumoniae",
            infection_site="lung",
            ctcae_term="Lung infection",
            grade=3,
        )
        if ae is not None and self.investigator is not None:
            report = SaeReport.objects.get(adverse_event=ae)
            alert_services.mark_sae_reported(user=self.investigator, report=report, expected_version=report.version)

    def _adjudicate_dlt(self) -> None:
        if self.investigator is None:
            return
        candidate = DltCandidate.objects.filter(
            subject=self.subject, key="crs:g3run", withdrawn=False, status=CandidateStatus.AWAITING
        ).first()
        if candidate is not None:
            dlt_services.adjudicate_candidate(
                user=self.investigator,
                candidate=candidate,
                confirm=True,
                reason=DLT_REASON,
                expected_version=candidate.version,
            )


def record_early(
    *, index: int, subject: Subject, user: User, investigator: User | None, day0: date, today: date, seed: int
) -> None:
    """CRS and ICANS assessments (after the con-meds that mask fever are in the log)."""
    writer = _Writer(
        index=index, subject=subject, user=user, investigator=investigator, day0=day0, today=today, seed=seed
    )
    writer.crs()
    writer.icans()


def record_late(
    *,
    index: int,
    subject: Subject,
    user: User,
    investigator: User | None,
    day0: date,
    today: date,
    seed: int,
    sex: str,
) -> None:
    """Day-21/28 counts (after the day-28 marrow), count AEs, the other safety forms."""
    writer = _Writer(
        index=index, subject=subject, user=user, investigator=investigator, day0=day0, today=today, seed=seed + 1
    )
    writer.late_counts(sex)
    writer.cytopenias()
    writer.other_events()
