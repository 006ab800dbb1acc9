"""Baseline forms (issue 5 item 1; DESIGN §3): demographics, performance status, medical and
disease history, prior therapy, cell collection and bridging therapy, each a CRF on the CRF
core. History dates may be partial (`crf.fields.PartialDateField`): stored as typed, imputed for
analysis to the first day of the known period and flagged (CLINICAL_SPEC §7); history forms are
exempt from the procedure-before-consent query (subjects.checks)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pghistory
import pgtrigger
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clinical.baseline import BSA_FORMULA, PerformanceScale, bsa_mosteller, scales_for_age, valid_score
from clinical.partial_dates import certainly_before
from clinical.schedule import age_in_completed_years
from crf.fields import PartialDateField, imputation_flag_field, impute_partial_dates, imputed_date_field, parsed
from crf.models import CrfInstance
from study.protocol import NoProtocolSettings, choices_in_force
from subjects.models.subject import IdentityRecord

STANDARD_OF_CARE_LABEL = _("history or standard-of-care result (not a protocol procedure)")
STANDARD_OF_CARE_HELP = _("Tick for values taken from the medical record before consent: no consent-date query.")


def subject_age_on(subject_id: int | None, on: date | None) -> tuple[int | None, str]:
    """The subject's age in completed years on `on`, and where it came from: the identity
    record's date of birth, else the latest demographics form's age. (None, "") when unknown."""
    if subject_id is None or on is None:
        return None, ""
    born = IdentityRecord.objects.filter(subject_id=subject_id).values_list("date_of_birth", flat=True).first()
    if born is not None:
        return age_in_completed_years(born, on), "dob"
    entered = (
        Demographics.objects.filter(subject_id=subject_id, entered_in_error=False, age_years__isnull=False)
        .order_by("-assessment_date", "-pk")
        .values_list("age_years", flat=True)
        .first()
    )
    return (entered, "demographics") if entered is not None else (None, "")


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class AgeSource(models.TextChoices):
    DOB = "dob", _("from the date of birth")
    ENTERED = "entered", _("entered")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Demographics(CrfInstance):
    """Age, sex, weight, height and the body surface area derived by Mosteller's formula
    (clinical.baseline). Age: left empty, it is derived from the identity record's date of birth
    on the assessment date; typed, it is kept and queried when it disagrees with the date of birth."""

    crf_code = "DM"
    crf_title = _("Demographics")
    casebook_order = 1
    clinical_date_field = "assessment_date"

    assessment_date = models.DateField(_("assessment date"))
    age_years = models.PositiveSmallIntegerField(
        _("age (years)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(120)],
        help_text=_("Leave empty to derive it from the date of birth on the identity record."),
    )
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    weight_kg = models.DecimalField(
        _("weight (kg)"),
        max_digits=5,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("300"))],
    )
    height_cm = models.DecimalField(
        _("height (cm)"),
        max_digits=4,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("30")), MaxValueValidator(Decimal("250"))],
    )
    standard_of_care = models.BooleanField(STANDARD_OF_CARE_LABEL, default=False, help_text=STANDARD_OF_CARE_HELP)
    # Derived (subjects.derive).
    age_source = models.CharField(_("age source"), max_length=8, choices=AgeSource.choices, blank=True, editable=False)
    bsa_m2 = models.DecimalField(_("body surface area (m²)"), max_digits=4, decimal_places=2, null=True, editable=False)
    bsa_formula = models.CharField(_("BSA formula"), max_length=30, blank=True, editable=False, default=BSA_FORMULA)

    class Meta:
        verbose_name = _("demographics")
        verbose_name_plural = _("demographics")
        ordering = ["subject", "assessment_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} DM {self.assessment_date}"

    def clean(self) -> None:
        """Derive the age from the date of birth when it is left empty (its source is "date of
        birth" whenever it agrees with it, so re-saving a derived age keeps the source) and the
        BSA by Mosteller (clinical.baseline)."""
        if self.assessment_date is None:
            return
        from_dob, source = subject_age_on(self.subject_id, self.assessment_date)
        if source != "dob":
            if self.age_years is None:
                raise ValidationError(
                    {"age_years": _("Enter the age: the identity record has no date of birth to derive it from.")}
                )
            self.age_source = AgeSource.ENTERED
        elif self.age_years is None or self.age_years == from_dob:
            self.age_years = from_dob
            self.age_source = AgeSource.DOB
        else:
            self.age_source = AgeSource.ENTERED  # kept, and queried (subjects.checks DM-AGE-DOB)
        if self.height_cm is not None and self.weight_kg is not None:
            self.bsa_m2 = bsa_mosteller(height_cm=self.height_cm, weight_kg=self.weight_kg)
            self.bsa_formula = BSA_FORMULA


class ScaleChoice(models.TextChoices):
    ECOG = PerformanceScale.ECOG.value, _("ECOG (0–5)")
    KARNOFSKY = PerformanceScale.KARNOFSKY.value, _("Karnofsky (0–100)")
    LANSKY = PerformanceScale.LANSKY.value, _("Lansky play-performance (0–100)")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class PerformanceStatus(CrfInstance):
    """ECOG, Karnofsky or Lansky, chosen by age on the assessment date (clinical.baseline): Lansky
    below the protocol's `lansky_below_age` (default 16), else ECOG (default) or Karnofsky. Left
    empty, the scale is the age's default; a scale that does not fit the age is refused."""

    crf_code = "PS"
    crf_title = _("Performance status")
    casebook_order = 2
    clinical_date_field = "assessment_date"

    assessment_date = models.DateField(_("assessment date"))
    scale = models.CharField(
        _("scale"),
        max_length=10,
        choices=ScaleChoice.choices,
        blank=True,
        help_text=_("Leave empty for the scale the subject's age calls for (Lansky for children)."),
    )
    score = models.PositiveSmallIntegerField(_("score"))
    standard_of_care = models.BooleanField(STANDARD_OF_CARE_LABEL, default=False, help_text=STANDARD_OF_CARE_HELP)
    # Derived with the protocol settings in force on the assessment date.
    age_years = models.PositiveSmallIntegerField(_("age on the assessment date (years)"), null=True, editable=False)
    settings_version = models.PositiveIntegerField(_("protocol settings version"), null=True, editable=False)

    class Meta:
        verbose_name = _("performance status")
        verbose_name_plural = _("performance status")
        ordering = ["subject", "assessment_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} PS {self.assessment_date}"

    def clean(self) -> None:
        if self.assessment_date is None or self.subject_id is None:
            return
        age, _source = subject_age_on(self.subject_id, self.assessment_date)
        if age is None:
            raise ValidationError(
                {"scale": _("The subject's age is unknown: record the date of birth or the demographics form first.")}
            )
        try:
            row, choices = choices_in_force(self.subject.site.study_id, self.assessment_date)
        except NoProtocolSettings as exc:
            raise ValidationError({"assessment_date": str(exc)}) from exc
        allowed = scales_for_age(age, lansky_below_age=choices.lansky_below_age)
        if not self.scale:
            self.scale = allowed[0].value
        elif PerformanceScale(self.scale) not in allowed:
            raise ValidationError(
                {
                    "scale": _("At %(age)s years the protocol uses %(scales)s (Lansky below %(limit)s years).")
                    % {
                        "age": age,
                        "scales": " / ".join(str(ScaleChoice(s.value).label) for s in allowed),
                        "limit": choices.lansky_below_age,
                    }
                }
            )
        if self.score is not None and not valid_score(PerformanceScale(self.scale), self.score):
            raise ValidationError(
                {"score": _("ECOG scores are 0 to 5; Karnofsky and Lansky scores 0 to 100 in steps of 10.")}
            )
        self.age_years = age
        self.settings_version = row.version


def _partial_order(
    errors: dict[str, object], start: str, end: str, *, form: models.Model, message: object = None
) -> None:
    """Refuse `end` when it is certainly before `start` (every date either may stand for)."""
    first = parsed(getattr(form, start))
    last = parsed(getattr(form, end))
    if first is not None and last is not None and certainly_before(last, first):
        errors[end] = message or _("The end date cannot be before the start date.")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class MedicalHistory(CrfInstance):
    """One past or ongoing condition other than the leukaemia/lymphoma (history: exempt from the
    consent-date query). Dates may be partial."""

    crf_code = "MH"
    crf_title = _("Medical history")
    casebook_order = 3
    clinical_date_field = "onset_date_imputed"

    condition = models.CharField(_("condition (verbatim)"), max_length=200)
    onset_date = PartialDateField(_("onset date"), blank=True)
    ongoing = models.BooleanField(_("ongoing"), default=False)
    end_date = PartialDateField(_("end date"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    onset_date_imputed = imputed_date_field(_("onset date for analysis"))
    onset_date_imputation = imputation_flag_field(_("onset date imputation"))
    end_date_imputed = imputed_date_field(_("end date for analysis"))
    end_date_imputation = imputation_flag_field(_("end date imputation"))

    class Meta:
        verbose_name = _("medical history")
        verbose_name_plural = _("medical history")
        ordering = ["subject", "onset_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} MH {self.condition}"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.ongoing and self.end_date:
            errors["ongoing"] = _("An ongoing condition has no end date: clear one of them.")
        _partial_order(errors, "onset_date", "end_date", form=self)
        impute_partial_dates(self, "onset_date", "end_date")
        if errors:
            raise ValidationError(errors)


class Diagnosis(models.TextChoices):
    T_ALL = "t_all", _("T-ALL")
    T_LBL = "t_lbl", _("T-LBL")
    ETP_ALL = "etp_all", _("ETP-ALL")
    OTHER = "other", _("Other")


class DiseaseStatus(models.TextChoices):
    RELAPSED = "relapsed", _("Relapsed")
    REFRACTORY = "refractory", _("Refractory")


class CnsStatus(models.TextChoices):
    CNS1 = "CNS1", _("CNS1 (no blasts in CSF)")
    CNS2 = "CNS2", _("CNS2 (< 5 WBC/µL with blasts)")
    CNS3 = "CNS3", _("CNS3 (≥ 5 WBC/µL with blasts, or cranial nerve palsy)")
    UNKNOWN = "unknown", _("Unknown")


class HsctDonor(models.TextChoices):
    MATCHED_SIBLING = "matched_sibling", _("Matched sibling")
    MATCHED_UNRELATED = "matched_unrelated", _("Matched unrelated")
    MISMATCHED_UNRELATED = "mismatched_unrelated", _("Mismatched unrelated")
    HAPLOIDENTICAL = "haploidentical", _("Haploidentical")
    CORD_BLOOD = "cord_blood", _("Cord blood")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class DiseaseHistory(CrfInstance):
    """The disease under study (CLINICAL_SPEC §4.4: blast CD7 expression at screening): diagnosis
    and its (possibly partial) date, immunophenotype, cytogenetics and molecular markers,
    relapsed or refractory, prior lines, CNS status, and any prior allogeneic HSCT with its donor
    and GvHD history (CLINICAL_SPEC §4.3). History: exempt from the consent-date query."""

    crf_code = "DH"
    crf_title = _("Disease history")
    casebook_order = 4
    clinical_date_field = "diagnosis_date_imputed"

    diagnosis = models.CharField(_("diagnosis"), max_length=10, choices=Diagnosis.choices)
    diagnosis_other = models.CharField(_("other diagnosis"), max_length=200, blank=True)
    diagnosis_date = PartialDateField(_("diagnosis date"))
    blast_cd7_pct = models.DecimalField(
        _("blast CD7 expression (%)"),
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    immunophenotype = models.TextField(_("immunophenotype"), blank=True)
    cytogenetics = models.TextField(_("cytogenetics (karyotype, FISH)"), blank=True)
    molecular_markers = models.TextField(_("molecular markers"), blank=True)
    disease_status = models.CharField(_("relapsed or refractory"), max_length=10, choices=DiseaseStatus.choices)
    prior_lines = models.PositiveSmallIntegerField(_("prior lines of therapy"), validators=[MaxValueValidator(20)])
    cns_status = models.CharField(_("CNS status"), max_length=8, choices=CnsStatus.choices)
    prior_hsct = models.BooleanField(_("prior allogeneic HSCT"), default=False)
    hsct_date = PartialDateField(_("HSCT date"), blank=True)
    hsct_donor = models.CharField(_("HSCT donor"), max_length=20, choices=HsctDonor.choices, blank=True)
    prior_gvhd = models.BooleanField(_("GvHD after the HSCT"), null=True, blank=True)
    gvhd_history = models.TextField(_("GvHD history (type, maximum grade, treatment)"), blank=True)
    missing_allowed = ("blast_cd7_pct",)
    diagnosis_date_imputed = imputed_date_field(_("diagnosis date for analysis"))
    diagnosis_date_imputation = imputation_flag_field(_("diagnosis date imputation"))
    hsct_date_imputed = imputed_date_field(_("HSCT date for analysis"))
    hsct_date_imputation = imputation_flag_field(_("HSCT date imputation"))

    class Meta:
        verbose_name = _("disease history")
        verbose_name_plural = _("disease history")
        ordering = ["subject", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} DH {self.get_diagnosis_display()} {self.diagnosis_date}"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.diagnosis == Diagnosis.OTHER and not self.diagnosis_other.strip():
            errors["diagnosis_other"] = _("Name the other diagnosis.")
        if self.diagnosis != Diagnosis.OTHER and self.diagnosis_other.strip():
            errors["diagnosis_other"] = _("Only for a diagnosis of “Other”.")
        if self.prior_hsct:
            if not self.hsct_date:
                errors["hsct_date"] = _("Give the date of the prior HSCT.")
            if not self.hsct_donor:
                errors["hsct_donor"] = _("Give the donor of the prior HSCT.")
            if self.prior_gvhd is None:
                errors["prior_gvhd"] = _("Say whether GvHD occurred after the HSCT.")
        elif self.hsct_date or self.hsct_donor or self.prior_gvhd is not None or self.gvhd_history.strip():
            errors["prior_hsct"] = _("HSCT details are given: tick prior allogeneic HSCT, or clear them.")
        if self.prior_gvhd is False and self.gvhd_history.strip():
            errors["gvhd_history"] = _("No GvHD was recorded: clear the GvHD history, or answer yes.")
        impute_partial_dates(self, "diagnosis_date", "hsct_date")
        if "hsct_date" not in errors:
            _partial_order(
                errors, "diagnosis_date", "hsct_date", form=self, message=_("The HSCT cannot be before the diagnosis.")
            )
        if errors:
            raise ValidationError(errors)


class TherapyType(models.TextChoices):
    CHEMOTHERAPY = "chemotherapy", _("Chemotherapy")
    TARGETED = "targeted", _("Targeted therapy")
    IMMUNOTHERAPY = "immunotherapy", _("Immunotherapy (antibody, cell therapy)")
    RADIOTHERAPY = "radiotherapy", _("Radiotherapy")
    HSCT = "hsct", _("Haematopoietic stem cell transplantation")
    OTHER = "other", _("Other")


class PriorResponse(models.TextChoices):
    CR = "CR", _("CR")
    CRI = "CRi", _("CRi")
    PR = "PR", _("PR")
    NR = "NR", _("NR")
    PD = "PD", _("PD")
    UNKNOWN = "UNK", _("Unknown")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class PriorTherapy(CrfInstance):
    """One line of anti-leukaemic therapy before the study (history: exempt from the consent-date
    query). Dates may be partial; an end certainly before the start is refused."""

    crf_code = "PT"
    crf_title = _("Prior therapy")
    casebook_order = 5
    clinical_date_field = "start_date_imputed"

    line_number = models.PositiveSmallIntegerField(
        _("line of therapy"), validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    therapy_type = models.CharField(_("type"), max_length=15, choices=TherapyType.choices)
    regimen = models.CharField(_("regimen (verbatim)"), max_length=200)
    start_date = PartialDateField(_("start date"))
    end_date = PartialDateField(_("end date"), blank=True)
    best_response = models.CharField(_("best response"), max_length=3, choices=PriorResponse.choices)
    start_date_imputed = imputed_date_field(_("start date for analysis"))
    start_date_imputation = imputation_flag_field(_("start date imputation"))
    end_date_imputed = imputed_date_field(_("end date for analysis"))
    end_date_imputation = imputation_flag_field(_("end date imputation"))

    class Meta:
        verbose_name = _("prior therapy")
        verbose_name_plural = _("prior therapies")
        ordering = ["subject", "line_number", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} PT {self.line_number} {self.regimen}"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        _partial_order(errors, "start_date", "end_date", form=self)
        impute_partial_dates(self, "start_date", "end_date")
        if errors:
            raise ValidationError(errors)


class CollectionSource(models.TextChoices):
    AUTOLOGOUS = "autologous", _("Autologous (the subject)")
    DONOR = "donor", _("Donor")


class DonorOrigin(models.TextChoices):
    PRIOR_HSCT_DONOR = "prior_hsct", _("The prior HSCT donor")
    NEW_DONOR = "new", _("A new donor")


class DonorRelation(models.TextChoices):
    MATCHED_SIBLING = "matched_sibling", _("Matched sibling")
    UNRELATED = "unrelated", _("Unrelated")
    HAPLOIDENTICAL = "haploidentical", _("Haploidentical")


HLA_MATCH = RegexValidator(
    r"^\d{1,2}/\d{1,2}$", _("Give the HLA match as matched/typed loci, e.g. 10/10 or 5/10."), code="hla"
)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class CellCollection(CrfInstance):
    """Apheresis of the subject or collection from a donor for manufacturing (CLINICAL_SPEC §7,
    §4.3 donor items). A protocol procedure: dated before consent, it is queried."""

    crf_code = "CC"
    crf_title = _("Cell collection")
    casebook_order = 6
    clinical_date_field = "collection_date"

    collection_date = models.DateField(_("apheresis / collection date"))
    source = models.CharField(_("source"), max_length=10, choices=CollectionSource.choices)
    donor_origin = models.CharField(_("donor"), max_length=10, choices=DonorOrigin.choices, blank=True)
    donor_relation = models.CharField(_("donor type"), max_length=16, choices=DonorRelation.choices, blank=True)
    hla_match = models.CharField(_("HLA match"), max_length=5, blank=True, validators=[HLA_MATCH])
    cd3_cells_e8 = models.DecimalField(
        _("CD3+ cells collected (×10⁸)"),
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    missing_allowed = ("cd3_cells_e8",)

    class Meta:
        verbose_name = _("cell collection")
        verbose_name_plural = _("cell collections")
        ordering = ["subject", "collection_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.CheckConstraint(
                condition=Q(source="autologous", donor_origin="", donor_relation="", hla_match="")
                | Q(source="donor") & ~Q(donor_origin="") & ~Q(donor_relation="") & ~Q(hla_match=""),
                name="donor_items_only_and_all_for_donor_collections",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} CC {self.collection_date}"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.source == CollectionSource.DONOR:
            for name, message in (
                ("donor_origin", _("Say whether the donor is the prior HSCT donor or a new donor.")),
                ("donor_relation", _("Give the donor type.")),
                ("hla_match", _("Give the HLA match.")),
            ):
                if not getattr(self, name):
                    errors[name] = message
        elif self.source == CollectionSource.AUTOLOGOUS:
            for name in ("donor_origin", "donor_relation", "hla_match"):
                if getattr(self, name):
                    errors[name] = _("Only for a donor collection.")
        if self.hla_match and "hla_match" not in errors and HLA_MATCH.regex.match(self.hla_match):
            matched, typed = (int(n) for n in self.hla_match.split("/"))
            if matched > typed or typed == 0:
                errors["hla_match"] = _("The matched loci cannot exceed the loci typed.")
        if errors:
            raise ValidationError(errors)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class BridgingTherapy(CrfInstance):
    """Therapy between collection and lymphodepletion to control the disease (CLINICAL_SPEC §7).
    A protocol procedure: dated before consent, it is queried."""

    crf_code = "BR"
    crf_title = _("Bridging therapy")
    casebook_order = 7
    clinical_date_field = "start_date"

    regimen = models.CharField(_("regimen (verbatim)"), max_length=200)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    ongoing = models.BooleanField(_("ongoing"), default=False)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("bridging therapy")
        verbose_name_plural = _("bridging therapies")
        ordering = ["subject", "start_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="bridging_end_not_before_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} BR {self.regimen} {self.start_date}"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.start_date and self.end_date and self.end_date < self.start_date:
            errors["end_date"] = _("The end date cannot be before the start date.")
        if self.ongoing and self.end_date is not None:
            errors["ongoing"] = _("A therapy with an end date is not ongoing: clear one of them.")
        if errors:
            raise ValidationError(errors)
