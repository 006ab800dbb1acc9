"""API instants must carry their UTC offset (DESIGN §4 "Instants are UTC", sites have a time
zone: study.models.Site.time_zone). A datetime without offset ("2026-03-20T08:30:00") is
ambiguous for a multi-site study: DRF would read it in the server zone (UTC) and a site in
UTC+8 would store an infusion eight hours off without noticing. A clinical API refuses it with
a field-level 400 instead of guessing.

`AwareDateTimeField` is the one DateTimeField of the API: `install()` (trialsite app ready)
makes every ModelSerializer map model DateTimeFields to it; hand-declared serializer fields use
it directly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

OFFSET_HELP = "ISO 8601 with its UTC offset, e.g. 2026-03-20T08:30:00+08:00; a time without offset is refused."


class AwareDateTimeField(serializers.DateTimeField):
    default_error_messages = {
        "naive": _("Give the time with its UTC offset, e.g. 2026-03-20T08:30:00+08:00."),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        help_text = kwargs.get("help_text")
        if not kwargs.get("read_only") and "zone" not in str(help_text or ""):
            kwargs["help_text"] = f"{help_text} ({OFFSET_HELP})" if help_text else OFFSET_HELP
        super().__init__(*args, **kwargs)

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            if timezone.is_naive(value):
                self.fail("naive")
        elif isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        return super().to_internal_value(value)


def install() -> None:
    """Every ModelSerializer (form resources, queries, exports…) reads model DateTimeFields
    through AwareDateTimeField."""
    serializers.ModelSerializer.serializer_field_mapping[models.DateTimeField] = AwareDateTimeField
