"""What the system writes for people, stored as a message code plus parameters (issue 25 item 3).

The code is the English message id as marked for translation (`gettext_noop` / the `_()` text in
the source), the parameters a JSON object. Both are the audited truth; the text a person reads
is rendered when shown, in the reader's language: `render(code, params)`.

- `compose(msgid, **params)` → `(code, params)` to store (values made JSON-safe: dates as
  YYYY-MM-DD, decimals as text) — call it where the system used to store `_(msgid) % params`.
- `render(code, params)` → the text in the active language (gettext of the code, then the
  parameters); a code the catalogue does not know reads in English.
- `parse(text)` → `(code, params)` of a text written before codes were stored, in English or
  in Chinese, by matching it against the messages it may be — used once by the data
  migrations that give existing rows their codes. Pure Django i18n, no app import, so
  migrations may call it.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.utils import translation
from django.utils.translation import gettext

_NAMED = re.compile(r"%\((\w+)\)[sd]")
#: Parameters that are whole numbers (a grade, an episode number, a study day): read back as
#: numbers, which also keeps "%(term)s %(grade)s" apart when a term has several words.
NUMERIC = frozenset({"grade", "n", "day"})


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):  # a nested message {"code": …, "params": …} (crf.display.render_message)
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


def compose(msgid: str, **params: Any) -> tuple[str, dict[str, Any]]:
    """The code and parameters to store for one system message."""
    return str(msgid), {name: jsonable(value) for name, value in params.items()}


def render(code: str, params: dict[str, Any] | None = None) -> str:
    """The message in the active language."""
    if not code:
        return ""
    text = gettext(code)
    if not params:
        return text
    try:
        return text % params
    except (KeyError, ValueError, TypeError):  # a translation missing a parameter: the English
        with translation.override("en"):
            try:
                return gettext(code) % params
            except (KeyError, ValueError, TypeError):
                return code


def _pattern(template: str) -> re.Pattern[str]:
    parts = []
    position = 0
    seen: set[str] = set()
    for found in _NAMED.finditer(template):
        parts.append(re.escape(template[position : found.start()].replace("%%", "%")))
        name = found.group(1)
        body = r"-?\d+" if name in NUMERIC else ".+?"
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>{body})")
        seen.add(name)
        position = found.end()
    parts.append(re.escape(template[position:].replace("%%", "%")))
    return re.compile("^" + "".join(parts) + "$", re.S)


def parse(text: str, *, candidates: tuple[str, ...]) -> tuple[str, dict[str, Any]] | None:
    """The code and parameters of a stored text written in English or Chinese, found among the
    `candidates` (msgids), or None when it matches none of them."""
    if not text:
        return None
    for msgid in candidates:
        with translation.override("zh-hans"):
            translated = gettext(msgid)
        for template in dict.fromkeys((msgid, translated)):
            if not _NAMED.search(template):
                if text == template:
                    return msgid, {}
                continue
            found = _pattern(template).match(text)
            if found:
                params = {k: int(v) if k in NUMERIC else v for k, v in found.groupdict().items()}
                return msgid, params
    return None


@cache
def _reverse(language: str) -> dict[str, str]:
    from django.utils.translation import trans_real

    catalog = trans_real.translation(language)._catalog  # type: ignore[attr-defined]
    return {text: msgid for msgid, text in catalog.items() if isinstance(msgid, str) and isinstance(text, str)}


def code_of(text: str) -> str | None:
    """The msgid of a stored text without parameters, written in English or Chinese; None when
    the catalogue does not hold it."""
    from django.utils.translation import trans_real

    if not text:
        return None
    if isinstance(trans_real.translation("zh-hans")._catalog.get(text), str):  # type: ignore[attr-defined]
        return text
    # Two msgids may share one Chinese text: either reads back the same in Chinese.
    return _reverse("zh-hans").get(text)


def in_reader_language(text: str) -> str:
    """A text the system wrote in one language (a system audit reason such as "Source data
    verified") in the active language when the catalogue holds it, else as written."""
    code = code_of(text)
    return gettext(code) if code else text
