"""Safety data (DESIGN §3 adverse_events/): the AE log with CTCAE v5.0 terms (CLINICAL_SPEC §3),
CRS assessments and episodes (§1) and ICANS assessments and episodes (§2).

Assessments and the AE log are CRFs on the CRF core (written through `crf.services.save` only);
episodes are derived from the assessments by `adverse_events.episodes`, each owning one AE the
system keeps in step with it (§1.3). Grades are computed by `clinical/` and stored with their
inputs and criteria version.
"""

from __future__ import annotations

from decimal import Decimal

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from adverse_events.grade_course import GradeCourseModelField
from adverse_events.rules import ae_problems, crs_problems, icans_problems
from crf.fields import CodeListField
from crf.models import CrfInstance
from labs.models import OxygenDevice


class Relationship(models.TextChoices):
    UNRELATED = "unrelated", _("Unrelated")
    UNLIKELY = "unlikely", _("Unlikely")
    POSSIBLE = "possible", _("Possible")
    PROBABLE = "probable", _("Probable")
    DEFINITE = "definite", _("Definite")


#: Relationships that count as "related" (CLINICAL_SPEC §3 collection after day 90).
RELATED = (Relationship.POSSIBLE, Relationship.PROBABLE, Relationship.DEFINITE)


class AeAction(models.TextChoices):
    NONE = "none", _("None")
    TREATMENT = "treatment", _("Treatment given")
    DOSE_DELAYED = "delayed", _("Study treatment delayed")
    DOSE_NOT_GIVEN = "not_given", _("Study treatment not given")
    NOT_APPLICABLE = "not_applicable", _("Not applicable (treatment completed)")


class AeOutcome(models.TextChoices):
    RECOVERED = "recovered", _("Recovered / resolved")
    RECOVERED_WITH_SEQUELAE = "sequelae", _("Recovered / resolved with sequelae")
    RECOVERING = "recovering", _("Recovering / resolving")
    NOT_RECOVERED = "not_recovered", _("Not recovered / not resolved")
    FATAL = "fatal", _("Fatal")
    UNKNOWN = "unknown", _("Unknown")


class CollectionPeriod(models.TextChoices):
    """CLINICAL_SPEC §3: each AE is flagged by the treatment period of its onset."""

    BEFORE_LYMPHODEPLETION = "before_ld", _("Before lymphodepletion")
    DURING_LYMPHODEPLETION = "during_ld", _("During lymphodepletion")
    AFTER_INFUSION = "after_infusion", _("After infusion (treatment-emergent)")


