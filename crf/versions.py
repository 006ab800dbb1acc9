"""CRF versions (issue 27 item 3): each form declares the versions of its fields, and every
record keeps the version it was entered under (`CrfInstance.crf_version`).

A form lists its versions in `crf_versions`, oldest first; each says which fields it added and
which it removed (the columns stay, so older records keep their values). The newest is the
version new records are entered under. A record is shown, edited, verified, signed and served by
the API with the fields of its own version only: a record entered under 1.0 never shows a field
added in 1.1, a new record shows it. Exports name the versions in the define metadata and say,
for a variable collected from a field a version added, that earlier records have no value.

How to change a form: docs/architecture.md "How to change a form".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from django.utils.functional import Promise

    from crf.models import CrfInstance

FIRST = "1.0"


@dataclass(frozen=True)
class CrfVersion:
    """One version of a form: its number ("1.1"), the date it came in (ISO, as the migration that
    made it), the fields it added and removed, and a note for people (both languages)."""

    number: str
    effective: str = ""
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    note: str | Promise = ""


def key(number: str) -> tuple[int, ...]:
    """ "1.10" sorts after "1.9"."""
    return tuple(int(part) for part in number.split("."))


def versions_of(model: type[CrfInstance]) -> tuple[CrfVersion, ...]:
    return getattr(model, "crf_versions", None) or (CrfVersion(FIRST),)


def current(model: type[CrfInstance]) -> str:
    """The version a new record of `model` is entered under: the newest declared."""
    return versions_of(model)[-1].number


def hidden_fields(model: type[CrfInstance], number: str | None) -> frozenset[str]:
    """The fields a record of version `number` does not have: added by a later version, or
    removed by this one or an earlier one. None (a new record): the current version's."""
    wanted = key(number or current(model))
    hidden: set[str] = set()
    for version in versions_of(model):
        if key(version.number) > wanted:
            hidden.update(version.added)
        else:
            hidden.update(version.removed)
            hidden.difference_update(version.added)
    return frozenset(hidden)


def visible(model: type[CrfInstance], names: Iterable[str], number: str | None) -> list[str]:
    """`names` without the fields a record of version `number` does not have."""
    hidden = hidden_fields(model, number)
    return [name for name in names if name not in hidden]


def field_versions(model: type[CrfInstance]) -> dict[str, tuple[str | None, str | None]]:
    """{field: (version that added it or None, version that removed it or None)} for every
    field a version added or removed."""
    found: dict[str, tuple[str | None, str | None]] = {}
    for version in versions_of(model):
        for name in version.added:
            found[name] = (version.number, None)
        for name in version.removed:
            found[name] = (found.get(name, (None, None))[0], version.number)
    return found


def check(model: type[CrfInstance]) -> None:
    """Refuse a declaration that cannot be right: versions not ascending, the first not 1.0, a
    field named that the model does not have (a system check, crf/apps.py)."""
    versions = versions_of(model)
    numbers = [v.number for v in versions]
    try:
        keys = [key(n) for n in numbers]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{model.__name__}.crf_versions: a version is not like 1.0 ({numbers})") from exc
    if numbers[0] != FIRST or keys != sorted(set(keys)):
        raise ImproperlyConfigured(f"{model.__name__}.crf_versions must start at 1.0 and ascend: {numbers}")
    names = {f.name for f in model._meta.concrete_fields}
    for version in versions:
        unknown = [n for n in (*version.added, *version.removed) if n not in names]
        if unknown:
            raise ImproperlyConfigured(f"{model.__name__} CRF version {version.number} names no such field: {unknown}")


def system_check(app_configs: object = None, **kwargs: object) -> list[object]:
    """Django system check: every form's `crf_versions` declaration is sound."""
    from django.core.checks import Error

    from crf.registry import crf_models

    errors: list[object] = []
    for model in crf_models().values():
        try:
            check(model)
        except ImproperlyConfigured as exc:
            errors.append(Error(str(exc), obj=model, id="crf.E001"))
    return errors


def describe(model: type[CrfInstance]) -> str:
    """The form's versions in one English line, for define metadata:
    "CRF VS versions: 1.0; 1.1 (2026-12-06) added respiratory_rate." ("" for a form with one version)."""
    versions = versions_of(model)
    if len(versions) < 2:
        return ""
    parts = []
    for version in versions:
        text = version.number + (f" ({version.effective})" if version.effective else "")
        if version.added:
            text += " added " + ", ".join(version.added)
        if version.removed:
            text += (" and" if version.added else "") + " removed " + ", ".join(version.removed)
        parts.append(text)
    return f"CRF {model.crf_code} versions: " + "; ".join(parts) + "."


def added_field_note(model: type[CrfInstance], field_name: str, variable: str) -> str:
    """For a dataset note: the variable comes from a field a later CRF version added, so records
    entered under an earlier version have no value for it ("" when the field is in every version)."""
    added, removed = field_versions(model).get(field_name, (None, None))
    text = ""
    if added is not None:
        text = (
            f"{variable} comes from the field {field_name} added in CRF {model.crf_code} version {added}: "
            f"records entered under an earlier version have none (not collected, not missing)."
        )
    if removed is not None:
        text += f" {field_name} was removed in CRF {model.crf_code} version {removed}: later records have none."
    return text.strip()
