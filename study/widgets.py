"""Date and time inputs that keep their value in every language.

`<input type=date>` and `<input type=datetime-local>` accept ISO values only; Django renders a
value in the active language's first input format ("2026/12/07" in Chinese), which the browser
drops: the field shows empty, and a form re-shown after an error loses what was typed. These
widgets always render ISO."""

from __future__ import annotations

from typing import Any

from django import forms


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")
