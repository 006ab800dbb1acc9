"""Derived values stored on forms (DESIGN §4): each form's declaration names one function
(`derive=`, crf.declarations) that computes its derived fields from the instance and the
protocol settings in force on the form's clinical date. `crf.services.save_form` calls it on
every save; a new settings version calls it again for forms dated on or after the version's
effective date."""

from __future__ import annotations

from typing import Any

from crf.declarations import declaration_for, declarations
from crf.models import CrfInstance


def compute(instance: CrfInstance) -> dict[str, Any]:
    """The derived fields of `instance` as its declared function computes them (nothing set)."""
    func = declaration_for(type(instance)).derive
    return {} if func is None else func(instance)


def derive(instance: CrfInstance) -> dict[str, Any]:
    """Set the derived fields on `instance`; return {field: new value} for those that changed."""
    changed: dict[str, Any] = {}
    for name, value in compute(instance).items():
        if getattr(instance, name) != value:
            changed[name] = value
        setattr(instance, name, value)
    return changed


def derived_models() -> list[type[CrfInstance]]:
    return [d.model for d in declarations() if d.derive is not None]  # type: ignore[misc]
