"""Protocol deviations (issue 5 item 3): date, category, description, whether it is important
(ICH E3 §10.2: may significantly affect the completeness, accuracy or reliability of key data
or a subject's rights, safety or well-being) and the corrective action. Listed on the subject
page and on the study's deviation list, through the visibility gate (study.access)."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.db import models
from django.utils.translation import gettext_lazy as _

from crf.models import CrfInstance


class DeviationCategory(models.TextChoices):
    CONSENT = "consent", _("Informed consent")
    ELIGIBILITY = "eligibility", _("Eligibility")
    PROCEDURE = "procedure", _("Study procedure or assessment missed or wrong")
    VISIT_WINDOW = "visit_window", _("Visit out of window")
    PRODUCT = "product", _("Investigational product, dosing or lymphodepletion")
    SAFETY_REPORTING = "safety_reporting", _("Safety reporting")
    CONMED = "conmed", _("Prohibited concomitant medication")
    OTHER = "other", _("Other")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ProtocolDeviation(CrfInstance):
    crf_code = "DV"
    crf_title = _("Protocol deviation")
    casebook_order = 990  # last column
    clinical_date_field = "deviation_date"

    deviation_date = models.DateField(_("deviation date"))
    category = models.CharField(_("category"), max_length=20, choices=DeviationCategory.choices)
    description = models.TextField(_("description"))
    important = models.BooleanField(
        _("important deviation"),
        default=False,
        help_text=_("May significantly affect key data or the subject's rights, safety or well-being."),
    )
    corrective_action = models.TextField(_("corrective and preventive action"), blank=True)

    class Meta:
        verbose_name = _("protocol deviation")
        verbose_name_plural = _("protocol deviations")
        ordering = ["subject", "-deviation_date", "-pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} DV {self.deviation_date} {self.get_category_display()}"
