"""The language a user reads, for pages (`trialsite.middleware.UserLocaleMiddleware`), e-mails and
alerts, and the study's names in it (issue 25 item 4): `name_of(obj)` — the Chinese name
(`name_zh` / `title_zh`) for a Chinese reader when recorded, else the English one — for sites,
studies, schedule visits and dose levels; `dose_level_name(code, study)` — a dose level by its
code (study.DoseLevelName; the code itself when the study admin has not named it). Pages,
e-mails and PDFs show them through these (crf.display uses them too). Imports no model at
module level: the middleware module loads with the settings, before the app registry."""

from __future__ import annotations

import contextvars
from typing import Any

from django.conf import settings
from django.utils import translation

from clinical import ctcae_zh

#: How a blank shows on every page (crf.display too).
EMPTY = "—"

#: Dose-level names already read in this request, by study id (set per request by the
#: middleware, so a list of subjects costs one query per study; outside a request: no cache).
names_var: contextvars.ContextVar[dict[int, dict[str, Any]] | None] = contextvars.ContextVar(
    "display_names", default=None
)


def user_language(user) -> str:  # type: ignore[no-untyped-def]
    """The language a user reads: their own choice, else the default of their first site, else
    the installation's (pages, e-mails and alerts alike; issue 25)."""
    if user.language:
        return str(user.language)
    membership = user.memberships.filter(ended_at__isnull=True).select_related("site").order_by("pk").first()
    if membership is not None:
        return str(membership.site.default_language)
    return str(settings.LANGUAGE_CODE)


def is_chinese() -> bool:
    return (translation.get_language() or "").lower().startswith("zh")


def name_of(obj: Any) -> str:
    """A site's, study's, visit definition's or dose level's name in the reader's language."""
    if obj is None or obj == "":
        return EMPTY
    for english, chinese in (("name", "name_zh"), ("title", "title_zh"), ("label", "label_zh")):
        if hasattr(obj, english):
            if is_chinese() and getattr(obj, chinese, ""):
                return str(getattr(obj, chinese))
            return str(getattr(obj, english) or EMPTY)
    return str(obj)


def _study_id(study: Any) -> int | None:
    if study is None or study == "":
        return None
    if isinstance(study, int):
        return study
    return getattr(study, "pk", None)


def dose_level_names(study: Any) -> dict[str, Any]:
    """{code: DoseLevelName} of one study, read once per request."""
    from study.models import DoseLevelName

    study_id = _study_id(study)
    if study_id is None:
        return {}
    cache = names_var.get()
    if cache is not None and study_id in cache:
        return cache[study_id]
    names = {row.code: row for row in DoseLevelName.objects.filter(study_id=study_id)}
    if cache is not None:
        cache[study_id] = names
    return names


def dose_level_name(code: str | None, study: Any) -> str:
    """A dose level named in the reader's language ("Dose level 1" / "剂量组 1"); the code when
    the study has no name for it, "—" for none."""
    if not code:
        return EMPTY
    row = dose_level_names(study).get(code)
    return name_of(row) if row is not None else str(code)


def ctcae_term_label(term: str) -> str:
    """The English CTCAE term, with the project's Chinese name beside it for a Chinese reader:
    "Fever 发热" (the stored term stays English; clinical.ctcae_zh)."""
    chinese = ctcae_zh.chinese_name(term) if is_chinese() else None
    return f"{term} {chinese}" if chinese else term


def soc_label(soc: str) -> str:
    """A system organ class in the reader's language (the project's working translation)."""
    return (ctcae_zh.soc_chinese(soc) or soc) if is_chinese() else soc
