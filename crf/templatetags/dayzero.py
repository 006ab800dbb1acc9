"""Dates with their study day (DESIGN §4 "Dates and the Day-0 clock"): `{{ on|dated:day0 }}`
renders "2026-03-15 (day 0)". Pure formatting: no queries."""

from __future__ import annotations

from datetime import date

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

from clinical.schedule import study_day

register = template.Library()


@register.filter
def day_number(on: date | None, day0: date | None) -> int | None:
    if on is None or day0 is None:
        return None
    return study_day(on, day0)


@register.filter
def dated(on: date | None, day0: date | None) -> str:
    if not on:  # None, or "" from a missing visit (the casebook's "not linked to a visit" row)
        return "—"
    if day0 is None:
        return on.isoformat()
    return format_html('{} <span class="study-day">{}</span>', on.isoformat(), day_label(study_day(on, day0)))


@register.filter
def day_label(day: int | None) -> str:
    """ "day −1", "day 0", "day 14" (a true minus sign)."""
    if day is None:
        return ""
    return _("day %(day)s") % {"day": str(day).replace("-", "\u2212")}
