"""Subjects (DESIGN §3): the subject with its lifecycle status (subjects/lifecycle.py), the
identity record, visits, the per-site number sequences, and the two lifecycle forms — informed
consent and the eligibility checklist — which are CRFs on the CRF core."""

from __future__ import annotations

from datetime import date

import pghistory
import pgtrigger
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clinical.schedule import VisitState, Window, visit_state
from crf.models import CrfInstance
from study.models import Site
from subjects.eligibility import criteria_met
from subjects.lifecycle import NotInfusedReason, Status

#: Statuses a subject holds before enrolment: no subject ID or dose level yet.
PRE_ENROLMENT = [Status.SCREENING.value, Status.SCREEN_FAILED.value]


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Subject(models.Model):
    """A person from consent on. The screening number comes with consent; the subject ID and the
    dose level with enrolment. Status changes go through `subjects.services` only."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="subjects")
    subject_id = models.CharField(_("subject ID"), max_length=30, blank=True)
    screening_number = models.CharField(_("screening number"), max_length=30, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.SCREENING)
    status_date = models.DateField(_("status date"), null=True, blank=True)
    enrolled_on = models.DateField(_("enrolment date"), null=True, blank=True)
    dose_level = models.CharField(_("dose level"), max_length=20, blank=True)
    status_reason = models.CharField(_("reason"), max_length=300, blank=True)
    not_infused_reason = models.CharField(
        _("reason not infused"), max_length=30, choices=NotInfusedReason.choices, blank=True
    )
    survival_follow_up = models.BooleanField(_("survival follow-up continues"), null=True, blank=True)
    # The Day-0 clock (DESIGN §4): visits hang on the planned infusion date until the first
    # infusion; then on `infusion_date`, the site-local calendar date of the first infusion's
    # start, written by the infusion service (subjects.treatment), never typed.
    planned_infusion_date = models.DateField(_("planned infusion date"), null=True, blank=True)
    infusion_date = models.DateField(_("first infusion date (day 0)"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("subject")
        verbose_name_plural = _("subjects")
        ordering = ["site__code", "subject_id", "screening_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "subject_id"], condition=~Q(subject_id=""), name="subject_id_unique_at_site"
            ),
            models.UniqueConstraint(
                fields=["site", "screening_number"],
                condition=~Q(screening_number=""),
                name="screening_number_unique_at_site",
            ),
            models.CheckConstraint(
                condition=Q(status__in=PRE_ENROLMENT) | (~Q(subject_id="") & ~Q(dose_level="")),
                name="enrolled_subject_has_id_and_dose_level",
            ),
        ]

    def __str__(self) -> str:
        return self.subject_id or self.screening_number or f"#{self.pk}"

    @property
    def day0(self) -> date | None:
        """Day 0 of the clock: the first infusion's site-local date, else the planned one."""
        return self.infusion_date or self.planned_infusion_date


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

    @property
    def window(self) -> Window | None:
        """The window around the planned date; None for event-driven or not yet planned visits."""
        if self.planned_date is None or self.definition.anchor == "event":
            return None
        return Window(self.planned_date, self.definition.window_before, self.definition.window_after)

    def state(self, today: date) -> VisitState | None:
        """Done / due / overdue, computed from the window (never stored)."""
        window = self.window
        return None if window is None else visit_state(window, visit_date=self.visit_date, today=today)

    @property
    def out_of_window(self) -> bool:
        window = self.window
        return window is not None and self.visit_date is not None and not window.contains(self.visit_date)


class SiteSequence(models.Model):
    """The last number handed out per site and kind. Numbers come from this row under
    `SELECT … FOR UPDATE`, never from max()+1, so none is handed out twice or reused."""

    class Kind(models.TextChoices):
        SCREENING = "screening", _("Screening number")
        SUBJECT = "subject", _("Subject ID")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "kind"], name="one_sequence_per_site_and_kind")]

    def __str__(self) -> str:
        return f"{self.site_id} {self.kind} {self.last_value}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class InformedConsent(CrfInstance):
    """One signed consent form version. Re-consent on a new version is another record; the
    first consent opens screening (subjects.services.record_consent)."""

    crf_code = "IC"
    crf_title = _("Informed consent")
    clinical_date_field = "consent_date"
    #: created by the lifecycle services, not from the generic "new form" page
    lifecycle_form = True

    consent_version = models.CharField(_("consent form version"), max_length=20)
    consent_date = models.DateField(_("consent date"))

    class Meta:
        verbose_name = _("informed consent")
        verbose_name_plural = _("informed consents")
        ordering = ["subject", "consent_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "consent_version"],
                condition=Q(entered_in_error=False),
                name="one_consent_per_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} IC {self.consent_version} {self.consent_date}"


def first_consent_date(subject_id: int | None) -> date | None:
    """The date of the subject's first valid consent: nothing protocol-driven precedes it."""
    if subject_id is None:
        return None
    found = (
        InformedConsent.objects.filter(subject_id=subject_id, entered_in_error=False)
        .order_by("consent_date")
        .values_list("consent_date", flat=True)
        .first()
    )
    return found


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class EligibilityAssessment(CrfInstance):
    """The eligibility checklist: each criterion's answer as data (`criteria`: code → yes/no),
    under a protocol version, assessed on or after the first consent (refused otherwise)."""

    crf_code = "ELIG"
    crf_title = _("Eligibility checklist")
    clinical_date_field = "assessment_date"
    lifecycle_form = True

    protocol_version = models.CharField(_("protocol version"), max_length=20)
    assessment_date = models.DateField(_("assessment date"))
    criteria = models.JSONField(_("criteria"), default=dict)

    class Meta:
        verbose_name = _("eligibility checklist")
        verbose_name_plural = _("eligibility checklists")
        ordering = ["subject", "assessment_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} ELIG {self.assessment_date}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        consented = first_consent_date(self.subject_id)
        if consented is None:
            raise ValidationError(_("Record the informed consent before the eligibility checklist."))
        if self.assessment_date is not None and self.assessment_date < consented:
            raise ValidationError(
                {
                    "assessment_date": _(
                        "Eligibility cannot be assessed before consent: the assessment date %(assessed)s "
                        "is before the consent date %(consented)s."
                    )
                    % {"assessed": self.assessment_date.isoformat(), "consented": consented.isoformat()}
                },
                code="before_consent",
            )

    @property
    def eligible(self) -> bool:
        return criteria_met(self.criteria)
