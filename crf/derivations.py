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


def derive(instance: CrfInstance) -> dict[str, Any]:
    """Set the derived fields on `instance`; return {field: new value} for those that changed."""
    func = _registry.get(type(instance))
    if func is None:
        return {}
    changed: dict[str, Any] = {}
    for name, value in func(instance).items():
        if getattr(instance, name) != value:
            changed[name] = value
        setattr(instance, name, value)
    return changed


def derived_models() -> list[type[CrfInstance]]:
    return list(_registry)
