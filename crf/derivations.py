"""Derived values stored on forms (DESIGN §4): each form type registers one function that
computes its derived fields from the instance and the protocol settings in force on the form's
clinical date. `crf.services.save_form` calls it on every save; a new settings version calls it
again for forms dated on or after the version's effective date."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crf.models import CrfInstance

Derive = Callable[[CrfInstance], dict[str, Any]]

_registry: dict[type[CrfInstance], Derive] = {}


def register(model: type[CrfInstance]) -> Callable[[Derive], Derive]:
    def decorator(func: Derive) -> Derive:
        _registry[model] = func
        return func

    return decorator


def compute(instance: CrfInstance) -> dict[str, Any]:
    """The derived fields of `instance` as its registered function computes them (nothing set)."""
    func = _registry.get(type(instance))
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
    return list(_registry)
