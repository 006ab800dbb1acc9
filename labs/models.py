"""Measurements used by several apps (DESIGN §3): vital signs, laboratory results with the lab's
units and reference ranges, T/NK subsets and CAR-T kinetics (issue 6 item 1)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pghistory
import pgtrigger
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from clinical.units import (
    ANALYTES,
    UNIT_LABELS,
    Analyte,
    Panel,
    Plausibility,
    decimal_text,
    plausibility,
    to_standard,
)
from crf import display
from crf.models import CrfInstance
from crf.versions import CrfVersion


class OxygenDevice(models.TextChoices):
    """The one oxygen-device list of the vital-signs and CRS forms (issue 24 item 4), keyed as
    clinical.crs.OxygenDevice, which holds each device's ASTCT grade (CLINICAL_SPEC §1.1)."""

    ROOM_AIR = "room_air", _("Room air")
    BLOW_BY = "blow_by", _("Blow-by")
    NASAL_CANNULA = "nasal_cannula", _("Nasal cannula")
    HIGH_FLOW_NASAL_CANNULA = "hfnc", _("High-flow nasal cannula")
    FACEMASK = "facemask", _("Facemask")
    NON_REBREATHER = "non_rebreather", _("Non-rebreather mask")
    VENTURI_MASK = "venturi_mask", _("Venturi mask")
    CPAP = "cpap", _("CPAP")
    BIPAP = "bipap", _("BiPAP")
    MECHANICAL_VENTILATION = "mechanical_ventilation", _("Intubation and mechanical ventilation")


# the vital-signs keys before the lists were one (data migrated in labs 0011): history rows keep them
display.retire_keys(
    "oxygen_device", {"venturi": OxygenDevice.VENTURI_MASK, "mechanical": OxygenDevice.MECHANICAL_VENTILATION}
)


