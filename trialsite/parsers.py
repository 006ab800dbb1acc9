"""The API's JSON parser (issue 21): a body nested deeper than any real payload, or holding a NUL
character (which PostgreSQL text and jsonb cannot store), is a 400 with a reason, not a 500."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

#: deeper than any payload of the API (a form with repeated groups is ~5 levels)
MAX_DEPTH = 32


def check_value(value: Any) -> None:
    """Refuse nesting beyond MAX_DEPTH and NUL characters in keys or strings (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(_("JSON nested deeper than %(depth)s levels.") % {"depth": MAX_DEPTH})
        if isinstance(item, str):
            if "\x00" in item:
                raise ParseError(_("Text may not contain NUL characters."))
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    raise ParseError(_("Text may not contain NUL characters."))
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON nested deeper than %(depth)s levels.") % {"depth": MAX_DEPTH}) from None
        check_value(data)
        return data