class GradeScale(models.TextChoices):
    CTCAE = "CTCAE v5.0", _("CTCAE v5.0")
    ASTCT = "ASTCT-2019", _("ASTCT 2019 consensus")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class AdverseEvent(CrfInstance):
    """One adverse event (CLINICAL_SPEC §3): the CTCAE v5.0 term (its MedDRA code and SOC are
    looked up, never typed), verbatim text, onset and resolution with their study days, the
    maximum grade (only grades that exist for the term), seriousness criteria, relationship to
    CAR-T and to lymphodepletion, action and outcome. The collection period and the study days
    are derived (adverse_events.derive). An AE owned by a CRS or ICANS episode is created and
    kept in step by the system (§1.3, §2.3)."""

    crf_code = "AE"
    crf_title = _("Adverse event")
    casebook_order = 40
    clinical_date_field = "onset_date"

    ctcae_term = models.CharField(
        _("CTCAE term"),
        max_length=200,
        help_text=_("Type part of the term, its system organ class or its MedDRA code, then pick a term."),
    )
    verbatim = models.CharField(
        _("verbatim term"),
        max_length=200,
        blank=True,
        help_text=_("Required for “Other, specify” terms: the event as the investigator described it."),
    )
    grade = models.PositiveSmallIntegerField(
        _("maximum grade"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    onset_date = models.DateField(_("onset date"))
    resolution_date = models.DateField(_("resolution date"), null=True, blank=True)
    #: Each grade change, dated: [{"from": "YYYY-MM-DD", "grade": n}, …] in date order, the first on
    #: the onset date (clinical.ae_course; issue 30). `grade` is its maximum.
    grade_course = GradeCourseModelField(
        _("course of the grade"),
        default=list,
        blank=True,
        help_text=_(
            "One line per change of grade: the date it began, then the grade (e.g. 2026-03-25 3). "
            "The first line is the onset date; the AE's grade is the highest. Leave empty when the grade never changed."
        ),
    )
    serious_death = models.BooleanField(_("serious: results in death"), default=False)
    serious_life_threatening = models.BooleanField(_("serious: life-threatening"), default=False)
    serious_hospitalisation = models.BooleanField(_("serious: requires or prolongs hospitalisation"), default=False)
    serious_disability = models.BooleanField(_("serious: persistent or significant disability"), default=False)
    serious_congenital_anomaly = models.BooleanField(_("serious: congenital anomaly / birth defect"), default=False)
    serious_important_medical_event = models.BooleanField(_("serious: important medical event"), default=False)
    special_interest = models.BooleanField(_("AE of special interest"), default=False)
    relationship_car_t = models.CharField(_("relationship to CAR-T cells"), max_length=10, choices=Relationship.choices)
    relationship_lymphodepletion = models.CharField(
        _("relationship to lymphodepletion"), max_length=10, choices=Relationship.choices
    )
    action = models.CharField(_("action taken"), max_length=16, choices=AeAction.choices, default=AeAction.NONE)
    outcome = models.CharField(_("outcome"), max_length=16, choices=AeOutcome.choices)
    # Derived (adverse_events.derive): looked up or computed, never typed.
    meddra_code = models.CharField(_("MedDRA code"), max_length=10, blank=True, editable=False)
    soc = models.CharField(_("system organ class"), max_length=100, blank=True, editable=False)
    ctcae_version = models.CharField(_("CTCAE version"), max_length=10, blank=True, editable=False)
    grade_scale = models.CharField(
        _("grade scale"), max_length=12, choices=GradeScale.choices, default=GradeScale.CTCAE, editable=False
    )
    serious = models.BooleanField(_("serious"), default=False, editable=False)
    onset_study_day = models.IntegerField(_("onset study day"), null=True, editable=False)
    resolution_study_day = models.IntegerField(_("resolution study day"), null=True, editable=False)
    collection_period = models.CharField(
        _("collection period"), max_length=16, choices=CollectionPeriod.choices, blank=True, editable=False
    )
    crs_episode = models.OneToOneField(
        "adverse_events.CrsEpisode",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="adverse_event",
        verbose_name=_("CRS episode"),
    )
    icans_episode = models.OneToOneField(
        "adverse_events.IcansEpisode",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="adverse_event",
        verbose_name=_("ICANS episode"),
    )

    class Meta:
        verbose_name = _("adverse event")
        verbose_name_plural = _("adverse events")
        ordering = ["subject", "onset_date", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolution_date__isnull=True) | Q(resolution_date__gte=models.F("onset_date")),
                name="ae_resolves_after_onset",
            ),
            models.CheckConstraint(
                condition=Q(crs_episode__isnull=True) | Q(icans_episode__isnull=True),
                name="ae_owned_by_one_episode_at_most",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} AE {self.ctcae_term} G{self.grade}"

    @property
    def system_owned(self) -> bool:
        return self.crs_episode_id is not None or self.icans_episode_id is not None

    def clean(self) -> None:
        errors = ae_problems(self)
        if errors:
            raise ValidationError(errors)


class Vasopressor(models.TextChoices):
    NOREPINEPHRINE = "norepinephrine", _("Norepinephrine")
    EPINEPHRINE = "epinephrine", _("Epinephrine")
    PHENYLEPHRINE = "phenylephrine", _("Phenylephrine")
    DOPAMINE = "dopamine", _("Dopamine")
    VASOPRESSIN = "vasopressin", _("Vasopressin")


class CrsReviewFlag(models.TextChoices):
    """clinical.crs.CrsFlag labelled for people: findings a medical reviewer should look at."""

    VASOPRESSIN_ALONE = "vasopressin_alone", _("Vasopressin alone: graded as one vasopressor (§1.2 f)")
    HYPOTENSION_NOT_FLUID_RESPONSIVE_WITHOUT_VASOPRESSOR = (
        "hypotension_not_fluid_responsive_without_vasopressor",
        _("Hypotension not fluid-responsive but no vasopressor listed: check the vasopressor list"),
    )


#: The CRS form's oxygen devices are the vital-signs list (one list, issue 24 item 4).
CrsOxygen = OxygenDevice


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class CrsAssessment(CrfInstance):
    """One CRS assessment with the inputs of CLINICAL_SPEC §1.3; several per day allowed. The
    ASTCT grade is recomputed by the save service (clinical.crs) with fever masking from the
    con-med log (§1.2 b) and stored with its inputs and criteria version."""

    crf_code = "CRS"
    crf_title = _("CRS assessment")
    casebook_order = 50
    clinical_date_field = "assessment_date"

    assessment_date = models.DateField(_("assessment date"))
    assessment_time = models.TimeField(_("time (site local)"), null=True, blank=True)
    tmax_c = models.DecimalField(
        _("Tmax (°C)"),
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("30.0")), MaxValueValidator(Decimal("45.0"))],
        help_text=_("Highest temperature since the previous assessment."),
    )
    fever_other_cause = models.BooleanField(_("fever attributable to another cause"), default=False)
    hypotension = models.BooleanField(_("hypotension"), default=False)
    hypotension_fluid_responsive = models.BooleanField(_("hypotension responds to fluids"), null=True, blank=True)
    vasopressors = ArrayField(
        models.CharField(max_length=20, choices=Vasopressor.choices),
        verbose_name=_("vasopressors in use"),
        default=list,
        blank=True,
    )
    # No pre-selected answer (issue 24 item 3): asked, and required, whenever the finding is
    # present (CLINICAL_SPEC §1.2 d); empty when there is nothing to attribute.
    hypotension_attributable_to_crs = models.BooleanField(
        _("hypotension attributable to CRS"), null=True, blank=True, default=None
    )
    oxygen_device = models.CharField(
        _("oxygen device"), max_length=24, choices=OxygenDevice.choices, default=OxygenDevice.ROOM_AIR
    )
    oxygen_flow_l_min = models.DecimalField(
        _("oxygen flow (L/min)"),
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("80"))],
    )
    hypoxia_attributable_to_crs = models.BooleanField(
        _("hypoxia attributable to CRS"), null=True, blank=True, default=None
    )
    death_from_crs = models.BooleanField(_("death with CRS as the principal cause"), default=False)
    # Derived by adverse_events.derive with clinical.crs.
    grade = models.PositiveSmallIntegerField(_("ASTCT CRS grade"), null=True, editable=False)
    fever = models.BooleanField(_("fever (≥ 38.0 °C, no other cause)"), null=True, editable=False)
    fever_masked = models.BooleanField(
        _("fever not required (antipyretic, tocilizumab or steroid in the episode)"), null=True, editable=False
    )
    hypotension_grade = models.PositiveSmallIntegerField(_("grade from hypotension"), null=True, editable=False)
    hypoxia_grade = models.PositiveSmallIntegerField(_("grade from hypoxia"), null=True, editable=False)
    flags = CodeListField(
        _("flags for medical review"), default=list, editable=False, item_choices=CrsReviewFlag.choices
    )
    criteria = models.CharField(_("criteria"), max_length=20, blank=True, editable=False)
    study_day = models.IntegerField(_("study day"), null=True, editable=False)
    settings_version = models.PositiveIntegerField(_("protocol settings version"), null=True, editable=False)

    class Meta:
        verbose_name = _("CRS assessment")
        verbose_name_plural = _("CRS assessments")
        ordering = ["subject", "assessment_date", "assessment_time", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} CRS {self.assessment_date}"

    def clean(self) -> None:
        errors = crs_problems(self)
        if errors:
            raise ValidationError(errors)


