"""The "PDF casebook" panel of a subject's casebook page (issue 26 item 2): for a user who may
generate it (DESIGN §4a: investigator at the site, data manager, study admin), the request form
and the subject's latest documents. A tag, so `subjects/` does not import upward."""

from __future__ import annotations

from typing import Any

from django import template

from datamanagement import pdf_jobs
from datamanagement.forms import reader_pdf_language
from datamanagement.models import PdfKind, PdfLanguage
from study import access
from study.roles import Action

register = template.Library()


@register.inclusion_tag("datamanagement/_casebook_pdf_panel.html", takes_context=True)
def casebook_pdf_panel(context: Any, subject: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    allowed = user is not None and access.can(user, Action.CASEBOOK_PDF, site=subject.site)
    jobs = list(pdf_jobs.jobs_visible_to(user).filter(kind=PdfKind.CASEBOOK, subject=subject)[:5]) if allowed else []
    return {
        "allowed": allowed,
        "subject": subject,
        "jobs": jobs,
        "language": reader_pdf_language(),
        "choices": PdfLanguage.choices,
        "csrf_token": context.get("csrf_token"),
    }
