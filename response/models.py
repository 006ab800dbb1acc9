"""Marrow and disease assessments, MRD tests and relapses (DESIGN §3 response/; CLINICAL_SPEC §5).

The response of each assessment is derived by `clinical.response` inside the save path
(response.derive) and stored with its inputs, the criteria version and the protocol settings
version; an investigator may adjudicate it (response.services.adjudicate_response), which is
stored beside the derived one with who, when and why.
"""

from __future__ import annotations

from decimal import Decimal

import pghistory
import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from crf.models import CrfInstance

PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


class CnsStatus(models.TextChoices):
    CNS1 = "CNS1", _("CNS1 (no blasts in CSF)")
    CNS2 = "CNS2", _("CNS2 (blasts in CSF, WBC < 5/µL)")
    CNS3 = "CNS3", _("CNS3 (blasts in CSF, WBC ≥ 5/µL, or CNS signs)")


class ResponseCategory(models.TextChoices):
    CR = "CR", _("CR")
    CRI = "CRi", _("CRi")
    PR = "PR", _("PR")
    NR = "NR", _("NR")
    PD = "PD", _("PD")
    RELAPSE = "relapse", _("Relapse")


class MrdResult(models.TextChoices):
    NEGATIVE = "negative", _("MRD negative")
    POSITIVE = "positive", _("MRD positive")
    NOT_EVALUABLE = "not_evaluable", _("MRD not evaluable")


class EmdResult(models.TextChoices):
    NOT_APPLICABLE = "not_applicable", _("No extramedullary disease")
    CR = "CR", _("CR")
    PR = "PR", _("PR")
    SD = "SD", _("Stable disease")
    PD = "PD", _("PD")


#: clinical.response boundary rules, as people read them (CLINICAL_SPEC §5.1).
BOUNDARY_RULES = {
    "relapse threshold / CR blasts": _("relapse threshold / CR marrow blasts"),
    "PR blasts 5–25%": _("PR: marrow blasts 5–25%"),
    "ANC recovered": _("CR: ANC recovered"),
    "platelets recovered": _("CR: platelets recovered"),
    "≥ 50% fall from baseline": _("PR: fall from baseline ≥ 50%"),
    "≥ 25% rise from baseline": _("PD: rise from baseline ≥ 25%"),
}


