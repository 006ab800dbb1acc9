"""What the system writes for people, stored as a message code plus parameters (issue 25 item 3).

The code is the English message id as marked for translation (`gettext_noop` / the `_()` text in
the source), the parameters a JSON object. Both are the audited truth; the text a person reads
is rendered when shown, in the reader's language: `render(code, params)`.

- `compose(msgid, **params)` → `(code, params)` to store (values made JSON-safe: dates as
  YYYY-MM-DD, decimals as text) — call it where the system used to store `_(msgid) % params`.
- `message(msgid, **params)` → a `Message`: a `str` whose value is the English text (so code
  that only reads text keeps working) carrying `.code` and `.params` — what the system passes as
  an audit reason (`study.audit_context.audit_context` stores the code and parameters beside the text).
  A parameter that is itself a `Message` is stored nested as {"code", "params"}; a lazily
  translated label (a choice label) as {"code": its English text}: both render in the reader's
  language too.
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
from django.utils.functional import Promise
from django.utils.translation import gettext

_NAMED = re.compile(r"%\((\w+)\)[sd]")
#: Parameters that are whole numbers (a grade, an episode number, a study day): read back as
#: numbers, which also keeps "%(term)s %(grade)s" apart when a term has several words.
NUMERIC = frozenset({"grade", "n", "day"})


class Message(str):
    """A system message: the English text as a `str`, with its code and parameters."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, params: dict[str, Any]) -> Message:
        with translation.override("en"):
            text = render(code, params)
        made = super().__new__(cls, text)
        made.code = code
        made.params = params
        return made

    def strip(self, chars: str | None = None) -> str:
        """Itself when there is nothing to strip (services strip the reasons they are given:
        a system message stays a message)."""
        stripped = super().strip(chars)
        return self if stripped == str(self) else stripped


def message(msgid: str, **params: Any) -> Message:
    """One system message (an audit reason, a step text) to pass where text is expected."""
    return Message(*compose(msgid, **params))


def jsonable(value: Any) -> Any:
    if isinstance(value, Message):
        return {"code": value.code, "params": value.params}
    if isinstance(value, Promise):  # a lazily translated label: its msgid, the English text
        with translation.override("en"):
            return {"code": str(value), "params": {}}
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
    params = {  # a nested message renders in the same language first
        key: render(str(value["code"]), value.get("params")) if isinstance(value, dict) and "code" in value else value
        for key, value in params.items()
    }
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
