"""Study build models (issue 27 item 1): the versioned visit timing of the schedule (exported by
study/models/__init__.py, which registers them with the app)."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from study.models.configuration import Study


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class VisitSchedule(models.Model):
    """One version of the visit timing (CLINICAL_SPEC §7: every time point is a setting): each
    visit's target day and window, effective from a date. Versions are never edited. Before the
    first version, visits follow their `VisitDefinition` as set up.

    A visit is judged by the newest version whose effective date is on or before the visit's
    planned date under that version (subjects.services.visits.timing_for); a new version re-derives the
    planned dates and windows of the visits it governs through crf.rederive.

    `visits` is {visit code: {"day": int | null, "window_before": int, "window_after": int}}."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="visit_schedules")
    version = models.PositiveIntegerField(_("version"))
    effective_from = models.DateField(_("effective from"))
    visits = models.JSONField(_("visit timing"))
    reason = models.CharField(_("reason"), max_length=300)
    #: the amendment it came in with (study.amendments.AMENDABLE); empty until one groups it
    protocol_version = models.ForeignKey(
        "study.ProtocolVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="visit_schedules",
        verbose_name=_("protocol version"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("visit schedule version")
        verbose_name_plural = _("visit schedule versions")
        ordering = ["study", "version"]
        constraints = [
            models.UniqueConstraint(fields=["study", "version"], name="visit_schedule_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.study} visits v{self.version} from {self.effective_from}"
