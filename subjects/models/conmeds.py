"""Concomitant medications (issue 5 item 2, CLINICAL_SPEC §1.2 b): one medication course per
form. The category is the coordinator's choice, pre-filled from the ATC code when one is given
(`clinical.conmeds.category_for_atc`, on the page and again here when the category is left
empty), never inferred from the verbatim name. CRS fever masking reads `category` and
`start_date` (CLINICAL_SPEC §1.2 b)."""

from __future__ import annotations

from decimal import Decimal

import pghistory
import pgtrigger
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clinical.conmeds import MedicationCategory, category_for_atc, is_valid_atc, normalise_atc
from crf.models import CrfInstance


class ConmedCategory(models.TextChoices):
    """Values are `clinical.conmeds.MedicationCategory`'s (a test keeps them equal)."""

    ANTIPYRETIC = MedicationCategory.ANTIPYRETIC.value, _("Antipyretic (paracetamol, NSAID)")
    TOCILIZUMAB = MedicationCategory.TOCILIZUMAB.value, _("Tocilizumab")
    CORTICOSTEROID = MedicationCategory.CORTICOSTEROID.value, _("Corticosteroid")
    ANAKINRA = MedicationCategory.ANAKINRA.value, _("Anakinra")
    VASOPRESSOR = MedicationCategory.VASOPRESSOR.value, _("Vasopressor")
    ANTIMICROBIAL = MedicationCategory.ANTIMICROBIAL.value, _("Antimicrobial")
    GCSF = MedicationCategory.GCSF.value, _("G-CSF")
    TRANSFUSION = MedicationCategory.TRANSFUSION.value, _("Transfusion")
    OTHER = MedicationCategory.OTHER.value, _("Other")


class DoseUnit(models.TextChoices):
    MG = "mg", "mg"
    UG = "ug", "µg"
    G = "g", "g"
    MG_KG = "mg/kg", "mg/kg"
    MG_M2 = "mg/m2", "mg/m²"
    UG_KG = "ug/kg", "µg/kg"
    UG_KG_MIN = "ug/kg/min", "µg/kg/min"
    IU = "IU", "IU"
    ML = "mL", "mL"
    UNIT = "unit", _("unit(s) / bag(s)")


class Route(models.TextChoices):
    ORAL = "oral", _("Oral")
    IV = "iv", _("Intravenous")
    SC = "sc", _("Subcutaneous")
    IM = "im", _("Intramuscular")
    INHALED = "inhaled", _("Inhaled")
    TOPICAL = "topical", _("Topical")
    RECTAL = "rectal", _("Rectal")
    INTRATHECAL = "intrathecal", _("Intrathecal")
    OTHER = "other", _("Other")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ConcomitantMedication(CrfInstance):
    """One medication course: verbatim name, optional ATC code, dose, route, start and stop,
    indication and the category (CLINICAL_SPEC §1.2 b). Corticosteroids carry their
    dexamethasone-equivalent dose, so steroid exposure is comparable across agents."""

    crf_code = "CM"
    crf_title = _("Concomitant medication")
    casebook_order = 900  # a log form: after the visit-bound forms
    clinical_date_field = "start_date"

    medication_name = models.CharField(
        _("medication (verbatim)"), max_length=200, help_text=_("As written in the source, e.g. the brand name.")
    )
    atc_code = models.CharField(
        _("ATC code"),
        max_length=7,
        blank=True,
        help_text=_("Optional WHO ATC code (e.g. N02BE01). It pre-fills the category, which you may change."),
    )
    category = models.CharField(
        _("category"),
        max_length=16,
        choices=ConmedCategory.choices,
        blank=True,
        help_text=_("Decides CRS fever masking: antipyretics, tocilizumab and corticosteroids."),
    )
    dexamethasone_equivalent_mg = models.DecimalField(
        _("dexamethasone-equivalent dose (mg/day)"),
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("Corticosteroids only, e.g. methylprednisolone 40 mg = dexamethasone 7.5 mg."),
    )

    dose = models.DecimalField(
        _("dose"),
        max_digits=10,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.001"))],
    )
    dose_unit = models.CharField(_("dose unit"), max_length=10, choices=DoseUnit.choices, blank=True)
    route = models.CharField(_("route"), max_length=12, choices=Route.choices, blank=True)
    start_date = models.DateField(_("start date"))
    stop_date = models.DateField(_("stop date"), null=True, blank=True)
    ongoing = models.BooleanField(_("ongoing"), default=False)
    indication = models.CharField(_("indication"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("concomitant medication")
        verbose_name_plural = _("concomitant medications")
        ordering = ["subject", "start_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.CheckConstraint(
                condition=Q(stop_date__isnull=True) | Q(stop_date__gte=models.F("start_date")),
                name="conmed_stop_not_before_start",
            ),
            models.CheckConstraint(condition=~Q(category=""), name="conmed_has_category"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} CM {self.medication_name} {self.start_date}"

    def clean(self) -> None:
        """Normalise the ATC code and, when the category was left empty, take the one it
        suggests; refuse a stop before the start and a dexamethasone equivalent that does not
        fit the category."""
        errors: dict[str, object] = {}
        self.atc_code = normalise_atc(self.atc_code or "")
        if self.atc_code and not is_valid_atc(self.atc_code):
            errors["atc_code"] = _(
                "Not an ATC code: a letter, two digits, two letters and two digits (e.g. N02BE01), "
                "or the first levels of one (e.g. H02AB)."
            )
        if not self.category and self.atc_code:
            suggested = category_for_atc(self.atc_code)
            if suggested is not None:
                self.category = suggested.value
        if not self.category:
            errors["category"] = _("Choose the category.")
        if self.start_date and self.stop_date and self.stop_date < self.start_date:
            errors["stop_date"] = _("The stop date cannot be before the start date.")
        if self.ongoing and self.stop_date is not None:
            errors["ongoing"] = _("A medication with a stop date is not ongoing: clear one of them.")
        if not self.ongoing and self.stop_date is None:
            errors["stop_date"] = _("Give the stop date, or tick ongoing.")
        if self.dose is not None and not self.dose_unit:
            errors["dose_unit"] = _("Give the unit of the dose.")
        if self.category == ConmedCategory.CORTICOSTEROID and self.dexamethasone_equivalent_mg is None:
            errors["dexamethasone_equivalent_mg"] = _("Give the dexamethasone-equivalent dose of the corticosteroid.")
        if (
            self.category
            and self.category != ConmedCategory.CORTICOSTEROID
            and self.dexamethasone_equivalent_mg is not None
        ):
            errors["dexamethasone_equivalent_mg"] = _("Only a corticosteroid has a dexamethasone-equivalent dose.")
        if errors:
            raise ValidationError(errors)

    @property
    def suggested_category(self) -> str | None:
        """The category the ATC code suggests, or None."""
        found = category_for_atc(self.atc_code or "")
        return None if found is None else found.value
