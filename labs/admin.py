"""Site reference ranges are configuration: kept by a superuser in the Django admin, saved
through the service so the results that use them are re-derived (DESIGN §6 "Django admin only
for superuser configuration")."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from labs.models import ReferenceRange
from labs.services import record_reference_range


@admin.register(ReferenceRange)
class ReferenceRangeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "site",
        "laboratory",
        "analyte",
        "sex",
        "age_from",
        "age_to",
        "unit",
        "lln",
        "uln",
        "effective_from",
    )
    list_filter = ("site", "analyte", "sex")

    def save_model(self, request: HttpRequest, obj: ReferenceRange, form: Any, change: bool) -> None:
        record_reference_range(
            user=request.user,  # type: ignore[arg-type]
            reference_range=obj,
            reason="changed in the admin" if change else "added in the admin",
        )

    def has_delete_permission(self, request: HttpRequest, obj: ReferenceRange | None = None) -> bool:
        return False  # a range in use is corrected, never removed (results point at its values)
