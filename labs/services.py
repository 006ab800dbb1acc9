"""Writes of lab and vital-sign forms: through the one CRF save path (crf.services)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crf.services import save_form
from labs.models import VitalSigns

if TYPE_CHECKING:
    from study.models import User


def record_vital_signs(
    *, user: User, vital_signs: VitalSigns, expected_version: int | None = None, reason: str = ""
) -> VitalSigns:
    return save_form(user=user, instance=vital_signs, expected_version=expected_version, reason=reason)
