"""Subjects (DESIGN §3): the subject with its lifecycle status (subjects/lifecycle.py), the
identity record, visits, the per-site number sequences, and the two lifecycle forms — informed
consent and the eligibility checklist — which are CRFs on the CRF core."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pghistory
import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinical.assessments import Progress, derived_visit_state
from clinical.schedule import VisitState, Window, local_date
from crf.models import CrfInstance
from crf.services import batch_memo
from dbtools.prepared import prepared
from study.models import Site
from subjects.eligibility import criteria_met
from subjects.lifecycle import NotInfusedReason, Status

#: Statuses a subject holds before enrolment: no subject ID or dose level yet.
PRE_ENROLMENT = [Status.SCREENING.value, Status.SCREEN_FAILED.value]


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Subject(models.Model):
    """A person from consent on. The screening number comes with consent; the subject ID and the
    dose level with enrolment. Status changes go through `subjects.services.subject` only."""

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
    # start, written by the infusion service (subjects.services.treatment), never typed.
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


# `forms_state` is derived (re-derived from the audited forms after every save): a change of it
# alone makes no update event (DESIGN §4 audit; like a job's progress ticks, jobs/models.py).
# The history rows still carry its value at each audited change.
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(condition=pghistory.AnyChange(exclude=["forms_state"])),
    pghistory.DeleteEvent(),
)
class Visit(models.Model):
    """A scheduled time point of one subject, instantiated from the study's visit definitions."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="visits")
    definition = models.ForeignKey("study.VisitDefinition", on_delete=models.PROTECT, related_name="+")
    planned_date = models.DateField(_("planned date"), null=True, blank=True)
    visit_date = models.DateField(_("visit date"), null=True, blank=True)
    #: derived from the visit's expected forms (CLINICAL_SPEC §7.1; subjects.assessments):
    #: "" nothing expected, "none", "some" or "all" satisfied. Overdue is still computed.
    forms_state = models.CharField(_("expected forms"), max_length=4, blank=True, default="", editable=False)
    #: derived from the visit schedule version in force for the visit (issue 27 item 1;
    #: subjects.services.visits.timing_for); empty on visits scheduled before versions existed: the
    #: definition's window applies
    window_before = models.PositiveSmallIntegerField(_("window before (days)"), null=True, editable=False)
    window_after = models.PositiveSmallIntegerField(_("window after (days)"), null=True, editable=False)
    schedule_version = models.PositiveIntegerField(_("visit schedule version"), null=True, editable=False)

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
        before = self.definition.window_before if self.window_before is None else self.window_before
        after = self.definition.window_after if self.window_after is None else self.window_after
        return Window(self.planned_date, before, after)

    def state(self, today: date) -> VisitState | None:
        """Done / due / overdue, computed from the window and the expected forms (CLINICAL_SPEC
        §7.1: done when every expected form is satisfied), never stored."""
        window = self.window
        if window is None:
            return None
        return derived_visit_state(window, progress=Progress(self.forms_state), visit_date=self.visit_date, today=today)

    @property
    def out_of_window(self) -> bool:
        window = self.window
        return window is not None and self.visit_date is not None and not window.contains(self.visit_date)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ExpectedFormNotDone(models.Model):
    """An expected form of a visit marked "not done" with a reason (CLINICAL_SPEC §7.1: it then
    counts as satisfied). Withdrawn, not deleted: `withdrawn_at` set when the mark is taken back."""

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="not_done_marks")
    crf_code = models.CharField(_("form"), max_length=10)
    reason = models.CharField(_("reason"), max_length=300)
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    marked_at = models.DateTimeField(_("marked at"))
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    class Meta:
        verbose_name = _("expected form not done")
        verbose_name_plural = _("expected forms not done")
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "crf_code"], condition=Q(withdrawn_at__isnull=True), name="one_live_not_done_mark"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.visit} {self.crf_code} not done"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class EnrolmentAcknowledgement(models.Model):
    """CLINICAL_SPEC §3.1: enrolling at a level whose decision is "above MTD" or "stop and review",
    or while a candidate DLT at that level awaits adjudication, needs the investigator's explicit
    acknowledgement, recorded with the enrolment. A coordinator's enrolment waits here, pending,
    until an investigator of the site acknowledges it under their own account (issue 24)."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="enrolment_acknowledgements")
    dose_level = models.CharField(_("dose level"), max_length=20)
    enrolment_date = models.DateField(_("enrolment date"))
    planned_infusion_date = models.DateField(_("planned infusion date"), null=True, blank=True)
    why = models.CharField(_("what is acknowledged"), max_length=500)
    #: `why` as a message code with parameters (issue 25): read in each reader's language
    why_code = models.TextField(_("message code"), blank=True)
    why_params = models.JSONField(_("message parameters"), default=dict, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(_("requested at"))
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)

    class Meta:
        verbose_name = _("enrolment acknowledgement")
        verbose_name_plural = _("enrolment acknowledgements")
        constraints = [
            models.UniqueConstraint(
                fields=["subject"], condition=Q(acknowledged_at__isnull=True), name="one_pending_enrolment"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.dose_level}"


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
    first consent opens screening (subjects.services.subject.record_consent)."""

    crf_code = "IC"
    crf_title = _("Informed consent")
    clinical_date_field = "consent_date"

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

    def clean(self) -> None:
        """A consent cannot be dated after today at the site (issue 24: a consent dated next
        month trapped the subject in screening)."""
        super().clean()
        if self.consent_date is not None and self.subject_id is not None:
            today = local_date(timezone.now(), self.subject.site.time_zone)
            if self.consent_date > today:
                raise ValidationError(
                    {
                        "consent_date": _("The consent date cannot be in the future (today at the site is %(today)s).")
                        % {"today": today.isoformat()}
                    },
                    code="future_date",
                )


