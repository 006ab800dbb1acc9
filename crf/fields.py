"""Reusable model fields of the CRF core."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from clinical.partial_dates import PartialDate, parse_partial_date


def validate_partial_date(value: str) -> None:
    try:
        parse_partial_date(value)
    except ValueError:
        raise ValidationError(
            _("Enter the date as YYYY-MM-DD, or YYYY-MM or YYYY when only the month or year is known."),
            code="partial_date",
        ) from None


class PartialDateField(models.CharField):  # type: ignore[type-arg]
    """A history date that may be partial (DESIGN §4): `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, stored
    as that ISO 8601 text. The form that holds one declares `<name>_imputed` and
    `<name>_imputation` beside it and sets them with `impute_partial_dates` in its `clean`
    (CLINICAL_SPEC §7: first day of the known period, flagged)."""

    default_validators = [validate_partial_date]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 10)
        kwargs.setdefault("help_text", _("YYYY-MM-DD; YYYY-MM or YYYY when only the month or year is known."))
        super().__init__(*args, **kwargs)

    def formfield(self, **kwargs: Any) -> Any:
        field = super().formfield(**kwargs)
        field.widget.attrs.setdefault("placeholder", "YYYY-MM-DD / YYYY-MM / YYYY")
        field.widget.attrs.setdefault("inputmode", "numeric")
        return field


def parsed(value: str) -> PartialDate | None:
    """The partial date of a stored value, or None when empty or invalid (validation reports it)."""
    if not value:
        return None
    try:
        return parse_partial_date(value)
    except ValueError:
        return None


def partial_date_derivation(instance: models.Model, name: str) -> dict[str, Any]:
    """`<name>_imputed` (first day of the known period) and `<name>_imputation` (ADaM flag: "M"
    month and day imputed, "D" day imputed, "" complete) for the partial date field `name`."""
    found = parsed(getattr(instance, name))
    return {
        f"{name}_imputed": None if found is None else found.earliest,
        f"{name}_imputation": "" if found is None else found.imputation.value,
    }


def impute_partial_dates(instance: models.Model, *names: str) -> None:
    """Set the analysis date and imputation flag of each partial date field named (from a
    model's `clean`, so every save path stores them with the typed text)."""
    for name in names:
        for field, value in partial_date_derivation(instance, name).items():
            setattr(instance, field, value)


class Imputation(models.TextChoices):
    NONE = "", _("complete date")
    DAY = "D", _("day imputed (first of the month)")
    MONTH = "M", _("month and day imputed (1 January)")


def imputed_date_field(label: Any) -> models.DateField:  # type: ignore[type-arg]
    return models.DateField(label, null=True, editable=False)


def imputation_flag_field(label: Any) -> models.CharField:  # type: ignore[type-arg]
    return models.CharField(label, max_length=1, choices=Imputation.choices, blank=True, editable=False)


class CodeListField(models.JSONField):  # type: ignore[type-arg]
    """A JSON list of codes the system derives (e.g. a CRS assessment's flags for medical review),
    whose items carry labels: `base_field` holds the item choices, so the display layer shows
    each code by its label in the reader's language, as for an ArrayField (issue 25 item 3).
    Stored and migrated as a plain JSONField."""

    def __init__(self, *args: Any, item_choices: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base_field = models.CharField(max_length=100, choices=item_choices)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs


# --- what a field is, for the ODM export and the blank/annotated CRF --------------------------------
# One place for both mappings (they were two if-chains): the first row whose classes the field is
# an instance of wins, so a subclass comes before its base (DateTimeField before DateField).

FieldTypes = tuple[tuple[type[Any] | tuple[type[Any], ...], str], ...]

#: model field class → ODM 1.3.2 DataType (exports/odm.py); anything else is "text" (CharField,
#: TextField, JSON as JSON text, ArrayField as a JSON list)
ODM_DATA_TYPES: FieldTypes = (
    (PartialDateField, "partialDate"),
    (models.BooleanField, "boolean"),
    ((models.IntegerField, models.ForeignKey, models.AutoField), "integer"),
    (models.DecimalField, "float"),
    (models.FloatField, "double"),
    (models.DateTimeField, "datetime"),
    (models.DateField, "date"),
    (models.TimeField, "time"),
)

#: entry-form field class → the box drawn for it on the CRF pages of PDFs (datamanagement/pdfs.py);
#: anything else (a ModelChoiceField among them) is a "text" line
PAPER_KINDS: FieldTypes = (
    (forms.BooleanField, "check"),
    (forms.MultipleChoiceField, "multiple"),
    (forms.ModelChoiceField, "text"),
    (forms.ChoiceField, "choice"),
    (forms.DateTimeField, "datetime"),
    (forms.DateField, "date"),
    ((forms.IntegerField, forms.DecimalField, forms.FloatField), "number"),
)


def type_of(field: object, table: FieldTypes, default: str = "text") -> str:
    """The name `table` gives `field` (first matching row), else `default`."""
    return next((name for classes, name in table if isinstance(field, classes)), default)
