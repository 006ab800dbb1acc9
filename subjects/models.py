"""Subjects (DESIGN §3). Issue 2 holds the minimal record the visibility gate needs: the site and
the subject ID; the casebook issues grow it (identity record, lifecycle, visits)."""

from __future__ import annotations

import pghistory
from django.db import models
from django.utils.translation import gettext_lazy as _

from study.models import Site


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Subject(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="subjects")
    subject_id = models.CharField(_("subject ID"), max_length=30)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("subject")
        verbose_name_plural = _("subjects")
        ordering = ["site__code", "subject_id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "subject_id"], name="subject_id_unique_at_site"),
        ]

    def __str__(self) -> str:
        return self.subject_id


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class IdentityRecord(models.Model):
    """Directly identifying data, one row per subject (DESIGN §4 "Identity record"). Visible only
    to the roles of DESIGN §4a; never in exports, logs or e-mails."""

    subject = models.OneToOneField(Subject, on_delete=models.PROTECT, related_name="identity")
    full_name = models.CharField(_("full name"), max_length=200)
    date_of_birth = models.DateField(_("date of birth"))
    hospital_number = models.CharField(_("hospital number"), max_length=50, blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("identity record")
        verbose_name_plural = _("identity records")

    def __str__(self) -> str:
        return f"identity of {self.subject}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Visit(models.Model):
    """A scheduled time point of one subject, instantiated from the study's visit definitions."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="visits")
    definition = models.ForeignKey("study.VisitDefinition", on_delete=models.PROTECT, related_name="+")
    planned_date = models.DateField(_("planned date"), null=True, blank=True)
    visit_date = models.DateField(_("visit date"), null=True, blank=True)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["subject", "definition__order"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "definition"], name="one_visit_per_definition"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.definition.code}"