def first_consent_date(subject_id: int | None) -> date | None:
    """The date of the subject's first valid consent: nothing protocol-driven precedes it."""
    if subject_id is None:
        return None

    def read() -> date | None:
        rows = _first_consent.rows(subject_id=subject_id)
        return rows[0][0] if rows else None

    return batch_memo(("first consent", subject_id), read, stale_after=(InformedConsent,))


@prepared("subject_id")
def _first_consent(subject_id: int) -> models.QuerySet[Any]:
    return (
        InformedConsent.objects.filter(subject_id=subject_id, entered_in_error=False)
        .order_by("consent_date")
        .values_list("consent_date")[:1]
    )


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class EligibilityAssessment(CrfInstance):
    """The eligibility checklist: each criterion's answer as data (`criteria`: code → yes/no),
    under a protocol version, assessed on or after the first consent (refused otherwise)."""

    crf_code = "ELIG"
    crf_title = _("Eligibility checklist")
    clinical_date_field = "assessment_date"

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


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Lymphodepletion(CrfInstance):
    """Lymphodepleting chemotherapy (CLINICAL_SPEC §7: fludarabine/cyclophosphamide, days −5 to
    −3). Doses per m² of the body surface area used. Saving the first one moves an enrolled
    subject to "lymphodepleted" (subjects.services.treatment)."""

    crf_code = "LD"
    crf_title = _("Lymphodepletion")
    casebook_order = 10
    clinical_date_field = "start_date"

    fludarabine_mg_m2 = models.DecimalField(
        _("fludarabine (mg/m² per day)"),
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
    )
    cyclophosphamide_mg_m2 = models.DecimalField(
        _("cyclophosphamide (mg/m² per day)"),
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("3000"))],
    )
    other_agent = models.CharField(_("other agent"), max_length=100, blank=True)
    other_agent_mg_m2 = models.DecimalField(
        _("other agent (mg/m² per day)"),
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    bsa_m2 = models.DecimalField(
        _("body surface area used (m²)"),
        max_digits=4,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("3.5"))],
    )
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)

    class Meta:
        verbose_name = _("lymphodepletion")
        verbose_name_plural = _("lymphodepletions")
        ordering = ["subject", "start_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} LD {self.start_date}"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.fludarabine_mg_m2 is None and self.cyclophosphamide_mg_m2 is None and not self.other_agent:
            errors["fludarabine_mg_m2"] = _("Give the dose of at least one agent.")
        if bool(self.other_agent.strip()) != (self.other_agent_mg_m2 is not None):
            errors["other_agent_mg_m2"] = _("Give both the other agent's name and its dose, or neither.")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            errors["end_date"] = _("The end date cannot be before the start date.")
        if errors:
            raise ValidationError(errors)


class ProductSource(models.TextChoices):
    AUTOLOGOUS = "autologous", _("Autologous")
    DONOR = "donor", _("Donor-derived")


class ProductState(models.TextChoices):
    FRESH = "fresh", _("Fresh")
    THAWED = "thawed", _("Thawed (cryopreserved)")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Infusion(CrfInstance):
    """One CAR-T product bag infused (CLINICAL_SPEC §7). Split or repeat infusions are further
    forms; day 0 is the site-local date of the earliest infusion start. Instants are UTC,
    entered and shown in the site's time zone. CAR+ cells/kg is derived by clinical.dose from
    the inputs on this form and the subject's assigned dose level (subjects.derive)."""

    crf_code = "INF"
    crf_title = _("CAR-T product and infusion")
    casebook_order = 20
    clinical_date_field = "infusion_date"

    product_id = models.CharField(_("product ID"), max_length=50)
    lot_number = models.CharField(_("lot number"), max_length=50)
    source = models.CharField(_("product source"), max_length=12, choices=ProductSource.choices)
    state = models.CharField(_("fresh or thawed"), max_length=8, choices=ProductState.choices)
    thaw_time = models.DateTimeField(_("thaw time"), null=True, blank=True)
    bag_id = models.CharField(_("bag ID"), max_length=50)
    bag_matches_subject = models.BooleanField(
        _("bag ID and subject identity match (bedside check)"),
        default=False,
        help_text=_("Checked at the bedside against the subject's wristband by two staff."),
    )
    checked_by_first = models.CharField(_("checked by (first person)"), max_length=100)
    checked_by_second = models.CharField(_("checked by (second person)"), max_length=100)
    infusion_start = models.DateTimeField(_("infusion start"))
    infusion_end = models.DateTimeField(_("infusion end"), null=True, blank=True)
    volume_ml = models.DecimalField(
        _("volume infused (mL)"),
        max_digits=6,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("2000"))],
    )
    viable_cells_e6 = models.DecimalField(
        _("total viable cells (×10⁶)"),
        max_digits=10,
        decimal_places=3,
        validators=[MinValueValidator(Decimal("0.001"))],
    )
    car_positive_pct = models.DecimalField(
        _("CAR+ cells (%)"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    weight_kg = models.DecimalField(
        _("weight used (kg)"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("300"))],
    )
    # Derived (subjects.derive) with the settings in force on the infusion's site-local date.
    infusion_date = models.DateField(_("infusion date (site)"), null=True, editable=False)
    car_positive_per_kg_e6 = models.DecimalField(
        _("CAR+ cells/kg (×10⁶)"), max_digits=12, decimal_places=4, null=True, editable=False
    )
    dose_level = models.CharField(_("dose level"), max_length=20, blank=True, editable=False)
    dose_lower_e6 = models.DecimalField(
        _("acceptable range from (×10⁶/kg)"), max_digits=12, decimal_places=4, null=True, editable=False
    )
    dose_upper_e6 = models.DecimalField(
        _("acceptable range to (×10⁶/kg)"), max_digits=12, decimal_places=4, null=True, editable=False
    )
    dose_in_range = models.BooleanField(_("dose within range"), null=True, editable=False)
    settings_version = models.PositiveIntegerField(_("protocol settings version"), null=True, editable=False)

    class Meta:
        verbose_name = _("CAR-T infusion")
        verbose_name_plural = _("CAR-T infusions")
        ordering = ["subject", "infusion_start", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="thawed") | Q(thaw_time__isnull=False), name="thawed_product_has_thaw_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} INF {self.product_id} {self.bag_id}"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.state == ProductState.THAWED and self.thaw_time is None:
            errors["thaw_time"] = _("A thawed product needs its thaw time.")
        if self.state == ProductState.FRESH and self.thaw_time is not None:
            errors["thaw_time"] = _("A fresh product has no thaw time.")
        if self.thaw_time and self.infusion_start and self.thaw_time > self.infusion_start:
            errors["thaw_time"] = _("The product cannot be thawed after the infusion started.")
        if self.infusion_start and self.infusion_end and self.infusion_end < self.infusion_start:
            errors["infusion_end"] = _("The infusion cannot end before it starts.")
        first = " ".join(self.checked_by_first.split()).casefold()
        second = " ".join(self.checked_by_second.split()).casefold()
        if first and first == second:
            errors["checked_by_second"] = _("The chain-of-identity check needs two different people.")
        if not self.bag_matches_subject:
            errors["bag_matches_subject"] = _(
                "Confirm that the bag ID matches the subject. If it does not, do not infuse: "
                "report the mismatch to the cell-therapy laboratory."
            )
        if errors:
            raise ValidationError(errors)