class EpisodeBase(models.Model):
    """A CRS or ICANS episode derived from the assessments (CLINICAL_SPEC §1.3, §2.3).

    Numbered per subject in onset order. The derived fields are rewritten whenever the course
    is re-derived; an episode that no longer exists after a correction is kept, flagged
    `superseded` (no hard deletes). Site staff may record the grade the treating physician
    wrote in the source; a mismatch raises an automatic query, resolved by an investigator's
    adjudication with a reason. The adjudicated grade, when present, is the episode's grade.
    """

    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveSmallIntegerField(_("episode"))
    onset_date = models.DateField(_("onset date"))
    last_date = models.DateField(_("last day with grade ≥ 1"))
    onset_day = models.IntegerField(_("onset study day"))
    duration_days = models.PositiveSmallIntegerField(_("duration (days)"))
    resolved_date = models.DateField(_("resolved on"), null=True, blank=True)
    derived_grade = models.PositiveSmallIntegerField(_("derived grade"))
    criteria = models.CharField(_("criteria"), max_length=20)
    settings_version = models.PositiveIntegerField(_("protocol settings version"), null=True)
    superseded = models.BooleanField(_("no longer an episode after a correction"), default=False)
    source_grade = models.PositiveSmallIntegerField(
        _("grade in source"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    adjudicated_grade = models.PositiveSmallIntegerField(
        _("adjudicated grade"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    adjudication_reason = models.CharField(_("reason for the adjudicated grade"), max_length=300, blank=True)
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    adjudicated_at = models.DateTimeField(_("adjudicated at"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        abstract = True

    @property
    def grade(self) -> int:
        """The grade endpoints, the system-owned AE and DLT detection use (§1.3)."""
        return self.adjudicated_grade if self.adjudicated_grade is not None else self.derived_grade

    @property
    def ongoing(self) -> bool:
        return self.resolved_date is None


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class CrsEpisode(EpisodeBase):
    kind = "CRS"

    class Meta:
        verbose_name = _("CRS episode")
        verbose_name_plural = _("CRS episodes")
        ordering = ["subject", "number"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [models.UniqueConstraint(fields=["subject", "number"], name="one_crs_episode_number")]

    def __str__(self) -> str:
        return f"{self.subject} CRS episode {self.number}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class IcansEpisode(EpisodeBase):
    kind = "ICANS"

    class Meta:
        verbose_name = _("ICANS episode")
        verbose_name_plural = _("ICANS episodes")
        ordering = ["subject", "number"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]
        constraints = [models.UniqueConstraint(fields=["subject", "number"], name="one_icans_episode_number")]

    def __str__(self) -> str:
        return f"{self.subject} ICANS episode {self.number}"


class Instrument(models.TextChoices):
    ICE = "ice", _("ICE (adults and children who can do it)")
    CAPD = "capd", _("CAPD (young children)")


class EncephalopathyState(models.TextChoices):
    """CLINICAL_SPEC §2.1, §2.3: items scored, "not evaluable" (its own state, never 0), or
    unable to perform because of neurotoxicity (unarousable; grade 4)."""

    SCORED = "scored", _("Items scored")
    NOT_EVALUABLE_INTUBATED = "intubated", _("Not evaluable: intubated")
    NOT_EVALUABLE_SEDATED = "sedated_for_other_reason", _("Not evaluable: sedated for another reason")
    UNABLE = "unable", _("Unable to perform (unarousable)")


class Consciousness(models.TextChoices):
    ALERT = "alert", _("Alert")
    AWAKENS_SPONTANEOUSLY = "awakens_spontaneously", _("Awakens spontaneously")
    AWAKENS_TO_VOICE = "awakens_to_voice", _("Awakens to voice")
    AWAKENS_ONLY_TO_TOUCH = "awakens_only_to_touch", _("Awakens only to touch")
    UNAROUSABLE = "unarousable", _("Unarousable, or needs vigorous or repeated touch; stupor or coma")


class Seizure(models.TextChoices):
    NONE = "none", _("None")
    RESOLVING = (
        "resolving",
        _("Clinical seizure resolving rapidly, or non-convulsive on EEG resolving with intervention"),
    )
    PROLONGED_OR_REPEATED = (
        "prolonged_or_repeated",
        _("Life-threatening seizure > 5 min, or repeated seizures without return to baseline"),
    )


class MotorFinding(models.TextChoices):
    NONE = "none", _("None")
    DEEP_FOCAL_WEAKNESS = "deep_focal_weakness", _("Deep focal motor weakness (hemiparesis, paraparesis)")


class RaisedIcp(models.TextChoices):
    NONE = "none", _("None")
    FOCAL_OEDEMA = "focal_oedema", _("Focal / local oedema on imaging")
    DIFFUSE_OR_OTHER_SIGNS = (
        "diffuse_or_other_signs",
        _(
            "Diffuse oedema; decerebrate or decorticate posturing; cranial nerve VI palsy; "
            "papilloedema; Cushing's triad"
        ),
    )


class IcansDomainChoice(models.TextChoices):
    ENCEPHALOPATHY = "encephalopathy", _("Encephalopathy (ICE / CAPD)")
    CONSCIOUSNESS = "consciousness", _("Level of consciousness")
    SEIZURE = "seizure", _("Seizure")
    MOTOR = "motor", _("Motor findings")
    RAISED_ICP = "raised_icp", _("Raised ICP / cerebral oedema")


CAPD_RESPONSES = [
    (0, _("Never")),
    (1, _("Rarely")),
    (2, _("Sometimes")),
    (3, _("Often")),
    (4, _("Always")),
]


def _ice_item(label: str, maximum: int) -> models.PositiveSmallIntegerField:  # type: ignore[type-arg]
    return models.PositiveSmallIntegerField(
        label, null=True, blank=True, validators=[MaxValueValidator(maximum)], help_text=f"0–{maximum}"
    )


def _capd_item(label: str) -> models.PositiveSmallIntegerField:  # type: ignore[type-arg]
    return models.PositiveSmallIntegerField(label, null=True, blank=True, choices=CAPD_RESPONSES)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class IcansAssessment(CrfInstance):
    """One ICANS assessment (CLINICAL_SPEC §2): ICE items, or CAPD items for children younger
    than the protocol's age boundary (the instrument can be chosen per assessment), level of
    consciousness, seizures, motor findings and raised ICP / oedema, with the domains
    attributable to another cause. Items are stored, not only totals; "not evaluable" is a
    state of its own. The grade is recomputed by the save service (clinical.icans)."""

    crf_code = "ICANS"
    crf_title = _("ICANS assessment")
    casebook_order = 55
    clinical_date_field = "assessment_date"

    assessment_date = models.DateField(_("assessment date"))
    assessment_time = models.TimeField(_("time (site local)"), null=True, blank=True)
    instrument = models.CharField(
        _("instrument"),
        max_length=4,
        choices=Instrument.choices,
        blank=True,
        help_text=_("Leave empty for the protocol default by age (CAPD for young children)."),
    )
    encephalopathy_state = models.CharField(
        _("ICE / CAPD"), max_length=24, choices=EncephalopathyState.choices, default=EncephalopathyState.SCORED
    )
    language = models.CharField(_("language of testing"), max_length=30, blank=True)
    ice_orientation = _ice_item(_("ICE orientation (year, month, city, hospital)"), 4)
    ice_naming = _ice_item(_("ICE naming three objects"), 3)
    ice_following_commands = _ice_item(_("ICE following simple commands"), 1)
    ice_writing = _ice_item(_("ICE writing a standard sentence"), 1)
    ice_counting_backwards = _ice_item(_("ICE counting backwards from 100 by 10"), 1)
    capd_1 = _capd_item(_("CAPD 1: makes eye contact with the caregiver"))
    capd_2 = _capd_item(_("CAPD 2: actions are purposeful"))
    capd_3 = _capd_item(_("CAPD 3: aware of their surroundings"))
    capd_4 = _capd_item(_("CAPD 4: communicates needs and wants"))
    capd_5 = _capd_item(_("CAPD 5: restless"))
    capd_6 = _capd_item(_("CAPD 6: inconsolable"))
    capd_7 = _capd_item(_("CAPD 7: underactive, very little movement while awake"))
    capd_8 = _capd_item(_("CAPD 8: takes a long time to respond to interactions"))
    consciousness = models.CharField(
        _("level of consciousness"), max_length=24, choices=Consciousness.choices, default=Consciousness.ALERT
    )
    seizure = models.CharField(_("seizure"), max_length=24, choices=Seizure.choices, default=Seizure.NONE)
    motor = models.CharField(
        _("motor findings"), max_length=24, choices=MotorFinding.choices, default=MotorFinding.NONE
    )
    raised_icp = models.CharField(
        _("raised ICP / cerebral oedema"), max_length=24, choices=RaisedIcp.choices, default=RaisedIcp.NONE
    )
    other_cause = ArrayField(
        models.CharField(max_length=16, choices=IcansDomainChoice.choices),
        verbose_name=_("findings attributable to another cause"),
        default=list,
        blank=True,
        help_text=_("E.g. consciousness depressed by sedating drugs: those domains do not count."),
    )
    death_from_icans = models.BooleanField(_("death with ICANS as the principal cause"), default=False)
    # Derived by adverse_events.derive with clinical.icans.
    grade = models.PositiveSmallIntegerField(_("ASTCT ICANS grade"), null=True, editable=False)
    evaluable = models.BooleanField(_("evaluable"), null=True, editable=False)
    instrument_used = models.CharField(
        _("instrument used"), max_length=4, choices=Instrument.choices, blank=True, editable=False
    )
    instrument_total = models.PositiveSmallIntegerField(_("ICE / CAPD total"), null=True, editable=False)
    age_years = models.PositiveSmallIntegerField(_("age (years)"), null=True, editable=False)
    criteria = models.CharField(_("criteria"), max_length=20, blank=True, editable=False)
    study_day = models.IntegerField(_("study day"), null=True, editable=False)
    settings_version = models.PositiveIntegerField(_("protocol settings version"), null=True, editable=False)

    class Meta:
        verbose_name = _("ICANS assessment")
        verbose_name_plural = _("ICANS assessments")
        ordering = ["subject", "assessment_date", "assessment_time", "pk"]
        triggers = [pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.subject} ICANS {self.assessment_date}"

    def clean(self) -> None:
        errors = icans_problems(self)
        if errors:
            raise ValidationError(errors)
