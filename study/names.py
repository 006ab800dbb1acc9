"""Names in both languages (issue 25 item 4): the study's title, its sites, its dose levels and
its schedule visits each carry an English and a Chinese name, edited by the study admin (DESIGN
§4a "study settings, schedule, dose levels, sites") on one page (`study.views.names`).

Every change is audited (the pghistory triggers of Study, Site, DoseLevelName and
VisitDefinition, inside `audit_context` with the admin and the reason). Once the study is live —
a subject is registered at one of its sites — a change needs a reason, as a new protocol
settings version does (`study.protocol.publish_settings`). Pages show the name in the reader's
language through `study.language.name_of` / `dose_level_name`; the API keeps the stored values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

from study import access
from study.audit_context import audit_context
from study.models import DoseLevelName, ProtocolSettings, Site, Study, VisitDefinition
from study.roles import Action

if TYPE_CHECKING:
    from study.models import User


@dataclass
class NameRow:
    """One named thing on the page: its form key ("site-3"), what it is, and the object holding
    (or, for a dose level not named yet, to hold) its names."""

    key: str
    kind: str
    code: str
    obj: models.Model
    english_field: str = "name"
    chinese_field: str = "name_zh"
    chinese_required: bool = False

    @property
    def english(self) -> str:
        return str(getattr(self.obj, self.english_field) or "")

    @property
    def chinese(self) -> str:
        return str(getattr(self.obj, self.chinese_field) or "")


def dose_level_codes(study: Study) -> list[str]:
    """Every dose level code any protocol settings version of the study has held (a level a
    later version dropped still names the subjects enrolled at it), in the order first seen."""
    codes: dict[str, None] = {}
    for values in ProtocolSettings.objects.filter(study=study).order_by("version").values_list("values", flat=True):
        for level in (values or {}).get("dose_levels", []) or []:
            code = level.get("code") if isinstance(level, dict) else None
            if code:
                codes[str(code)] = None
    for code in DoseLevelName.objects.filter(study=study).order_by("code").values_list("code", flat=True):
        codes[code] = None
    return list(codes)


def name_rows(study: Study) -> list[NameRow]:
    """What the names page lists, in page order: the study, its sites, dose levels, visits."""
    rows = [NameRow(f"study-{study.pk}", "study", study.code, study, "title", "title_zh")]
    rows += [NameRow(f"site-{s.pk}", "site", s.code, s) for s in Site.objects.filter(study=study).order_by("code")]
    named = {row.code: row for row in DoseLevelName.objects.filter(study=study)}
    for code in dose_level_codes(study):
        obj = named.get(code) or DoseLevelName(study=study, code=code, name=code, name_zh="")
        rows.append(NameRow(f"dose-{code}", "dose_level", code, obj))
    rows += [
        NameRow(f"visit-{v.pk}", "visit", v.code, v, chinese_required=True)
        for v in VisitDefinition.objects.filter(study=study).order_by("order")
    ]
    return rows


def is_live(study: Study) -> bool:
    """A subject is registered at one of the study's sites."""
    # through the sites' reverse relation: subjects/ sits above study/ (DESIGN §3)
    return Site.objects.filter(study=study, subjects__isnull=False).exists()


@transaction.atomic
def save_names(*, actor: User, study: Study, names: dict[str, tuple[str, str]], reason: str = "") -> list[NameRow]:
    """Write the changed names: `names` maps a row key (see `name_rows`) to (English, Chinese).
    Returns the rows that changed. Refuses (ValidationError, nothing saved) a blank English name,
    a blank Chinese visit name, a name too long, an unknown key, and a change to a live study
    without a reason; a user who may not administer the study gets PermissionDenied."""
    if not access.can_anywhere(actor, Action.ADMINISTER, study=study):
        raise PermissionDenied
    Study.objects.select_for_update().get(pk=study.pk)  # one editor at a time per study
    rows = {row.key: row for row in name_rows(study)}
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(names) - set(rows))
    if unknown:
        errors["__all__"] = [_("Unknown names: %(keys)s.") % {"keys": ", ".join(unknown)}]
    changed: list[NameRow] = []
    for key, (english, chinese) in names.items():
        row = rows.get(key)
        if row is None:
            continue
        english, chinese = (english or "").strip(), (chinese or "").strip()
        if (english, chinese) == (row.english, row.chinese):
            continue  # unchanged (a dose level left as its code gets no row)
        setattr(row.obj, row.english_field, english)
        setattr(row.obj, row.chinese_field, chinese)
        try:
            row.obj.full_clean()
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                suffix = "en" if field == row.english_field else "zh" if field == row.chinese_field else ""
                errors.setdefault(f"{key}-{suffix}" if suffix else "__all__", []).extend(messages)
            continue
        changed.append(row)
    reason = (reason or "").strip()
    if changed and not reason and is_live(study):
        errors["reason"] = [_("Subjects are registered in this study: give a reason for the change.")]
    if errors:
        raise ValidationError(errors)
    with audit_context(user=actor, reason=reason):
        for row in changed:
            row.obj.save()
    return changed
