"""One form class per CRF, built from the model, plus what every form page carries: the version
opened (for compare-and-set), the entry status chosen, the reason for change, and the
"not done / unknown" codes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crf.declarations import declaration_for
from crf.models import CrfInstance, EntryStatus, MissingCode
from crf.services import SYSTEM_FIELDS


class CrfFormBase(forms.ModelForm):  # type: ignore[type-arg]
    opened_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    mark_complete = forms.BooleanField(label=_("Mark this form complete"), required=False)
    reason = forms.CharField(
        label=_("Reason for change"),
        max_length=300,
        required=False,
        help_text=_("Required when you change a form that is complete."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model: type[CrfInstance] = self._meta.model
        instance: CrfInstance = self.instance
        # Only the fields of the record's own CRF version (crf.versions; a new record: the current one).
        for name in instance.hidden_fields:
            self.fields.pop(name, None)
        if "visit" in self.fields:
            visit_field = self.fields["visit"]
            visit_field.queryset = instance.subject.visits.select_related("definition")  # type: ignore[attr-defined]
            visit_field.label_from_instance = lambda v: f"{v.definition.code} · {v.definition.display_name}"  # type: ignore[attr-defined]
        for name, field in self.fields.items():
            # A link to another form (an MRD test's marrow assessment): only this subject's, in use.
            related = getattr(getattr(field, "queryset", None), "model", None)
            if name != "visit" and isinstance(related, type) and issubclass(related, CrfInstance):
                field.queryset = related._default_manager.filter(  # type: ignore[attr-defined]
                    subject=instance.subject, entered_in_error=False
                )
        if not self.is_bound:
            self.initial["opened_version"] = instance.version if instance.pk else None
            self.initial["mark_complete"] = instance.entry_status == EntryStatus.COMPLETE
        for name in model.missing_allowed:
            if name not in self.fields:
                continue
            self.fields[f"missing__{name}"] = forms.ChoiceField(
                label=_("%(field)s: not done / unknown") % {"field": model._meta.get_field(name).verbose_name},
                choices=[("", "—"), *MissingCode.choices],
                required=False,
                initial=(instance.missing or {}).get(name, ""),
            )
        for field in self.fields.values():
            if isinstance(field.widget, forms.DateInput):
                field.widget.input_type = "date"
                field.widget.format = "%Y-%m-%d"  # what <input type=date> needs, in every language
            if isinstance(field.widget, forms.DateTimeInput):
                field.widget.input_type = "datetime-local"
                field.widget.format = "%Y-%m-%dT%H:%M"
                field.input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]  # type: ignore[attr-defined]
                field.help_text = _("Site time (%(zone)s).") % {"zone": timezone.get_current_timezone_name()}
            if isinstance(field.widget, forms.TimeInput):
                field.widget.input_type = "time"
                field.widget.format = "%H:%M"
        # Each "not done / unknown" choice right after its field; completion and reason last.
        order = []
        for name in self.fields:
            if name.startswith("missing__") or name in ("mark_complete", "reason"):
                continue
            order.append(name)
            if f"missing__{name}" in self.fields:
                order.append(f"missing__{name}")
        self.order_fields([*order, "mark_complete", "reason"])

    def missing_codes(self) -> dict[str, str]:
        model: type[CrfInstance] = self._meta.model
        return {
            name: self.cleaned_data[f"missing__{name}"]
            for name in model.missing_allowed
            if name in self.fields and self.cleaned_data.get(f"missing__{name}")
        }


def form_class_for(model: type[CrfInstance]) -> type[CrfFormBase]:
    exclude = [*SYSTEM_FIELDS, "entry_status", "missing"]
    meta = type("Meta", (), {"model": model, "exclude": exclude})
    base = declaration_for(model).form_base or CrfFormBase  # its page needs more than the model gives
    return type(f"{model.__name__}Form", (base,), {"Meta": meta})


class ImportUploadForm(forms.Form):
    """Step 1 of the import page: which form, which file, and (optionally) its encoding."""

    crf_code = forms.ChoiceField(label=_("Form"))
    file = forms.FileField(label=_("CSV file"), help_text=_("Comma, semicolon or tab separated; one row per form."))
    encoding = forms.ChoiceField(
        label=_("Encoding"), required=False, help_text=_("Leave on “detect” unless the preview shows garbled text.")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from crf.csvfiles import ENCODINGS, MAX_BYTES
        from crf.registry import crf_models

        super().__init__(*args, **kwargs)
        self.max_bytes = MAX_BYTES
        ordered = sorted(crf_models().items(), key=lambda item: (item[1].casebook_order, item[0]))
        self.fields["crf_code"].choices = [(code, f"{code} · {model.crf_title}") for code, model in ordered]
        self.fields["crf_code"].widget.attrs["autofocus"] = True
        self.fields["encoding"].choices = [("", _("detect")), *ENCODINGS.items()]

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > self.max_bytes:
            raise forms.ValidationError(
                _("The file is larger than %(mb)s MB: split it.") % {"mb": self.max_bytes // 2**20}
            )
        return upload
