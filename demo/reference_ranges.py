"""The demo site laboratory's reference ranges (issue 28 item 4) and the screening labs and
vital signs of the demo subjects, so that the demo study has a baseline before lymphodepletion
(CLINICAL_SPEC §7.1: the screening visit expects vital signs and laboratory results) and every
result a reference range (LLN/ULN by sex and age, CLINICAL_SPEC §1.3 "Lab-derived grades").

The ranges are typical adult and paediatric intervals of a Chinese hospital laboratory (WS/T
405 and WS/T 779 style), in the unit the demo reports; a sex-specific band where the analyte
differs by sex. Invented for the demo, like everything else in it.

Screening values describe an eligible relapsed/refractory T-ALL subject (subjects.eligibility:
adequate organ function): counts low but not grade 3 (so no lab-grade query fires before the
treatment), chemistry within or near the range, LDH and urate raised by the leukaemia.
Deterministic: a generator seeded per subject, apart from the demo's shared generator (adding
the screening values changes no other demo value).
"""

from __future__ import annotations

import random
from datetime import date, time
from decimal import Decimal

from clinical.units import Panel
from crf.services import save
from labs.models import ReferenceRange, VitalSigns
from labs.services import PanelRow, record_lab_panel, record_reference_range
from study.models import Site, User
from subjects.models import Subject

D = Decimal
ADULT = 18
#: analyte → unit, [(sex "" = both, age_from, age_to or None, LLN, ULN)]
RANGES: dict[str, tuple[str, list[tuple[str, int, int | None, str, str]]]] = {
    "WBC": ("10^9/L", [("", 0, ADULT, "4.3", "11.3"), ("", ADULT, None, "3.5", "9.5")]),
    "ANC": ("10^9/L", [("", 0, ADULT, "1.6", "7.8"), ("", ADULT, None, "1.8", "6.3")]),
    "ALC": ("10^9/L", [("", 0, ADULT, "1.5", "4.6"), ("", ADULT, None, "1.1", "3.2")]),
    "HGB": ("g/L", [("", 0, ADULT, "118", "156"), ("M", ADULT, None, "130", "175"), ("F", ADULT, None, "115", "150")]),
    "PLT": ("10^9/L", [("", 0, ADULT, "167", "453"), ("", ADULT, None, "125", "350")]),
    "ALT": ("U/L", [("", 0, ADULT, "7", "40"), ("M", ADULT, None, "9", "50"), ("F", ADULT, None, "7", "40")]),
    "AST": ("U/L", [("", 0, ADULT, "15", "40"), ("M", ADULT, None, "15", "40"), ("F", ADULT, None, "13", "35")]),
    "TBIL": ("umol/L", [("", 0, None, "3.4", "20.5")]),
    "CREAT": (
        "umol/L",
        [("", 0, ADULT, "27", "66"), ("M", ADULT, None, "57", "111"), ("F", ADULT, None, "41", "81")],
    ),
    "ALB": ("g/L", [("", 0, ADULT, "39", "54"), ("", ADULT, None, "40", "55")]),
    "LDH": ("U/L", [("", 0, ADULT, "110", "295"), ("", ADULT, None, "120", "250")]),
    "URATE": (
        "umol/L",
        [("", 0, ADULT, "120", "330"), ("M", ADULT, None, "208", "428"), ("F", ADULT, None, "155", "357")],
    ),
    "K": ("mmol/L", [("", 0, None, "3.5", "5.3")]),
    "NA": ("mmol/L", [("", 0, None, "137", "147")]),
    "PT": ("s", [("", 0, None, "11.0", "14.5")]),
    "APTT": ("s", [("", 0, None, "25.0", "37.0")]),
    "INR": ("ratio", [("", 0, None, "0.80", "1.20")]),
    "FIB": ("g/L", [("", 0, None, "2.0", "4.0")]),
    "CRP": ("mg/L", [("", 0, None, "0", "10")]),
    "FERRITIN": (
        "ng/mL",
        [("", 0, ADULT, "7", "140"), ("M", ADULT, None, "30", "400"), ("F", ADULT, None, "13", "150")],
    ),
    "IL6": ("pg/mL", [("", 0, None, "0", "7.0")]),
}