def boundary_display(boundary: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    shown = []
    for b in boundary:
        label = str(MarrowAssessment._meta.get_field(b["field"]).verbose_name)
        shown.append((label, b["value"], str(BOUNDARY_RULES.get(b["rule"], b["rule"]))))
    return shown


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class MarrowAssessment(CrfInstance):
    """One marrow and disease assessment (CLINICAL_SPEC §5.1, §4.4). ANC and platelets are
    entered here (the lab forms come later). An assessment dated before the first
    lymphodepletion is a baseline candidate; the last one is the baseline (§5.1)."""

    crf_code = "MA"
    crf_title = _("Marrow and disease assessment")
    casebook_order = 40
    clinical_date_field = "assessment_date"
    missing_allowed = ("cellularity_pct", "blast_cd7_pct")

    assessment_date = models.DateField(_("assessment date"))
    marrow_blasts_pct = models.DecimalField(_("marrow blasts (%)"), max_digits=5, decimal_places=2, validators=PERCENT)
    cellularity_pct = models.DecimalField(
        _("marrow cellularity (%)"), max_digits=5, decimal_places=1, null=True, blank=True, validators=PERCENT
    )
    peripheral_blasts_pct = models.DecimalField(
        _("peripheral blood blasts (%)"), max_digits=5, decimal_places=2, validators=PERCENT
    )
    anc = models.DecimalField(
        _("ANC (×10⁹/L)"),
        max_digits=6,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("500"))],
    )
    platelets = models.DecimalField(
        _("platelets (×10⁹/L)"),
        max_digits=6,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("3000"))],
    )
    transfused_previous_7_days = models.BooleanField(
        _("transfusion (red cells or platelets) in the previous 7 days"), default=False
    )
    blast_cd7_pct = models.DecimalField(
        _("blasts expressing CD7 (%)"), max_digits=5, decimal_places=1, null=True, blank=True, validators=PERCENT
    )
    cns_status = models.CharField(_("CSF / CNS status"), max_length=4, choices=CnsStatus.choices, default="CNS1")
    extramedullary_disease = models.BooleanField(
        _("active extramedullary disease (outside the CNS)"),
        default=False,
        help_text=_("As assessed by the investigator; a PET-negative residual mass is not active disease."),
    )
    pet_ct_done = models.BooleanField(_("PET-CT done"), default=False)
    deauville = models.PositiveSmallIntegerField(
        _("Deauville score"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    new_lesion = models.BooleanField(_("new extramedullary lesion"), default=False)
    spd_change_from_baseline_pct = models.DecimalField(
        _("sum of product diameters: change from baseline (%)"),
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("-100")), MaxValueValidator(Decimal("10000"))],
    )
    spd_change_from_nadir_pct = models.DecimalField(
        _("sum of product diameters: change from nadir (%)"),
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("-100")), MaxValueValidator(Decimal("10000"))],
    )

    # Derived (response.derive) with the protocol settings in force on assessment_date.
    is_baseline = models.BooleanField(_("baseline assessment (before lymphodepletion)"), null=True, editable=False)
    marrow_response = models.CharField(
        _("marrow compartment"), max_length=8, choices=ResponseCategory.choices, blank=True, editable=False
    )
    emd_response = models.CharField(
        _("extramedullary compartment"), max_length=16, choices=EmdResult.choices, blank=True, editable=False
    )
    mrd_status = models.CharField(_("MRD"), max_length=16, choices=MrdResult.choices, blank=True, editable=False)
    response = models.CharField(
        _("derived response"), max_length=8, choices=ResponseCategory.choices, blank=True, editable=False
    )
    response_label = models.CharField(_("derived response with MRD"), max_length=40, blank=True, editable=False)
    boundary = models.JSONField(_("values exactly at a threshold"), default=list, blank=True, editable=False)
    needs_adjudication = models.BooleanField(_("awaiting investigator adjudication"), default=False, editable=False)
    derivation_inputs = models.JSONField(_("derivation inputs"), default=dict, blank=True, editable=False)
    criteria_version = models.CharField(_("criteria version"), max_length=30, blank=True, editable=False)
    settings_version = models.PositiveIntegerField(_("protocol settings version"), null=True, editable=False)
    # Adjudicated by an investigator (response.services.adjudicate_response), beside the derived one.
    adjudicated_response = models.CharField(
        _("adjudicated response"), max_length=8, choices=ResponseCategory.choices, blank=True, editable=False
    )
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    adjudicated_at = models.DateTimeField(_("adjudicated at"), null=True, blank=True, editable=False)
    adjudication_reason = models.CharField(_("adjudication reason"), max_length=500, blank=True, editable=False)

    class Meta:
        verbose_name = _("marrow and disease assessment")
        verbose_name_plural = _("marrow and disease assessments")
        ordering = ["subject", "assessment_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} MA {self.assessment_date}"

    @property
    def boundary_display(self) -> list[tuple[str, str, str]]:
        """(field label, value, rule) of each value exactly at a threshold, in the page's language."""
        return boundary_display(self.boundary or [])

    @property
    def final_response(self) -> str:
        """The response endpoints use: the adjudicated one when present (DESIGN §4)."""
        return self.adjudicated_response or self.response

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.deauville is not None and not self.pet_ct_done:
            errors["deauville"] = _("A Deauville score needs a PET-CT: tick “PET-CT done”.")
        if errors:
            raise ValidationError(errors)


class MrdMethod(models.TextChoices):
    FLOW = "flow", _("Flow cytometry")
    TCR_PCR = "tcr_pcr", _("RQ-PCR of TCR rearrangement")
    NGS = "ngs", _("NGS")
    FUSION_PCR = "fusion_pcr", _("Fusion-transcript PCR")


class Specimen(models.TextChoices):
    MARROW = "marrow", _("Bone marrow")
    BLOOD = "blood", _("Peripheral blood")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class MrdTest(CrfInstance):
    """One MRD test of a marrow assessment (CLINICAL_SPEC §5.2, §4.4). Sensitivity is the
    assay's limit of detection as a fraction of cells (1E-4 = 0.01%)."""

    crf_code = "MRD"
    crf_title = _("MRD test")
    casebook_order = 41
    clinical_date_field = "sample_date"

    assessment = models.ForeignKey(
        MarrowAssessment, on_delete=models.PROTECT, related_name="mrd_tests", verbose_name=_("marrow assessment")
    )
    sample_date = models.DateField(_("sample date"))
    method = models.CharField(_("method"), max_length=12, choices=MrdMethod.choices)
    specimen = models.CharField(_("specimen"), max_length=8, choices=Specimen.choices, default=Specimen.MARROW)
    detected = models.BooleanField(_("MRD detected"), default=False)
    level_pct = models.DecimalField(
        _("MRD level (%)"), max_digits=9, decimal_places=6, null=True, blank=True, validators=PERCENT
    )
    sensitivity = models.DecimalField(
        _("assay sensitivity (limit of detection, fraction)"),
        max_digits=12,
        decimal_places=10,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("1E-10")), MaxValueValidator(Decimal("1"))],
        help_text=_("As a fraction of cells: 1E-4 is 0.01%, 1E-5 is 0.001%."),
    )
    cells_analysed = models.PositiveBigIntegerField(_("cells analysed"), null=True, blank=True)
    cd7_independent_gating = models.BooleanField(_("CD7-independent gating"), null=True, blank=True)
    # Derived (response.derive).
    status = models.CharField(_("MRD status"), max_length=16, choices=MrdResult.choices, blank=True, editable=False)
    settings_version = models.PositiveIntegerField(_("protocol settings version"), null=True, editable=False)

    class Meta:
        verbose_name = _("MRD test")
        verbose_name_plural = _("MRD tests")
        ordering = ["subject", "sample_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} MRD {self.method} {self.sample_date}"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        same = self.assessment_id is None or self.subject_id is None or self.assessment.subject_id == self.subject_id
        if not same:
            errors["assessment"] = _("Choose a marrow assessment of this subject.")
        if self.detected and self.level_pct is None:
            errors["level_pct"] = _("Give the level of the MRD detected.")
        if not self.detected and self.level_pct:
            errors["level_pct"] = _("A level above zero means MRD was detected: tick “MRD detected”.")
        if self.method == MrdMethod.FLOW and self.cells_analysed is None:
            errors["cells_analysed"] = _("Flow MRD needs the number of cells analysed.")
        if self.method == MrdMethod.FLOW and self.cd7_independent_gating is None:
            errors["cd7_independent_gating"] = _("Say whether the gating was CD7-independent.")
        if errors:
            raise ValidationError(errors)


class Cd7Status(models.TextChoices):
    POSITIVE = "positive", _("CD7-positive")
    DIM = "dim", _("CD7-dim (partial)")
    NEGATIVE = "negative", _("CD7-negative")
    UNKNOWN = "unknown", _("Not tested")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Relapse(CrfInstance):
    """Relapse or progression after CAR-T (CLINICAL_SPEC §5.1) with its sites and the blasts'
    CD7 status (§4.4: CD7-negative relapse is a known escape)."""

    crf_code = "REL"
    crf_title = _("Relapse")
    casebook_order = 42
    clinical_date_field = "relapse_date"

    relapse_date = models.DateField(_("relapse date"))
    site_marrow = models.BooleanField(_("bone marrow"), default=False)
    site_blood = models.BooleanField(_("peripheral blood"), default=False)
    site_cns = models.BooleanField(_("CNS"), default=False)
    site_other_emd = models.BooleanField(_("other extramedullary site"), default=False)
    other_emd_site = models.CharField(_("other extramedullary site: where"), max_length=100, blank=True)
    blast_cd7_status = models.CharField(_("blast CD7 status"), max_length=10, choices=Cd7Status.choices)
    blast_cd7_pct = models.DecimalField(
        _("blasts expressing CD7 (%)"), max_digits=5, decimal_places=1, null=True, blank=True, validators=PERCENT
    )

    class Meta:
        verbose_name = _("relapse")
        verbose_name_plural = _("relapses")
        ordering = ["subject", "relapse_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} REL {self.relapse_date}"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if not (self.site_marrow or self.site_blood or self.site_cns or self.site_other_emd):
            errors["site_marrow"] = _("Tick at least one site of relapse.")
        if self.site_other_emd != bool(self.other_emd_site.strip()):
            errors["other_emd_site"] = _("Name the other extramedullary site, and only when it is ticked.")
        if errors:
            raise ValidationError(errors)
