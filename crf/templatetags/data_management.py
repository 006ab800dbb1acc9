"""Template helpers of the data-management badges (issue 7)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def notes_for(notes: dict[str, Any], name: str) -> Any:
    """`fields|notes_for:field.name`: what the form page shows beside one field."""
    return notes.get(name) if notes else None
