"""Cell-therapy toxicities beyond CRS and ICANS (CLINICAL_SPEC §4; issue 10 item 2): ICAHT derived
from the ANC results (§4.1), the IEC-HS form (§4.2), MAGIC acute GvHD staging (§4.3), infections
(§4.4, CTCAE term and grade per §3), and hospital and ICU stays.

The forms are CRFs on the CRF core (written through `crf.services.save` only, audited, never
hard-deleted). ICAHT is not typed: one row per subject, kept by
`adverse_events.services.icaht.rederive_icaht` from the lab results with its inputs and criteria
version, re-derived whenever an ANC result changes (audit reason "re-derived: …").
"""

from __future__ import annotations

from decimal import Decimal

import pghistory
import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from adverse_events.toxicity_rules import iec_hs_problems, infection_problems
from crf.models import CrfInstance

ZERO = Decimal("0")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class IcahtDerivation(models.Model):
    """A subject's early and late ICAHT (CLINICAL_SPEC §4.1), derived by clinical.icaht from the
    ANC lab results (standard unit ×10⁹/L) and stored with the inputs used and the criteria."""

    subject = models.OneToOneField(
        "subjects.Subject", on_delete=models.PROTECT, related_name="icaht", verbose_name=_("subject")
    )
    early_grade = models.PositiveSmallIntegerField(_("early ICAHT grade"), null=True)
    early_run_first_day = models.IntegerField(_("first day of the longest run ≤ 0.5 ×10⁹/L"), null=True)
    early_run_last_day = models.IntegerField(_("last day of the longest run ≤ 0.5 ×10⁹/L"), null=True)
    profound_run_first_day = models.IntegerField(_("first day of the longest run ≤ 0.1 ×10⁹/L"), null=True)
    profound_run_last_day = models.IntegerField(_("last day of the longest run ≤ 0.1 ×10⁹/L"), null=True)
    late_grade = models.PositiveSmallIntegerField(_("late ICAHT grade"), null=True)
    late_confirming_days = models.JSONField(_("study days of the confirming values"), null=True)
    relapse_day = models.IntegerField(_("relapse study day"), null=True)
    #: [{"result": id, "date": "YYYY-MM-DD", "day": n, "anc": "0.4"}] in ×10⁹/L
    inputs = models.JSONField(_("ANC values used"), default=list)
    criteria = models.CharField(_("criteria"), max_length=20)
    derived_at = models.DateTimeField(_("derived at"))
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("ICAHT")
        verbose_name_plural = _("ICAHT")
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} ICAHT early {self.early_grade} late {self.late_grade}"

    @property
    def early_run_days(self) -> int | None:
        if self.early_run_first_day is None or self.early_run_last_day is None:
            return None
        return self.early_run_last_day - self.early_run_first_day + 1

    @property
    def profound_run_days(self) -> int | None:
        if self.profound_run_first_day is None or self.profound_run_last_day is None:
            return None
        return self.profound_run_last_day - self.profound_run_first_day + 1


class YesNoNotDone(models.TextChoices):
    YES = "yes", _("Yes")
    NO = "no", _("No")
    NOT_DONE = "not_done", _("Not done")


class IecHsTreatment(models.TextChoices):
    ANAKINRA = "anakinra", _("Anakinra")
    CORTICOSTEROIDS = "corticosteroids", _("Corticosteroids")
    RUXOLITINIB = "ruxolitinib", _("Ruxolitinib")
    EMAPALUMAB = "emapalumab", _("Emapalumab")
    ETOPOSIDE = "etoposide", _("Etoposide")


