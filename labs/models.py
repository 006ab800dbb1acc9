"""Measurements used by several apps (DESIGN §3). Vital signs are the first form on the CRF core."""

from __future__ import annotations

from decimal import Decimal

import pghistory
import pgtrigger
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from crf.models import CrfInstance


class OxygenDevice(models.TextChoices):
    ROOM_AIR = "room_air", _("Room air")
    BLOW_BY = "blow_by", _("Blow-by")
    NASAL_CANNULA = "nasal_cannula", _("Nasal cannula")
    HIGH_FLOW_NASAL_CANNULA = "hfnc", _("High-flow nasal cannula")
    FACEMASK = "facemask", _("Facemask")
    NON_REBREATHER = "non_rebreather", _("Non-rebreather mask")
    VENTURI = "venturi", _("Venturi mask")
    CPAP = "cpap", _("CPAP")
    BIPAP = "bipap", _("BiPAP")
    MECHANICAL_VENTILATION = "mechanical", _("Intubation and mechanical ventilation")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class VitalSigns(CrfInstance):
    """One set of vital signs. Physiologically impossible values are refused by the validators;
    implausible ones raise queries (labs/checks.py). `hypotension` is derived with the protocol
    settings in force on the assessment date (CLINICAL_SPEC §1.2 h)."""

    crf_code = "VS"
    api_resource = "vital-signs"
    crf_title = _("Vital signs")
    clinical_date_field = "assessment_date"
    missing_allowed = ("temperature_c", "systolic_bp", "diastolic_bp", "heart_rate", "spo2")

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
    spo2 = models.PositiveSmallIntegerField(
        _("SpO2 (%)"), null=True, blank=True, validators=[MinValueValidator(40), MaxValueValidator(100)]
    )
    oxygen_device = models.CharField(
        _("oxygen device"), max_length=16, choices=OxygenDevice.choices, default=OxygenDevice.ROOM_AIR
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

    class Meta:
        verbose_name = _("vital signs")
        verbose_name_plural = _("vital signs")
        ordering = ["subject", "assessment_date", "assessment_time", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} VS {self.assessment_date}"
