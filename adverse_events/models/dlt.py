"""DLT candidates and their adjudication (CLINICAL_SPEC §3.1; DESIGN §4a "adjudicate").

The system flags candidates (`adverse_events.services.dlt.recompute_candidates`, run whenever an
AE, CRS/ICANS assessment, lab result, marrow, death or infusion of the subject changes); the
investigator confirms or rejects each with a reason. A candidate the rules no longer flag after
a correction is kept (never deleted) and marked withdrawn. Every change is audited.

`DoseLevelDecision` remembers the last escalation decision shown for a dose level and when it
last changed; the decision itself is always computed live (`dlt_services.dose_level_monitor`).
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from study.models import Study
from subjects.models import Subject


class CandidateCriterion(models.TextChoices):
    CRS = "crs", _("CRS grade 4, or grade 3 on ≥ 4 consecutive days")
    ICANS = "icans", _("ICANS grade 4, or grade 3 on ≥ 4 consecutive days")
    GVHD = "gvhd", _("Acute GvHD grade III–IV")
    CYTOPENIA = "cytopenia", _("Grade 4 cytopenia at the day-28 assessment")
    OTHER_AE = "other_ae", _("Other AE grade ≥ 3 not back to ≤ 1 within 7 days")
    DEATH = "death", _("Death in the window not from progression")


class CandidateStatus(models.TextChoices):
    AWAITING = "awaiting", _("Awaiting adjudication")
    CONFIRMED = "confirmed", _("Confirmed DLT")
    REJECTED = "rejected", _("Rejected")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class DltCandidate(models.Model):
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="dlt_candidates")
    key = models.CharField(_("rule key"), max_length=80)
    criterion = models.CharField(_("criterion"), max_length=12, choices=CandidateCriterion.choices)
    onset_day = models.IntegerField(_("onset study day"))
    description = models.CharField(_("finding"), max_length=300)  # in English, as the rules wrote it
    # The finding as a message code and its parameters (issue 25 item 3): the audited truth a
    # page renders in the reader's language (adverse_events.dlt_text.finding_text).
    description_code = models.TextField(_("message code"), blank=True)
    description_params = models.JSONField(_("message parameters"), default=dict, blank=True)
    awaiting_marrow = models.BooleanField(_("awaiting the day-28 marrow"), default=False)
    adverse_event = models.ForeignKey(
        "adverse_events.AdverseEvent", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    flagged_at = models.DateTimeField(_("flagged at"), auto_now_add=True)
    withdrawn = models.BooleanField(_("no longer flagged after a correction"), default=False)
    status = models.CharField(
        _("adjudication"), max_length=10, choices=CandidateStatus.choices, default=CandidateStatus.AWAITING
    )
    adjudication_reason = models.CharField(_("reason"), max_length=500, blank=True)
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    adjudicated_at = models.DateTimeField(_("adjudicated at"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("DLT candidate")
        verbose_name_plural = _("DLT candidates")
        ordering = ["subject", "onset_day", "pk"]
        constraints = [models.UniqueConstraint(fields=["subject", "key"], name="dlt_candidate_unique_key")]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} DLT candidate {self.key}"

    @property
    def counts_as_awaiting(self) -> bool:
        return not self.withdrawn and self.status == CandidateStatus.AWAITING

    @property
    def counts_as_dlt(self) -> bool:
        return not self.withdrawn and self.status == CandidateStatus.CONFIRMED


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class DoseLevelDecision(models.Model):
    """The last decision shown for one dose level and when it last changed (§3.1)."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="+")
    dose_level = models.CharField(_("dose level"), max_length=20)
    decision = models.CharField(_("decision"), max_length=20)
    pending = models.BooleanField(_("pending adjudication"), default=False)
    changed_at = models.DateTimeField(_("last changed"))

    class Meta:
        verbose_name = _("dose-level decision")
        verbose_name_plural = _("dose-level decisions")
        constraints = [models.UniqueConstraint(fields=["study", "dose_level"], name="dose_level_decision_unique")]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.dose_level}: {self.decision}"