def _peak(label: str, unit_help: str) -> models.DecimalField:  # type: ignore[type-arg]
    return models.DecimalField(
        label,
        max_digits=12,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO)],
        help_text=unit_help,
    )


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class IecHsAssessment(CrfInstance):
    """IEC-HS (HLH-like syndrome; ASTCT, Hines et al. 2023) as CLINICAL_SPEC §4.2 asks: present
    yes/no, onset, laboratory peaks and nadir, marrow haemophagocytosis, treatments, and the
    grade 1–5 as recorded by the investigator (not computed)."""

    crf_code = "IECHS"
    crf_title = _("IEC-HS")
    casebook_order = 57
    clinical_date_field = "assessment_date"

    assessment_date = models.DateField(_("assessment date"))
    present = models.BooleanField(_("IEC-HS present"))
    onset_date = models.DateField(_("onset date"), null=True, blank=True)
    ferritin_peak = _peak(_("ferritin peak (µg/L)"), _("Highest ferritin, µg/L (= ng/mL)."))
    fibrinogen_nadir = _peak(_("fibrinogen nadir (g/L)"), _("Lowest fibrinogen, g/L."))
    alt_peak = _peak(_("ALT peak (U/L)"), "")
    ast_peak = _peak(_("AST peak (U/L)"), "")
    bilirubin_peak = _peak(_("total bilirubin peak (µmol/L)"), _("17.1 µmol/L = 1 mg/dL."))
    marrow_haemophagocytosis = models.CharField(
        _("haemophagocytosis in the marrow"),
        max_length=8,
        choices=YesNoNotDone.choices,
        default=YesNoNotDone.NOT_DONE,
    )
    treatments = ArrayField(
        models.CharField(max_length=20, choices=IecHsTreatment.choices),
        verbose_name=_("treatments"),
        default=list,
        blank=True,
    )
    grade = models.PositiveSmallIntegerField(
        _("grade (investigator)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=_("ASTCT IEC-HS grade 1–5 as recorded by the investigator."),
    )
    study_day = models.IntegerField(_("study day"), null=True, editable=False)

    class Meta:
        verbose_name = _("IEC-HS assessment")
        verbose_name_plural = _("IEC-HS assessments")
        ordering = ["subject", "assessment_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.CheckConstraint(
                condition=Q(present=False) | (Q(grade__isnull=False) & Q(onset_date__isnull=False)),
                name="iechs_present_has_grade_and_onset",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} IEC-HS {self.assessment_date}"

    def clean(self) -> None:
        errors = iec_hs_problems(self)
        if errors:
            raise ValidationError(errors)


class BilirubinUnitChoice(models.TextChoices):
    MG_DL = "mg/dL", _("mg/dL")
    UMOL_L = "umol/L", _("µmol/L")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class GvhdStaging(CrfInstance):
    """One acute GvHD staging (MAGIC, CLINICAL_SPEC §4.3): organ inputs, and the organ stages and
    overall grade derived by clinical.gvhd with the protocol's child-weight setting, stored with
    the criteria and settings version."""

    crf_code = "GVHD"
    crf_title = _("Acute GvHD staging")
    casebook_order = 58
    clinical_date_field = "assessment_date"

    assessment_date = models.DateField(_("assessment date"))
    weight_kg = models.DecimalField(
        _("body weight (kg)"),
        max_digits=5,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("300"))],
        help_text=_("Chooses the adult or child column for stool output."),
    )
    skin_bsa_pct = models.DecimalField(
        _("skin: active erythema (% body surface area)"),
        max_digits=4,
        decimal_places=1,
        default=ZERO,
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("100"))],
    )
    skin_bullae = models.BooleanField(
        _("skin: generalized erythroderma with bullae or desquamation > 5%"), default=False
    )
    bilirubin = models.DecimalField(
        _("total bilirubin"),
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO)],
    )
    bilirubin_unit = models.CharField(
        _("bilirubin unit"), max_length=8, choices=BilirubinUnitChoice.choices, default=BilirubinUnitChoice.UMOL_L
    )
    upper_gi_persistent = models.BooleanField(_("upper GI: persistent nausea, vomiting or anorexia"), default=False)
    stool_ml_per_day = models.DecimalField(
        _("stool volume, 3-day average (mL/day)"),
        max_digits=7,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("20000"))],
        help_text=_("Used instead of the episodes when both are recorded."),
    )
    stool_episodes_per_day = models.DecimalField(
        _("stool episodes, 3-day average (per day)"),
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("100"))],
    )
    lower_gi_severe = models.BooleanField(
        _("lower GI: severe abdominal pain with or without ileus, or grossly bloody stool"), default=False
    )
    # Derived by adverse_events.toxicity_derive with clinical.gvhd.
    skin_stage = models.PositiveSmallIntegerField(_("skin stage"), null=True, editable=False)
    liver_stage = models.PositiveSmallIntegerField(_("liver stage"), null=True, editable=False)
    upper_gi_stage = models.PositiveSmallIntegerField(_("upper GI stage"), null=True, editable=False)
    lower_gi_stage = models.PositiveSmallIntegerField(_("lower GI stage"), null=True, editable=False)
    overall_grade = models.PositiveSmallIntegerField(_("MAGIC overall grade"), null=True, editable=False)
    bilirubin_mg_dl = models.DecimalField(
        _("bilirubin (mg/dL)"), max_digits=12, decimal_places=4, null=True, editable=False
    )
    child_column = models.BooleanField(_("child column used"), null=True, editable=False)
    criteria = models.CharField(_("criteria"), max_length=20, blank=True, editable=False)
    study_day = models.IntegerField(_("study day"), null=True, editable=False)
    settings_version = models.PositiveIntegerField(_("protocol settings version"), null=True, editable=False)

    class Meta:
        verbose_name = _("acute GvHD staging")
        verbose_name_plural = _("acute GvHD stagings")
        ordering = ["subject", "assessment_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} GvHD {self.assessment_date}"

    @property
    def overall_grade_roman(self) -> str:
        return "—" if self.overall_grade is None else ("0", "I", "II", "III", "IV")[self.overall_grade]


class InfectionSite(models.TextChoices):
    BLOOD = "blood", _("Bloodstream")
    LUNG = "lung", _("Lung / lower respiratory tract")
    UPPER_RESPIRATORY = "upper_respiratory", _("Upper respiratory tract")
    URINARY = "urinary", _("Urinary tract")
    GASTROINTESTINAL = "gastrointestinal", _("Gastrointestinal tract")
    SKIN = "skin", _("Skin and soft tissue")
    CATHETER = "catheter", _("Catheter / device")
    CNS = "cns", _("Central nervous system")
    DISSEMINATED = "disseminated", _("Disseminated")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Unknown")


class OrganismType(models.TextChoices):
    BACTERIAL = "bacterial", _("Bacterial")
    VIRAL = "viral", _("Viral")
    FUNGAL = "fungal", _("Fungal")
    OTHER = "other", _("Other")
    NOT_IDENTIFIED = "not_identified", _("Not identified")


class ViralReactivation(models.TextChoices):
    """CLINICAL_SPEC §4.4 viral reactivations."""

    NONE = "", _("Not a reactivation")
    CMV = "CMV", _("CMV")
    EBV = "EBV", _("EBV")
    HHV6 = "HHV-6", _("HHV-6")
    ADENOVIRUS = "adenovirus", _("Adenovirus")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Infection(CrfInstance):
    """One infection (CLINICAL_SPEC §4.4): organism, site, CTCAE v5.0 term and a grade that exists
    for the term (§3), viral reactivation where it is one."""

    crf_code = "INFECT"
    crf_title = _("Infection")
    casebook_order = 59
    clinical_date_field = "onset_date"

    onset_date = models.DateField(_("onset date"))
    resolution_date = models.DateField(_("resolution date"), null=True, blank=True)
    organism_type = models.CharField(_("organism type"), max_length=16, choices=OrganismType.choices)
    organism = models.CharField(
        _("organism"), max_length=200, blank=True, help_text=_("E.g. Klebsiella pneumoniae; blank if not identified.")
    )
    viral_reactivation = models.CharField(
        _("viral reactivation"), max_length=12, choices=ViralReactivation.choices, blank=True, default=""
    )
    infection_site = models.CharField(_("site of infection"), max_length=20, choices=InfectionSite.choices)
    ctcae_term = models.CharField(
        _("CTCAE term"),
        max_length=200,
        help_text=_("Type part of the term, its system organ class or its MedDRA code, then pick a term."),
    )
    verbatim = models.CharField(_("verbatim term"), max_length=200, blank=True)
    grade = models.PositiveSmallIntegerField(_("CTCAE grade"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    meddra_code = models.CharField(_("MedDRA code"), max_length=10, blank=True, editable=False)
    ctcae_version = models.CharField(_("CTCAE version"), max_length=10, blank=True, editable=False)
    onset_study_day = models.IntegerField(_("onset study day"), null=True, editable=False)

    class Meta:
        verbose_name = _("infection")
        verbose_name_plural = _("infections")
        ordering = ["subject", "onset_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolution_date__isnull=True) | Q(resolution_date__gte=models.F("onset_date")),
                name="infection_resolves_after_onset",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} infection {self.ctcae_term} G{self.grade}"

    def clean(self) -> None:
        errors = infection_problems(self)
        if errors:
            raise ValidationError(errors)


class StayKind(models.TextChoices):
    HOSPITAL = "hospital", _("Hospital admission")
    ICU = "icu", _("ICU stay")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class HospitalStay(CrfInstance):
    """A hospital admission or an ICU stay: dates and reason; discharge never before admission."""

    crf_code = "HOSP"
    crf_title = _("Hospital or ICU stay")
    casebook_order = 61
    clinical_date_field = "admission_date"

    kind = models.CharField(_("kind of stay"), max_length=10, choices=StayKind.choices)
    admission_date = models.DateField(_("admission date"))
    discharge_date = models.DateField(_("discharge date"), null=True, blank=True, help_text=_("Blank while admitted."))
    admission_reason = models.CharField(_("reason for the stay"), max_length=300)
    admission_study_day = models.IntegerField(_("admission study day"), null=True, editable=False)
    length_of_stay_days = models.PositiveIntegerField(_("length of stay (days)"), null=True, editable=False)

    class Meta:
        verbose_name = _("hospital or ICU stay")
        verbose_name_plural = _("hospital and ICU stays")
        ordering = ["subject", "admission_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.CheckConstraint(
                condition=Q(discharge_date__isnull=True) | Q(discharge_date__gte=models.F("admission_date")),
                name="stay_discharge_not_before_admission",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.kind} {self.admission_date}"

    def clean(self) -> None:
        if self.admission_date and self.discharge_date and self.discharge_date < self.admission_date:
            raise ValidationError({"discharge_date": _("The discharge date cannot be before the admission date.")})
