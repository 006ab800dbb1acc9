"""The eligibility criteria of the demo protocol and the rule that makes a subject eligible:
every inclusion criterion met and no exclusion criterion met. Placeholders until the study
admin keeps the protocol's own criteria as settings (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Criterion:
    code: str
    inclusion: bool  # False: an exclusion criterion
    text: str | Promise


CRITERIA: tuple[Criterion, ...] = (
    Criterion("IN1", True, _("CD7-positive relapsed or refractory T-cell leukaemia or lymphoma")),
    Criterion("IN2", True, _("ECOG performance status 0–2")),
    Criterion("IN3", True, _("Adequate organ function as defined by the protocol")),
    Criterion("IN4", True, _("Informed consent signed by the subject or guardian")),
    Criterion("EX1", False, _("Active uncontrolled infection")),
    Criterion("EX2", False, _("Symptomatic central nervous system involvement")),
    Criterion("EX3", False, _("Pregnancy or breast-feeding")),
    Criterion("EX4", False, _("Prior CAR-T therapy within 3 months")),
)


def criteria_met(answers: dict[str, Any]) -> bool:
    """Eligible when every criterion is answered, every inclusion yes and every exclusion no."""
    return all(answers.get(c.code) is c.inclusion for c in CRITERIA)


def unanswered(answers: dict[str, Any]) -> list[str]:
    return [c.code for c in CRITERIA if not isinstance(answers.get(c.code), bool)]


def not_met(answers: dict[str, Any]) -> list[Criterion]:
    """The criteria the answers fail: an inclusion answered no, an exclusion answered yes
    (`datamanagement.hooks.criteria_not_met`, the screening log's "criteria not met")."""
    return [c for c in CRITERIA if c.code in answers and answers[c.code] is not c.inclusion]
