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
