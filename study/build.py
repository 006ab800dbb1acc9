"""Study build (issue 27 item 1): the study admin's writes to the study's sites (DESIGN §4a "study
settings, schedule, dose levels, sites": study admin only).

Every write runs inside `audit_context` (the pghistory triggers of `Site` record who, when and
why). Once the study is live — a subject is registered at one of its sites, `study.names.is_live`
— a change needs a reason, as on the names page. A site's time zone is fixed once it has
subjects: their study days and instants are read in it (DESIGN §4 "Dates and the Day-0 clock").
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import available_timezones

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from study import access
from study.audit_context import audit_context
from study.models import Site, Study
from study.names import is_live
from study.roles import Action
from study.system_text import message

if TYPE_CHECKING:
    from study.models import User

#: ISO 3166-1 alpha-2 codes a site may be in, named in the reader's language.
COUNTRIES = {
    "CN": gettext_lazy("China"),
    "HK": gettext_lazy("Hong Kong SAR, China"),
    "MO": gettext_lazy("Macao SAR, China"),
    "TW": gettext_lazy("Taiwan, China"),
    "SG": gettext_lazy("Singapore"),
    "JP": gettext_lazy("Japan"),
    "KR": gettext_lazy("Republic of Korea"),
    "AU": gettext_lazy("Australia"),
    "US": gettext_lazy("United States"),
    "CA": gettext_lazy("Canada"),
    "GB": gettext_lazy("United Kingdom"),
    "DE": gettext_lazy("Germany"),
    "FR": gettext_lazy("France"),
    "IT": gettext_lazy("Italy"),
    "ES": gettext_lazy("Spain"),
    "NL": gettext_lazy("Netherlands"),
}

SITE_FIELDS = (
    "code",
    "name",
    "name_zh",
    "time_zone",
    "country",
    "active_from",
    "active_to",
    "subject_prefix",
    "default_language",
)


def time_zones() -> list[str]:
    """Every IANA time zone this installation knows, sorted (the site's zone is one of them)."""
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def require_admin(actor: User, study: Study) -> None:
    if not access.can_anywhere(actor, Action.ADMINISTER, study=study):
        raise PermissionDenied


def reason_needed(study: Study, reason: str) -> str:
    """The stripped reason; refused when blank once the study is live."""
    reason = (reason or "").strip()
    if not reason and is_live(study):
        raise ValidationError({"reason": _("Subjects are registered in this study: give a reason for the change.")})
    return reason


def site_has_subjects(site: Site) -> bool:
    # through the reverse relation: subjects/ sits above study/ (DESIGN §3)
    return site.subjects.exists()


@transaction.atomic
def save_site(
    *,
    actor: User,
    study: Study,
    site: Site | None,
    code: str,
    name: str,
    name_zh: str,
    time_zone: str,
    country: str,
    active_from: date | None,
    active_to: date | None,
    subject_prefix: str,
    default_language: str,
    reason: str = "",
) -> Site:
    """Add a site to the study (`site` None) or change one of its sites. Refuses (ValidationError
    with the field, nothing saved) an unknown time zone or country, a code already used, active
    dates the wrong way round, a changed time zone at a site that has subjects, and a change to a
    live study without a reason."""
    require_admin(actor, study)
    Study.objects.select_for_update().get(pk=study.pk)  # one editor at a time per study
    errors: dict[str, list[str]] = {}
    if time_zone not in available_timezones():
        errors["time_zone"] = [_("Unknown time zone.")]
    if country and country not in COUNTRIES:
        errors["country"] = [_("Unknown country.")]
    if site is not None:
        site = Site.objects.select_for_update().get(pk=site.pk, study=study)
        if site.time_zone != time_zone and site_has_subjects(site):
            errors["time_zone"] = [
                _(
                    "Subjects are registered at this site: its time zone is fixed "
                    "(their study days and times are read in it)."
                )
            ]
    if Site.objects.filter(study=study, code=code.strip()).exclude(pk=getattr(site, "pk", None)).exists():
        errors["code"] = [_("Another site of this study has this code.")]
    if active_from and active_to and active_to < active_from:
        errors["active_to"] = [_("The end of activity cannot be before its start.")]
    try:
        reason = reason_needed(study, reason)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    row = site or Site(study=study)
    values = {
        "code": code.strip(),
        "name": name.strip(),
        "name_zh": name_zh.strip(),
        "time_zone": time_zone,
        "country": country,
        "active_from": active_from,
        "active_to": active_to,
        "subject_prefix": subject_prefix.strip(),
        "default_language": default_language,
    }
    if site is not None and all(getattr(site, k) == v for k, v in values.items()):
        return site
    for key, value in values.items():
        setattr(row, key, value)
    row.full_clean()
    why = reason or message(gettext_noop("site added"))
    with audit_context(user=actor, site=row if site is not None else None, reason=why):
        row.save()
    return row