FEVER_GRADE_CHOICES = [
    (0, _("no fever (below 38.0 °C)")),
    (1, _("grade 1 (38.0–39.0 °C)")),
    (2, _("grade 2 (above 39.0–40.0 °C)")),
    (3, _("grade 3 (above 40.0 °C for 24 hours or less)")),
    (4, _("grade 4 (above 40.0 °C for more than 24 hours)")),
]


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class VitalSigns(CrfInstance):
    """One set of vital signs. Physiologically impossible values are refused by the validators;
    implausible ones raise queries (labs/checks.py). `hypotension` is derived with the protocol
    settings in force on the assessment date (CLINICAL_SPEC §1.2 h)."""

    crf_code = "VS"
    crf_title = _("Vital signs")
    clinical_date_field = "assessment_date"
    missing_allowed = ("temperature_c", "systolic_bp", "diastolic_bp", "heart_rate", "respiratory_rate", "spo2")
    # Version 1.1 added the respiratory rate (issue 27 item 3): records entered under 1.0 have none.
    crf_versions = (
        CrfVersion("1.0"),
        CrfVersion(
            "1.1",
            effective="2026-12-06",
            added=("respiratory_rate",),
            note=_("respiratory rate added"),
        ),
    )

    assessment_date = models.DateField(_("assessment date"))
    assessment_time = models.TimeField(_("time (site local)"), null=True, blank=True)
    temperature_c = models.DecimalField(
        _("temperature (°C)"),
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("30.0")), MaxValueValidator(Decimal("45.0"))],
    )
    systolic_bp = models.PositiveSmallIntegerField(
        _("systolic BP (mmHg)"), null=True, blank=True, validators=[MinValueValidator(30), MaxValueValidator(300)]
    )
    diastolic_bp = models.PositiveSmallIntegerField(
        _("diastolic BP (mmHg)"), null=True, blank=True, validators=[MinValueValidator(10), MaxValueValidator(200)]
    )
    heart_rate = models.PositiveSmallIntegerField(
        _("heart rate (/min)"), null=True, blank=True, validators=[MinValueValidator(20), MaxValueValidator(300)]
    )
    respiratory_rate = models.PositiveSmallIntegerField(
        _("respiratory rate (/min)"), null=True, blank=True, validators=[MinValueValidator(4), MaxValueValidator(80)]
    )
    spo2 = models.PositiveSmallIntegerField(
        _("SpO2 (%)"), null=True, blank=True, validators=[MinValueValidator(40), MaxValueValidator(100)]
    )
    oxygen_device = models.CharField(
        _("oxygen device"), max_length=24, choices=OxygenDevice.choices, default=OxygenDevice.ROOM_AIR
    )
    oxygen_flow_l_min = models.DecimalField(
        _("oxygen flow (L/min)"),
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("80"))],
    )
    standard_of_care = models.BooleanField(
        _("history or standard-of-care result (not a protocol procedure)"),
        default=False,
        help_text=_("Tick for values taken from the medical record before consent: no consent-date query."),
    )
    # Derived by labs.services with the protocol settings in force on assessment_date.
    hypotension = models.BooleanField(_("hypotension"), null=True, editable=False)
    hypotension_threshold = models.PositiveSmallIntegerField(
        _("hypotension threshold (mmHg)"), null=True, editable=False
    )
    settings_version = models.PositiveIntegerField(_("protocol settings version"), null=True, editable=False)
    # Derived by labs.derive from the temperature (and, above 40.0 °C, the subject's other timed
    # readings): CTCAE v5.0 Fever (CLINICAL_SPEC §3). Shown on the page and the API only: SDTM VS
    # has no toxicity grade, so the VS export leaves it out (issue 27 item 5).
    fever_grade = models.PositiveSmallIntegerField(
        _("fever grade (CTCAE v5.0)"), null=True, editable=False, choices=FEVER_GRADE_CHOICES
    )

    class Meta:
        verbose_name = _("vital signs")
        verbose_name_plural = _("vital signs")
        ordering = ["subject", "assessment_date", "assessment_time", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} VS {self.assessment_date}"

    def why_not_derived(self, name: str) -> str | None:
        """Why the derived hypotension is empty (CLINICAL_SPEC §1.2 h: the threshold depends on
        the age, so it needs the systolic pressure and the date of birth)."""
        if name == "fever_grade":
            return self._why_no_fever_grade()
        if name not in ("hypotension", "hypotension_threshold"):
            return None
        if self.systolic_bp is None:
            return str(_("not derived: no systolic pressure recorded"))
        if getattr(self.subject, "identity", None) is None:
            return str(
                _("not derived: the date of birth is not recorded (the hypotension threshold depends on the age)")
            )
        return None

    def _why_no_fever_grade(self) -> str | None:
        if self.temperature_c is None:
            return str(_("not derived: no temperature recorded"))
        if self.temperature_c > Decimal("40.0"):
            return str(
                _(
                    "not proposed: above 40.0 °C the grade is 3 (24 hours or less) or 4 (more than 24 hours), "
                    "and the recorded times do not show how long it lasted: enter the grade on the adverse event"
                )
            )
        return None


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class LabPanel(models.TextChoices):
    CBC = Panel.CBC.value, _("Complete blood count")
    CHEMISTRY = Panel.CHEMISTRY.value, _("Chemistry")
    COAGULATION = Panel.COAGULATION.value, _("Coagulation")
    INFLAMMATORY = Panel.INFLAMMATORY.value, _("Inflammatory markers and cytokines")
    LYMPHOCYTE_SUBSETS = Panel.LYMPHOCYTE_SUBSETS.value, _("T/NK lymphocyte subsets")
    CAR_T_KINETICS = Panel.CAR_T_KINETICS.value, _("CAR-T kinetics")


