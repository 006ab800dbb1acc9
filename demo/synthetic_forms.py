"""The forms of a synthetic subject beyond the core course (issue 29 item 6): demographics,
performance status, medical and disease history, prior therapy, cell collection, bridging,
vital signs, concomitant medications, hospital and ICU stays, infections, acute GvHD staging,
IEC-HS and protocol deviations — what a real subject of this study has (CLINICAL_SPEC §7.1,
the demo loader `demo.courses` / `demo.safety`).

Pure planning here (each subject draws from a stream of its own, seeded by (seed, index,
"forms"), so the core course of `demo.synthetic` is the same data as before); the rows are
written by `demo.synthetic._Chunk` with the same COPY / bulk insert, whose history rows the
database's audit triggers write. Derived fields are computed by the functions the save path
calls: age and BSA (clinical.schedule, clinical.baseline), partial-date imputation
(crf.fields), hypotension threshold (clinical.crs), performance scale (clinical.baseline), MAGIC
staging (clinical.gvhd), CTCAE terms (clinical.ctcae), study days (clinical.schedule).

Volumes per infused subject: about 75 vital-sign sets (four a day in hospital from day 0 to
discharge, two a day from lymphodepletion to day −1, one at screening and at each later visit),
6–9 con-med courses, one hospital stay (and an ICU stay for CRS grade ≥ 3), one to five prior
lines, 0–3 medical history conditions, 7 performance status assessments.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

from clinical.baseline import BSA_FORMULA, PerformanceScale, bsa_mosteller, scales_for_age
from clinical.crs import MedicationExposure, hypotension_sbp_threshold
from clinical.gvhd import stage_gvhd
from clinical.schedule import age_in_completed_years, study_day

#: indications and verbatim names keep the bilingual style of the demo's con-meds
PROPHYLAXIS = (
    ("阿昔洛韦 aciclovir", "J05AB01", "antimicrobial", "400", "mg", "oral"),
    ("复方磺胺甲噁唑 co-trimoxazole", "J01EE01", "antimicrobial", "960", "mg", "oral"),
)
MEDICAL_HISTORY = (
    ("Hepatitis B carrier / 乙型肝炎病毒携带", True),
    ("Hypertension / 高血压", True),
    ("Invasive pulmonary aspergillosis / 侵袭性肺曲霉病", False),
    ("Type 2 diabetes mellitus / 2 型糖尿病", True),
    ("Herpes zoster / 带状疱疹", False),
    ("Depression / 抑郁症", True),
    ("Appendectomy / 阑尾切除术", False),
)
PRIOR_REGIMENS = (
    ("chemotherapy", "VDLP 方案 (vincristine, daunorubicin, L-asparaginase, prednisone)"),
    ("chemotherapy", "Hyper-CVAD A/B"),
    ("chemotherapy", "CAM 方案 (cyclophosphamide, cytarabine, 6-MP)"),
    ("chemotherapy", "Nelarabine / 奈拉滨"),
    ("targeted", "Venetoclax + azacitidine / 维奈克拉 + 阿扎胞苷"),
    ("immunotherapy", "Daratumumab / 达雷妥尤单抗"),
    ("chemotherapy", "CAG 方案 (cytarabine, aclarubicin, G-CSF)"),
)
BRIDGING = (
    "Venetoclax + decitabine / 维奈克拉 + 地西他滨",
    "Low-dose cytarabine / 小剂量阿糖胞苷",
    "Dexamethasone + vincristine / 地塞米松 + 长春新碱",
)
DIAGNOSES = ("t_all", "t_all", "t_all", "t_lbl", "etp_all")
DONORS = ("haploidentical", "matched_sibling", "matched_unrelated")
#: reading times of the vital signs: four a day in hospital after infusion, two before
FOUR_A_DAY = (time(2, 0), time(8, 0), time(14, 0), time(20, 0))
TWO_A_DAY = (time(8, 0), time(20, 0))
LATER_VISIT_DAYS = (21, 28, 60, 90, 180, 270, 365)
PS_DAYS = (28, 60, 90, 180, 270, 365)


def forms_rng(seed: int, index: int) -> random.Random:
    return random.Random(f"{seed}:{index}:forms")  # noqa: S311 - synthetic data, reproducible by design


def d1(value: float) -> Decimal:
    return Decimal(str(round(value, 1)))


@dataclass(frozen=True)
class Conmed:
    name: str
    atc: str
    category: str
    dose: str
    unit: str
    route: str
    start: int  # study day
    stop: int | None  # study day; None = ongoing
    indication: str
    dex: str | None = None


def conmed_plan(
    crs: list[tuple[int, int]], icans: list[tuple[int, int]], last_day: int, rng: random.Random
) -> list[Conmed]:
    """A subject's con-med courses on the Day-0 clock (CLINICAL_SPEC §1.2 b; the demo's
    `_conmeds`): anti-infective prophylaxis from lymphodepletion, an antifungal to day 28,
    paracetamol over the CRS fever, tocilizumab on the first CRS grade ≥ 2 day, dexamethasone
    from the first CRS grade ≥ 3 or ICANS grade ≥ 2 day, G-CSF and platelet transfusions in
    some. Courses not started by `last_day` are left out; those not stopped by it are ongoing."""
    courses: list[Conmed] = []
    for name, atc, category, dose, unit, route in PROPHYLAXIS:
        courses.append(Conmed(name, atc, category, dose, unit, route, -5, 180, "prophylaxis 预防"))
    courses.append(
        Conmed("泊沙康唑 posaconazole", "J02AC04", "antimicrobial", "300", "mg", "oral", 0, 28, "prophylaxis 预防")
    )
    if crs:
        first, last = crs[0][0], crs[-1][0]
        courses.append(
            Conmed("对乙酰氨基酚 paracetamol", "N02BE01", "antipyretic", "500", "mg", "oral", first, last, "fever 发热")
        )
        grade2 = [d for d, g in crs if g >= 2]
        if grade2:
            courses.append(
                Conmed(
                    "托珠单抗 tocilizumab", "L04AC07", "tocilizumab", "8", "mg/kg", "iv", grade2[0], grade2[0], "CRS"
                )
            )
    severe = [d for d, g in crs if g >= 3] + [d for d, g in icans if g >= 2]
    if severe:
        start = min(severe)
        courses.append(
            Conmed(
                "地塞米松 dexamethasone",
                "H02AB02",
                "corticosteroid",
                "10",
                "mg",
                "iv",
                start,
                start + 3,
                "CRS / ICANS",
                dex="10",
            )
        )
    if rng.random() < 0.35:
        start = rng.randrange(8, 12)
        courses.append(
            Conmed(
                "重组人粒细胞刺激因子 filgrastim",
                "L03AA02",
                "gcsf",
                "300",
                "ug",
                "sc",
                start,
                start + 4,
                "neutropenia 中性粒细胞减少",
            )
        )
    if rng.random() < 0.4:
        day = rng.randrange(4, 10)
        courses.append(
            Conmed(
                "单采血小板 platelet transfusion",
                "B05AX",
                "transfusion",
                "1",
                "unit",
                "iv",
                day,
                day,
                "thrombocytopenia 血小板减少",
            )
        )
    kept = []
    for course in courses:
        if course.start > last_day:
            continue
        stop = course.stop if course.stop is not None and course.stop <= last_day else None
        kept.append(Conmed(**{**course.__dict__, "stop": stop}))
    return kept


def exposures(courses: list[Conmed], day0: date) -> tuple[MedicationExposure, ...]:
    """The fever-masking exposures of the courses as adverse_events.selectors.medication_exposures
    reads them from the log (its categories, ordered by start date then key = insertion order)."""
    from adverse_events.selectors import CONMED_CATEGORIES

    found = [c for c in courses if c.category in CONMED_CATEGORIES]
    found.sort(key=lambda c: c.start)  # stable: ties keep the insertion (key) order
    return tuple(
        MedicationExposure(category=CONMED_CATEGORIES[c.category], start_date=day0 + timedelta(days=c.start))
        for c in found
    )


def age_on(born: date, on: date) -> int:
    return age_in_completed_years(born, on)


def demographics_values(*, born: date, on: date, sex: str, weight: Decimal, height: Decimal) -> dict[str, Any]:
    """As subjects.models.Demographics.clean with the age left empty: derived from the date of
    birth on the assessment date, and the BSA by Mosteller."""
    return {
        "assessment_date": on,
        "age_years": age_on(born, on),
        "age_source": "dob",
        "sex": sex,
        "weight_kg": weight,
        "height_cm": height,
        "bsa_m2": bsa_mosteller(height_cm=height, weight_kg=weight),
        "bsa_formula": BSA_FORMULA,
    }


def performance_values(*, born: date, on: date, lansky_below: int, rng: random.Random, later: bool) -> dict[str, Any]:
    """As subjects.models.PerformanceStatus.clean with the scale left empty: the age's default
    scale (Lansky below `lansky_below`, else ECOG)."""
    age = age_on(born, on)
    scale = scales_for_age(age, lansky_below_age=lansky_below)[0]
    if scale is PerformanceScale.LANSKY:
        score = rng.choice((60, 70, 80, 80, 90, 90, 100) if later else (50, 60, 70, 80, 90))
    else:
        score = rng.choice((0, 0, 1, 1, 2) if later else (0, 1, 1, 2, 2))
    return {"assessment_date": on, "scale": scale.value, "score": score, "age_years": age}


def partial(on: date, rng: random.Random, share: float = 0.25) -> str:
    """A history date as typed: month and year only in `share` of them (a referral letter)."""
    return f"{on:%Y-%m}" if rng.random() < share else on.isoformat()


def vital_readings(
    *,
    day: int,
    on: date,
    times: tuple[time, ...],
    crs_form: Any | None,
    threshold: int,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """One day's vital signs: the CRS assessment's maximum temperature, hypotension and oxygen
    show in the afternoon reading (the daily vitals and CRS pages agree, as in the demo)."""
    rows = []
    for at in times:
        afternoon = at == time(14, 0) or len(times) == 1
        temperature = d1(rng.uniform(36.2, 37.3))
        systolic = rng.randrange(102, 132)
        heart = rng.randrange(66, 96)
        device, flow, spo2 = "room_air", None, rng.randrange(96, 100)
        if crs_form is not None and afternoon:
            if crs_form.tmax_c is not None and crs_form.tmax_c >= Decimal("38.0"):
                temperature, heart = crs_form.tmax_c, rng.randrange(100, 128)
            if crs_form.hypotension or crs_form.vasopressors:
                systolic = threshold - rng.randrange(2, 12)
            if crs_form.oxygen_device != "room_air":
                device, flow, spo2 = crs_form.oxygen_device, crs_form.oxygen_flow_l_min, rng.randrange(90, 95)
        rows.append(
            {
                "assessment_date": on,
                "assessment_time": at,
                "temperature_c": temperature,
                "systolic_bp": systolic,
                "diastolic_bp": systolic - rng.randrange(32, 46),
                "heart_rate": heart,
                "spo2": spo2,
                "oxygen_device": device,
                "oxygen_flow_l_min": flow,
                # derived as labs.derive.derive_vital_signs (§1.2 h)
                "hypotension": systolic < threshold,
                "hypotension_threshold": threshold,
            }
        )
    return rows


def sbp_threshold(born: date, on: date, crs_settings: Any) -> int:
    return hypotension_sbp_threshold(age_years=age_on(born, on), settings=crs_settings)


def gvhd_values(staging: Any, *, day0: date, gvhd_settings: Any) -> dict[str, Any]:
    """As adverse_events.toxicity_derive.derive_gvhd_staging (MAGIC, §4.3)."""
    from adverse_events.toxicity_rules import gvhd_input

    staged = stage_gvhd(gvhd_input(staging), gvhd_settings)
    return {
        "skin_stage": staged.skin_stage,
        "liver_stage": staged.liver_stage,
        "upper_gi_stage": staged.upper_gi_stage,
        "lower_gi_stage": staged.lower_gi_stage,
        "overall_grade": staged.overall_grade,
        "bilirubin_mg_dl": None if staged.bilirubin_mg_dl is None else round(staged.bilirubin_mg_dl, 4),
        "child_column": staged.child_column,
        "criteria": staged.criteria,
        "study_day": study_day(staging.assessment_date, day0),
    }