def ensure_reference_ranges(site: Site, user: User | None) -> int:
    """The demo laboratory's table at `site`, through the service a study admin's change uses
    (audited, re-deriving results). Does nothing when the site has ranges. Returns how many."""
    if ReferenceRange.objects.filter(site=site).exists():
        return 0
    written = 0
    for analyte, (unit, bands) in RANGES.items():
        for sex, age_from, age_to, lln, uln in bands:
            record_reference_range(
                user=user,
                reference_range=ReferenceRange(
                    site=site,
                    analyte=analyte,
                    sex=sex,
                    age_from=age_from,
                    age_to=age_to,
                    unit=unit,
                    lln=D(lln),
                    uln=D(uln),
                ),
                reason="Demo laboratory reference ranges",
            )
            written += 1
    return written


def _d(rng: random.Random, low: float, high: float, places: int = 1) -> Decimal:
    return D(str(round(rng.uniform(low, high), places)))


def record_screening(*, subject: Subject, user: User, on: date, sex: str, index: int, seed: int) -> None:
    """Vital signs and the CBC, chemistry, coagulation and inflammatory panels at the screening
    visit (`on`, before lymphodepletion): the baseline of LB and VS (--LOBXFL)."""
    rng = random.Random(seed * 1000 + index)  # noqa: S311 - synthetic data, reproducible by design
    visit = subject.visits.filter(definition__code="SCR").first()
    systolic = rng.randrange(102, 126)
    save(
        user=user,
        instance=VitalSigns(
            subject=subject,
            visit=visit,
            assessment_date=on,
            assessment_time=time(9, 0),
            temperature_c=_d(rng, 36.3, 37.1),
            systolic_bp=systolic,
            diastolic_bp=systolic - rng.randrange(36, 46),
            heart_rate=rng.randrange(70, 96),
            spo2=rng.randrange(96, 100),
            entry_status="complete",
        ),
        expected_version=None,
    )
    anc = _d(rng, 1.1, 2.6, 2)
    alc = _d(rng, 0.6, 1.6, 2)
    wbc = (anc + alc + _d(rng, 0.4, 2.5, 2)).quantize(D("0.01"))  # circulating blasts and monocytes
    male = sex == "M"
    panels = {
        Panel.CBC: [
            PanelRow("WBC", wbc, "10^9/L"),
            PanelRow("ANC", anc, "10^9/L"),
            PanelRow("ALC", alc, "10^9/L"),
            PanelRow("HGB", D(rng.randrange(88, 124)), "g/L"),
            PanelRow("PLT", D(rng.randrange(55, 160)), "10^9/L"),
        ],
        Panel.CHEMISTRY: [
            PanelRow("ALT", D(rng.randrange(12, 58)), "U/L"),
            PanelRow("AST", D(rng.randrange(14, 48)), "U/L"),
            PanelRow("TBIL", _d(rng, 5.0, 19.0), "umol/L"),
            PanelRow("CREAT", D(rng.randrange(60, 98) if male else rng.randrange(44, 78)), "umol/L"),
            PanelRow("ALB", _d(rng, 34.0, 45.0), "g/L"),
            PanelRow("LDH", D(rng.randrange(210, 620)), "U/L"),
            PanelRow("URATE", D(rng.randrange(240, 460)), "umol/L"),
            PanelRow("K", _d(rng, 3.6, 4.8), "mmol/L"),
            PanelRow("NA", D(rng.randrange(136, 145)), "mmol/L"),
        ],
        Panel.COAGULATION: [
            PanelRow("PT", _d(rng, 11.5, 14.2), "s"),
            PanelRow("APTT", _d(rng, 27.0, 38.0), "s"),
            PanelRow("INR", _d(rng, 0.90, 1.15, 2), "ratio"),
            PanelRow("FIB", _d(rng, 2.1, 3.9, 2), "g/L"),
        ],
        Panel.INFLAMMATORY: [
            PanelRow("CRP", _d(rng, 1.0, 14.0), "mg/L"),
            PanelRow("FERRITIN", D(rng.randrange(180, 1200)), "ng/mL"),
            PanelRow("IL6", _d(rng, 2.0, 12.0), "pg/mL"),
        ],
    }
    for panel, rows in panels.items():
        record_lab_panel(
            user=user,
            subject=subject,
            panel=panel,
            collected_on=on,
            collected_time=time(7, 30),
            visit=visit,
            sex=sex,
            rows=rows,
            complete=True,
        )
