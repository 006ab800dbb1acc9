"""Survival follow-up (DESIGN §3 survival/; CLINICAL_SPEC §5.3, §6): follow-up contacts giving
the last date known alive, death with its primary cause, and subsequent therapy (consolidative
HSCT, DLI, new chemotherapy…) — the new anti-leukaemic therapy after which assessments leave
the best-response window (§5.3)."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crf.models import CrfInstance


class ContactMethod(models.TextChoices):
    CLINIC_VISIT = "visit", _("Clinic visit")
    TELEPHONE = "telephone", _("Telephone")
    MEDICAL_RECORD = "record", _("Medical record")
    OTHER = "other", _("Other")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class FollowUpContact(CrfInstance):
    """One contact with (or about) the subject: the latest contact alive is the last date known
    alive (§6)."""

    crf_code = "FU"
    crf_title = _("Survival follow-up contact")
    casebook_order = 60
    clinical_date_field = "contact_date"

    contact_date = models.DateField(_("contact date"))
    method = models.CharField(_("how"), max_length=10, choices=ContactMethod.choices)
    alive = models.BooleanField(_("alive at this contact"))

    class Meta:
        verbose_name = _("survival follow-up contact")
        verbose_name_plural = _("survival follow-up contacts")
        ordering = ["subject", "contact_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} FU {self.contact_date}"


class DeathCause(models.TextChoices):
    DISEASE = "disease", _("Disease (leukaemia / lymphoma)")
    CRS = "crs", _("Cytokine release syndrome")
    ICANS = "icans", _("ICANS")
    INFECTION = "infection", _("Infection")
    GVHD = "gvhd", _("Graft-versus-host disease")
    OTHER = "other", _("Other")


class Autopsy(models.TextChoices):
    YES = "yes", _("Yes")
    NO = "no", _("No")
    UNKNOWN = "unknown", _("Unknown")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Death(CrfInstance):
    """The subject's death (§6: the overall-survival event). Saving it moves the subject to
    "died" through the lifecycle service (survival.services)."""

    crf_code = "DTH"
    crf_title = _("Death")
    casebook_order = 62
    clinical_date_field = "death_date"

    death_date = models.DateField(_("date of death"))
    primary_cause = models.CharField(_("primary cause"), max_length=10, choices=DeathCause.choices)
    cause_detail = models.CharField(_("cause: details"), max_length=200, blank=True)
    autopsy = models.CharField(_("autopsy"), max_length=8, choices=Autopsy.choices)

    class Meta:
        verbose_name = _("death")
        verbose_name_plural = _("deaths")
        ordering = ["subject", "death_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.UniqueConstraint(
                fields=["subject"], condition=Q(entered_in_error=False), name="one_death_per_subject"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} DTH {self.death_date}"

    def clean(self) -> None:
        if self.primary_cause == DeathCause.OTHER and not self.cause_detail.strip():
            raise ValidationError({"cause_detail": _("Describe the other cause of death.")})


class TherapyType(models.TextChoices):
    HSCT = "hsct", _("Allogeneic haematopoietic stem-cell transplant (HSCT)")
    DLI = "dli", _("Donor lymphocyte infusion (DLI)")
    CHEMOTHERAPY = "chemotherapy", _("Chemotherapy")
    CAR_T = "car_t", _("Another CAR-T")
    TARGETED = "targeted", _("Targeted or antibody therapy")
    RADIOTHERAPY = "radiotherapy", _("Radiotherapy")
    OTHER = "other", _("Other anti-leukaemic therapy")


class Donor(models.TextChoices):
    MATCHED_SIBLING = "matched_sibling", _("Matched sibling")
    MATCHED_UNRELATED = "matched_unrelated", _("Matched unrelated")
    MISMATCHED_UNRELATED = "mismatched_unrelated", _("Mismatched unrelated")
    HAPLOIDENTICAL = "haploidentical", _("Haploidentical")
    CORD_BLOOD = "cord_blood", _("Cord blood")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class SubsequentTherapy(CrfInstance):
    """New anti-leukaemic therapy after CAR-T (§5.3): assessments after its start leave the
    best-response window. Consolidative HSCT is not censored in the primary analysis; a
    sensitivity analysis censors at it."""

    crf_code = "ST"
    crf_title = _("Subsequent therapy")
    casebook_order = 64
    clinical_date_field = "start_date"

    therapy_type = models.CharField(_("therapy"), max_length=14, choices=TherapyType.choices)
    start_date = models.DateField(_("start date"))
    consolidative = models.BooleanField(
        _("consolidation in remission"), default=False, help_text=_("Given in remission, not for relapse.")
    )
    donor = models.CharField(_("donor"), max_length=22, choices=Donor.choices, blank=True)
    conditioning = models.CharField(_("conditioning regimen"), max_length=200, blank=True)
    description = models.CharField(_("agents / details"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("subsequent therapy")
        verbose_name_plural = _("subsequent therapies")
        ordering = ["subject", "start_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} ST {self.therapy_type} {self.start_date}"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.therapy_type == TherapyType.HSCT:
            if not self.donor:
                errors["donor"] = _("Give the HSCT donor.")
            if not self.conditioning.strip():
                errors["conditioning"] = _("Give the conditioning regimen.")
        elif self.therapy_type != TherapyType.DLI and self.donor:
            errors["donor"] = _("A donor is recorded for an HSCT or a DLI only.")
        needs_agents = self.therapy_type in (TherapyType.OTHER, TherapyType.CHEMOTHERAPY, TherapyType.TARGETED)
        if needs_agents and not self.description.strip():
            errors["description"] = _("Name the agents.")
        if errors:
            raise ValidationError(errors)
