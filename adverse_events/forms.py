"""Form bases of the safety CRFs (the `form_base` of their declarations): the CTCAE term picker, the
vasopressor and "other cause" lists as checkboxes, and the episode forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from adverse_events.derive import icans_settings, subject_age
from adverse_events.grade_course import GradeCourseField
from adverse_events.models import IcansAssessment, IcansDomainChoice, IecHsTreatment, Vasopressor
from adverse_events.rules import CAPD_FIELDS, ICE_FIELDS
from clinical import crs as crs_rules
from clinical import icans as icans_rules
from crf.forms import CrfFormBase
from labs.models import VitalSigns
from study.protocol import settings_picker


class TermPickerInput(forms.TextInput):
    """A text box that searches CTCAE v5.0 terms on the server as the user types (by term, SOC
    or MedDRA code) and offers them as a keyboard-usable list (static/js/term_picker.js)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={
                "data-term-picker": reverse_lazy("adverse_events:ctcae_terms"),
                "autocomplete": "off",
                "role": "combobox",
                "aria-autocomplete": "list",
                "aria-expanded": "false",
                **(attrs or {}),
            }
        )


class AdverseEventFormBase(CrfFormBase):
    class Media:
        js = ["js/term_picker.js"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ctcae_term"].widget = TermPickerInput()
        self.fields["grade"].widget = forms.NumberInput(attrs={"min": 1, "max": 5})
        if "grade_course" in self.fields:  # the dated course of the grade (issue 30)
            model_field = self.fields["grade_course"]
            self.fields["grade_course"] = GradeCourseField(
                label=model_field.label, help_text=model_field.help_text, required=False
            )
            self.fields["grade"].required = False
            self.fields["grade"].help_text = _("The highest grade; filled from the course when you give one.")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        course = cleaned.get("grade_course") or []
        grades = [entry["grade"] for entry in course]
        if grades:
            cleaned["grade"] = max(grades)
        elif cleaned.get("grade") in (None, "") and "grade" not in self.errors:
            self.add_error("grade", _("Give the grade, or the course of the grade."))
        return cleaned


class LiveGradeMedia:
    js = ["django_htmx/htmx-2.min.js"]


def vitals_prefill(subject: Any, on: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """What a new CRS assessment copies from that day's vital signs (issue 24 item 4): the
    highest temperature, hypotension when the lowest systolic pressure was hypotensive, and the
    highest oxygen support with its flow; with, per field, where each value came from."""
    rows = list(
        VitalSigns.objects.filter(subject=subject, assessment_date=on, entered_in_error=False).order_by(
            "assessment_time", "pk"
        )
    )
    initial: dict[str, Any] = {}
    sources: dict[str, str] = {}

    zone = subject.site.time_zone

    def at(row: Any) -> str:
        if row.assessment_time is None:
            return str(_("time not recorded"))
        return f"{row.assessment_time.strftime('%H:%M')} ({zone})"

    hot = [r for r in rows if r.temperature_c is not None]
    if hot:
        top = max(hot, key=lambda r: r.temperature_c)
        initial["tmax_c"] = top.temperature_c
        sources["tmax_c"] = _("From vital signs: %(value)s °C at %(time)s.") % {
            "value": top.temperature_c,
            "time": at(top),
        }
    pressures = [r for r in rows if r.systolic_bp is not None]
    if pressures:
        low = min(pressures, key=lambda r: r.systolic_bp)
        initial["hypotension"] = bool(low.hypotension)
        sources["hypotension"] = _("From vital signs: lowest systolic pressure %(value)s mmHg at %(time)s.") % {
            "value": low.systolic_bp,
            "time": at(low),
        }
    if rows:
        # one device list for both forms: the highest support by its ASTCT grade (clinical.crs),
        # then by the list's order, then by flow
        order = list(crs_rules.OxygenDevice)

        def support(row: Any) -> tuple[int, int, Any]:
            device = crs_rules.OxygenDevice(row.oxygen_device)
            try:
                grade = crs_rules.oxygen_support_grade(device, row.oxygen_flow_l_min)
            except ValueError:  # a cannula without its flow (queried on the vital signs)
                grade = 2
            return grade, order.index(device), row.oxygen_flow_l_min or 0

        best = max(rows, key=support)
        initial["oxygen_device"] = best.oxygen_device
        initial["oxygen_flow_l_min"] = best.oxygen_flow_l_min
        sources["oxygen_device"] = _("From vital signs: %(device)s at %(time)s.") % {
            "device": best.get_oxygen_device_display(),
            "time": at(best),
        }
    return initial, sources


def attribution_field(label: Any) -> forms.TypedChoiceField:
    """A yes/no that starts empty (issue 24 item 3: no pre-selected answer to a question that
    feeds the grade); the model's clean requires it when there is a finding (§1.2 d)."""
    return forms.TypedChoiceField(
        label=capfirst(label),
        choices=[("True", _("Yes")), ("False", _("No"))],
        coerce=lambda value: value == "True",
        empty_value=None,
        widget=forms.RadioSelect,
        required=False,
        help_text=_("Asked whenever the finding is present; nothing is pre-selected."),
    )


class CrsAssessmentFormBase(CrfFormBase):
    hypotension_attributable_to_crs = attribution_field(_("hypotension attributable to CRS"))
    hypoxia_attributable_to_crs = attribution_field(_("hypoxia attributable to CRS"))
    vasopressors = forms.MultipleChoiceField(
        label=capfirst(_("vasopressors in use")),
        choices=Vasopressor.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Tick every agent in use: several non-vasopressin agents are grade 4."),
    )
    Media = LiveGradeMedia

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance
        visit = instance.visit
        on = (visit.visit_date or visit.planned_date) if visit is not None else None
        if self.is_bound or instance.pk is not None or on is None:
            return
        # a new assessment entered at a visit starts from that day's vital signs (a copy, editable)
        initial, sources = vitals_prefill(instance.subject, on)
        self.initial["assessment_date"] = self.initial.get("assessment_date") or on
        self.initial.update(initial)
        for name, text in sources.items():
            field = self.fields.get(name)
            if field is not None:
                field.help_text = f"{field.help_text} {text}".strip()


class IcansAssessmentFormBase(CrfFormBase):
    other_cause = forms.MultipleChoiceField(
        label=capfirst(_("findings attributable to another cause")),
        choices=IcansDomainChoice.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("E.g. consciousness depressed by sedating drugs: those domains do not count."),
    )

    class Media:
        js = [*LiveGradeMedia.js, "js/icans_instrument.js"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Only the chosen instrument's items are shown (issue 24 §6: no CAPD items beside ICE);
        with no choice, the protocol default for the subject's age today (§2.3), when known."""
        super().__init__(*args, **kwargs)

        for name in ICE_FIELDS.values():
            if name in self.fields:
                self.fields[name].widget.attrs["data-instrument-item"] = "ice"
        for name in CAPD_FIELDS:
            if name in self.fields:
                self.fields[name].widget.attrs["data-instrument-item"] = "capd"
        if "instrument" in self.fields:
            default = _default_instrument(self.instance)
            self.fields["instrument"].widget.attrs["data-instrument-choice"] = default or ""


def _default_instrument(instance: IcansAssessment) -> str | None:
    """The instrument §2.3 picks for the subject's age on the form's date (today for a new form);
    None when the date of birth is not recorded."""
    subject = instance.subject
    on = instance.assessment_date or timezone.localdate()
    age = subject_age(subject, on)
    if age is None:
        return None
    _row, choices = settings_picker(subject.site.study_id)(on)
    return str(icans_rules.default_instrument(age_years=age, settings=icans_settings(choices)))


class SourceGradeForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    source_grade = forms.IntegerField(label=capfirst(_("grade in source")), min_value=1, max_value=5, required=False)
    reason = forms.CharField(label=_("Reason for change"), max_length=300, required=False)


class AdjudicationForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    grade = forms.IntegerField(label=capfirst(_("adjudicated grade")), min_value=1, max_value=5)
    reason = forms.CharField(label=capfirst(_("reason for the adjudicated grade")), max_length=300)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # its own ids beside the source-grade form on the episode page (one id_reason, issue 24)
        kwargs.setdefault("auto_id", "adjudication_%s")
        super().__init__(*args, **kwargs)


# --- cell-therapy toxicity forms (CLINICAL_SPEC §4) ---------------------------------------------


class GvhdStagingFormBase(CrfFormBase):
    """MAGIC staging with the organ stages and overall grade shown live (§4.3)."""

    Media = LiveGradeMedia


class IecHsFormBase(CrfFormBase):
    treatments = forms.MultipleChoiceField(
        label=capfirst(_("treatments")),
        choices=IecHsTreatment.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )


class InfectionFormBase(CrfFormBase):
    class Media:
        js = ["js/term_picker.js"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ctcae_term"].widget = TermPickerInput()
        self.fields["grade"].widget = forms.NumberInput(attrs={"min": 1, "max": 5})