#: How each analyte of clinical.units is named on pages, in English and Chinese.
ANALYTE_NAMES = {
    "WBC": _("White blood cells (WBC)"),
    "ANC": _("Absolute neutrophil count (ANC)"),
    "ALC": _("Absolute lymphocyte count (ALC)"),
    "HGB": _("Haemoglobin (Hgb)"),
    "PLT": _("Platelets (PLT)"),
    "BLAST": _("Peripheral blood blasts (%)"),
    "ALT": _("Alanine aminotransferase (ALT)"),
    "AST": _("Aspartate aminotransferase (AST)"),
    "TBIL": _("Total bilirubin"),
    "CREAT": _("Creatinine"),
    "ALB": _("Albumin"),
    "LDH": _("Lactate dehydrogenase (LDH)"),
    "URATE": _("Uric acid"),
    "K": _("Potassium (K)"),
    "NA": _("Sodium (Na)"),
    "PT": _("Prothrombin time (PT)"),
    "APTT": _("Activated partial thromboplastin time (APTT)"),
    "INR": _("International normalised ratio (INR)"),
    "FIB": _("Fibrinogen"),
    "DDIMER": _("D-dimer (FEU)"),
    "CRP": _("C-reactive protein (CRP)"),
    "FERRITIN": _("Ferritin"),
    "IL6": "IL-6",
    "IL2": "IL-2",
    "IL10": "IL-10",
    "IFNG": "IFN-γ",
    "TNFA": "TNF-α",
    "CD3_PCT": _("CD3+ (percentage of lymphocytes)"),
    "CD3_ABS": _("CD3+ (cells/µL)"),
    "CD3CD7P_PCT": _("CD3+CD7+ (percentage of lymphocytes)"),
    "CD3CD7P_ABS": _("CD3+CD7+ (cells/µL)"),
    "CD3CD7N_PCT": _("CD3+CD7− (percentage of lymphocytes)"),
    "CD3CD7N_ABS": _("CD3+CD7− (cells/µL)"),
    "CD4_PCT": _("CD4+ (percentage of lymphocytes)"),
    "CD4_ABS": _("CD4+ (cells/µL)"),
    "CD8_PCT": _("CD8+ (percentage of lymphocytes)"),
    "CD8_ABS": _("CD8+ (cells/µL)"),
    "CD56_PCT": _("CD56+ (percentage of lymphocytes)"),
    "CD56_ABS": _("CD56+ (cells/µL)"),
    "CAR_COPIES": _("CAR transgene (copies/µg DNA)"),
    "CAR_PCT": _("CAR+ T cells (percentage of CD3+)"),
    "CAR_ABS": _("CAR+ T cells (cells/µL)"),
}
ANALYTE_CHOICES = [(code, ANALYTE_NAMES[code]) for code in ANALYTES]
UNIT_CHOICES = list(UNIT_LABELS.items())


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Laboratory(models.Model):
    """A laboratory reporting a site's results (issue 27 item 1: several per site), with its own
    effective-dated reference ranges. Never deleted: a laboratory no longer used is made
    inactive (its results and ranges keep pointing at it)."""

    site = models.ForeignKey("study.Site", on_delete=models.PROTECT, related_name="laboratories")
    code = models.CharField(_("laboratory code"), max_length=20)
    name = models.CharField(_("name (English)"), max_length=200)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("laboratory")
        verbose_name_plural = _("laboratories")
        ordering = ["site", "code"]
        constraints = [
            models.UniqueConstraint(fields=["site", "code"], name="laboratory_code_unique_at_site"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ReferenceRange(models.Model):
    """A site laboratory's reference range for one analyte, sex and age band, in the unit the lab
    reports it. Used when a result is entered without the report's own LLN/ULN. Blank sex = both
    sexes; the age band is [age_from, age_to) in completed years, `age_to` empty = no upper end.
    A sex-specific row wins over a both-sexes row; otherwise the narrowest band wins.

    Versioned (issue 27 item 1): a change is a new row of the same band with a later
    `effective_from` (empty = in force from the start); a result is judged by the row in force on
    its collection date. `laboratory` empty = the site's own table, used for results of a
    laboratory that has no range of its own for the analyte (and for results with no laboratory)."""

    site = models.ForeignKey("study.Site", on_delete=models.PROTECT, related_name="reference_ranges")
    laboratory = models.ForeignKey(
        Laboratory,
        on_delete=models.PROTECT,
        related_name="reference_ranges",
        null=True,
        blank=True,
        verbose_name=_("laboratory"),
    )
    effective_from = models.DateField(_("effective from"), null=True, blank=True)
    analyte = models.CharField(_("analyte"), max_length=20, choices=ANALYTE_CHOICES)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, blank=True)
    age_from = models.PositiveSmallIntegerField(_("from age (years)"), default=0)
    age_to = models.PositiveSmallIntegerField(_("below age (years)"), null=True, blank=True)
    unit = models.CharField(_("unit"), max_length=20, choices=UNIT_CHOICES)
    lln = models.DecimalField(_("LLN"), max_digits=16, decimal_places=6, null=True, blank=True)
    uln = models.DecimalField(_("ULN"), max_digits=16, decimal_places=6, null=True, blank=True)

    class Meta:
        verbose_name = _("reference range")
        verbose_name_plural = _("reference ranges")
        ordering = ["site", "analyte", "sex", "age_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(age_to__isnull=True) | Q(age_to__gt=models.F("age_from")), name="age_band_not_empty"
            ),
            models.CheckConstraint(
                condition=Q(lln__isnull=True) | Q(uln__isnull=True) | Q(lln__lte=models.F("uln")),
                name="reference_lln_not_above_uln",
            ),
            models.UniqueConstraint(
                fields=["site", "laboratory", "analyte", "sex", "age_from", "age_to", "effective_from"],
                nulls_distinct=False,
                name="one_reference_range_per_band_and_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.analyte} {self.sex or '*'} {self.age_from}-{self.age_to or ''}"

    def clean(self) -> None:
        if self.analyte and self.unit and self.unit not in ANALYTES[self.analyte].factors:
            raise ValidationError({"unit": _("This unit is not allowed for this analyte.")})
        if self.laboratory_id is not None and self.site_id is not None and self.laboratory.site_id != self.site_id:
            raise ValidationError({"laboratory": _("This laboratory is not one of the site's.")})


class RangeSource(models.TextChoices):
    REPORT = "report", _("Lab report")
    SITE_TABLE = "site_table", _("Site reference range table")


class RangeFlag(models.TextChoices):
    """The derived reference-range flag (clinical.units.Flag), labelled for people (issue 25
    item 3: a derived flag is a code, shown in the reader's language)."""

    LOW = "L", _("Low (below LLN)")
    NORMAL = "N", _("Normal")
    HIGH = "H", _("High (above ULN)")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class LabResult(CrfInstance):
    """One analyte's result from one sample collection, as the lab reported it (value, unit,
    LLN/ULN), with the value and range converted to the analyte's standard unit by
    `clinical.units` and its L/N/H flag, derived on every save (labs/derive.py). A collection is
    entered as a panel on one page (labs/views.py); each analyte is one row, so grading, exports
    and the API see one result per row (CLINICAL_SPEC §1.3 "Lab-derived grades").

    Physiologically impossible values are refused here (`clean`); implausible ones raise a query
    (labs/checks.py)."""

    crf_code = "LB"
    crf_title = _("Laboratory results")
    casebook_order = 60
    clinical_date_field = "collected_on"

    collected_on = models.DateField(_("collection date"))
    collected_time = models.TimeField(_("collection time (site local)"), null=True, blank=True)
    panel = models.CharField(_("panel"), max_length=4, choices=LabPanel.choices)
    analyte = models.CharField(_("analyte"), max_length=20, choices=ANALYTE_CHOICES)
    value = models.DecimalField(_("result"), max_digits=18, decimal_places=6)
    unit = models.CharField(_("unit"), max_length=20, choices=UNIT_CHOICES)
    lln = models.DecimalField(_("LLN (as reported)"), max_digits=18, decimal_places=6, null=True, blank=True)
    uln = models.DecimalField(_("ULN (as reported)"), max_digits=18, decimal_places=6, null=True, blank=True)
    laboratory = models.ForeignKey(
        Laboratory,
        on_delete=models.PROTECT,
        related_name="results",
        null=True,
        blank=True,
        verbose_name=_("laboratory"),
        help_text=_("The laboratory that reported the result: its reference ranges apply."),
    )
    sex = models.CharField(
        _("sex (for the reference range)"),
        max_length=1,
        choices=Sex.choices,
        blank=True,
        help_text=_("As on the lab report; chooses the site's reference range when LLN/ULN are not given."),
    )
    # Derived by labs/derive.py with clinical.units.
    standard_value = models.DecimalField(
        _("result (standard unit)"), max_digits=24, decimal_places=10, null=True, editable=False
    )
    standard_unit = models.CharField(
        _("standard unit"), max_length=20, choices=UNIT_CHOICES, blank=True, editable=False
    )
    standard_lln = models.DecimalField(
        _("LLN (standard unit)"), max_digits=24, decimal_places=10, null=True, editable=False
    )
    standard_uln = models.DecimalField(
        _("ULN (standard unit)"), max_digits=24, decimal_places=10, null=True, editable=False
    )
    range_source = models.CharField(
        _("reference range from"), max_length=10, choices=RangeSource.choices, blank=True, editable=False
    )
    flag = models.CharField(_("flag"), max_length=1, choices=RangeFlag.choices, blank=True, editable=False)
    # CLINICAL_SPEC §3 "Lab-derived grades": the grade the system proposes (the AE records the
    # grade); 0 = not below the LLN; null = no lab-derived grade for the analyte, or the LLN is
    # needed to tell grade 1 from normal and none is known.
    ctcae_term = models.CharField(_("CTCAE term (lab-derived)"), max_length=60, blank=True, editable=False)
    ctcae_grade = models.PositiveSmallIntegerField(_("CTCAE grade (lab-derived)"), null=True, editable=False)

    class Meta:
        verbose_name = _("laboratory result")
        verbose_name_plural = _("laboratory results")
        ordering = ["subject", "collected_on", "collected_time", "panel", "pk"]
        indexes = [models.Index(fields=["subject", "analyte", "collected_on"])]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "collected_on", "collected_time", "analyte"],
                condition=Q(entered_in_error=False),
                nulls_distinct=False,
                name="one_result_per_analyte_and_collection",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.analyte} {self.collected_on}"

    def clean(self) -> None:
        """Refuse what cannot be a measurement (clinical.units limits), a unit the analyte is
        not reported in, an analyte outside the panel, and LLN above ULN."""
        errors: dict[str, Any] = {}
        entry = ANALYTES.get(self.analyte)
        if entry is None:
            return  # the choices validator reports it
        if self.panel and entry.panel.value != self.panel:
            errors["analyte"] = _("This analyte is not part of the chosen panel.")
        if self.unit not in entry.factors:
            errors["unit"] = _("%(unit)s is not a unit of %(analyte)s; use one of: %(units)s.") % {
                "unit": UNIT_LABELS.get(self.unit, self.unit),
                "analyte": ANALYTE_NAMES[entry.code],
                "units": ", ".join(UNIT_LABELS[u] for u in entry.units),
            }
        elif self.value is not None:
            standard = to_standard(self.value, analyte_code=entry.code, unit=self.unit)
            if plausibility(standard, analyte_code=entry.code) == Plausibility.IMPOSSIBLE:
                errors["value"] = impossible_message(entry)
        for name in ("lln", "uln"):
            limit = getattr(self, name)
            if limit is not None and limit < 0:
                errors[name] = _("A reference limit cannot be negative.")
        if self.lln is not None and self.uln is not None and self.lln > self.uln:
            errors["uln"] = _("ULN is below LLN.")
        if (
            self.laboratory_id is not None
            and self.subject_id is not None
            and self.laboratory.site_id != self.subject.site_id
        ):
            errors["laboratory"] = _("This laboratory is not one of the subject's site.")
        if errors:
            raise ValidationError(errors)

    @property
    def casebook_label(self) -> str:
        when = self.collected_on.isoformat()
        if self.collected_time is not None:
            when += self.collected_time.strftime(" %H:%M")
        return f"{self.get_panel_display()} {when}"

    @property
    def analyte_entry(self) -> Analyte:
        return ANALYTES[self.analyte]

    @property
    def value_shown(self) -> str:
        """The value as typed: 20.000000 → "20"."""
        return decimal_text(self.value)

    @property
    def analyte_name(self) -> str:
        return str(ANALYTE_NAMES[self.analyte])


def impossible_message(entry: Analyte) -> str:
    low = entry.impossible_low
    high = entry.impossible_high
    unit = UNIT_LABELS[entry.standard_unit]
    if high is None:
        return gettext("Not a possible value: %(analyte)s cannot be below %(low)s %(unit)s.") % {
            "analyte": ANALYTE_NAMES[entry.code],
            "low": low,
            "unit": unit,
        }
    return gettext("Not a possible value: %(analyte)s must be between %(low)s and %(high)s %(unit)s.") % {
        "analyte": ANALYTE_NAMES[entry.code],
        "low": low,
        "high": high,
        "unit": unit,
    }
