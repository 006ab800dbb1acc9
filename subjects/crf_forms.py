"""Form pages of the subject CRFs that need more than the generic form (crf.forms): widget
attributes and page scripts. Validation stays on the models, so the API validates the same way."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from clinical.conmeds import ATC_PREFIXES
from crf.forms import CrfFormBase, form_base
from subjects.models import ConcomitantMedication


@form_base(ConcomitantMedication)
class ConcomitantMedicationFormBase(CrfFormBase):
    """The category is pre-filled live from the ATC code (static/js/conmed_category.js, the same
    prefix table as `clinical.conmeds`), until the coordinator picks one by hand; the model's
    `clean` pre-fills it again server-side when it is left empty."""

    class Media:
        js = ["js/conmed_category.js"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = {prefix: category.value for prefix, category in ATC_PREFIXES.items()}
        atc = self.fields["atc_code"].widget
        atc.attrs.update(
            {
                "data-atc-categories": json.dumps(table, sort_keys=True),
                "data-prefilled-note": str(_("Pre-filled from the ATC code; you may change it.")),
                "autocomplete": "off",
                "spellcheck": "false",
            }
        )
        category = self.fields["category"]
        category.widget.attrs["data-atc-category"] = "1"
        if isinstance(category, forms.ChoiceField):
            category.choices = [("", _("— choose —")), *[c for c in category.choices if c[0] != ""]]
