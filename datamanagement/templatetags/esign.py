"""Signature manifestations on pages (§11.50): printed name, date-time with its zone, meaning."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django import template

from datamanagement import signatures
from datamanagement.models import Signature
from study import access
from study.roles import Action

register = template.Library()


@register.filter
def signed_time(signature: Signature) -> str:
    """The signing time in the site's zone at signing, with the zone: 2026-03-02 14:05 (Asia/Shanghai, UTC+08:00)."""
    local = signature.signed_at.astimezone(ZoneInfo(signature.time_zone))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} ({signature.time_zone}, UTC{offset[:3]}:{offset[3:]})"


@register.inclusion_tag("datamanagement/_signatures.html", takes_context=True)
def signature_panel(context: Any, subject: Any, form: Any = None, visit: Any = None) -> dict[str, Any]:
    """The manifestations of the signatures covering a page (form, its visit, the casebook) and,
    for an investigator of the site, a link to sign it."""
    request = context.get("request")
    user = getattr(request, "user", None)
    found = signatures.signatures_on(subject=subject, form=form, visit=visit) if subject is not None else []
    may_sign = user is not None and subject is not None and access.can(user, Action.SIGN, site=subject.site)
    return {"signatures": found, "may_sign": may_sign, "subject": subject, "form": form, "visit": visit}
