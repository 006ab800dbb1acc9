"""A service's refusal shown on the page that called it (STYLE habit 6, thin views; issue 23).

Services validate and raise `ValidationError`, keyed by the fields they name (DESIGN §2: every
write goes through a service). A view that called one hands the error to `apply_service_errors`
and re-renders its form: each message beside the field it names where the form shows that field,
the rest on top of the form. A message about a field the form does not show goes on top with the
field's label in front, so the reader knows what it is about.

It lives in `study/`, the lowest layer with Django (DESIGN §3), because the views of every app
use it, the study build pages included.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.forms.utils import pretty_name
from django.utils.text import capfirst
from django.utils.translation import gettext as _


def apply_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Put `error` (raised by a service) onto `form`. Keyed errors go beside the form's field of
    that name; unkeyed ones and `__all__` go on top; a key the form has no field for goes on top
    as "label: message" (`field_label`)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, errors in error.error_dict.items():
        if key in form.fields:
            form.add_error(key, errors)
        elif key in (NON_FIELD_ERRORS, None):
            form.add_error(None, errors)
        else:
            label = field_label(form, key)
            form.add_error(
                None,
                [
                    ValidationError(_("%(field)s: %(message)s") % {"field": label, "message": message}, code=one.code)
                    for one in errors
                    for message in one
                ],
            )


def field_label(form: forms.BaseForm, name: str) -> str:
    """What the reader calls the field `name` that `form` does not show: the verbose name of the
    form's model field (model forms), else the name made readable ("death_date" → "Death date")."""
    model = getattr(getattr(form, "_meta", None), "model", None)
    if model is not None:
        try:
            return str(capfirst(model._meta.get_field(name).verbose_name))
        except FieldDoesNotExist:
            pass
    return pretty_name(name)
