"""Hook points: what subjects/ needs from adverse_events/, above it (issue 23; DESIGN §3: a lower
layer that must react to a higher one does it through a declared hook, never an upward import).

The safety app counts from the subject's day 0 and keeps the DLT monitor; subjects/ moves day 0
(the infusion) and enrols subjects at a dose level. Each hook point has exactly one
implementation, registered by adverse_events in its `AppConfig.ready`:

- `day0_moved(user=…, subject=…, reason=…)`: day 0 of `subject` changed (an infusion saved,
  corrected or entered in error; `subjects.services.treatment.reanchor_day0`): re-derive, in the caller's
  transaction and audited with `reason`, what is counted from day 0 — the CRS and ICANS courses,
  ICAHT, the DLT candidates (`adverse_events.day0.rederive_from_day0`).
- `dose_level_dlt(study=…, dose_level=…)`: the level's DLT decision as the monitor last recorded
  it and its candidates awaiting adjudication, a `DoseLevelDlt` (the enrolment page, §3.1;
  `adverse_events.services.dlt.dose_level_dlt`).
- `icaht_of(subject=…)`: the subject's derived ICAHT (§4.1) or None (the casebook's ICAHT line;
  `adverse_events.services.icaht.icaht_of`).

A hook nobody registered fails loudly, never skips: the system check `subjects.E001` at start-up
and `study.hooks.HookNotRegistered` at its first call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core import checks

from study.hooks import Hook, unregistered


@dataclass(frozen=True)
class AwaitingCandidate:
    """A candidate DLT of the level awaiting the investigator's adjudication."""

    subject_pk: int
    subject_id: str
    #: the DLT criterion in the reader's language
    criterion: str
    onset_day: int


@dataclass(frozen=True)
class DoseLevelDlt:
    """What the DLT monitor holds about one dose level (CLINICAL_SPEC §3.1)."""

    #: the level's decision code as the monitor last recorded it ("" before any)
    decision: str = ""
    decision_changed_at: datetime | None = None
    #: oldest first
    awaiting: tuple[AwaitingCandidate, ...] = field(default_factory=tuple)


day0_moved = Hook("day0_moved", registered_by="adverse_events", declared_in="subjects.hooks")
dose_level_dlt = Hook("dose_level_dlt", registered_by="adverse_events", declared_in="subjects.hooks")
icaht_of = Hook("icaht_of", registered_by="adverse_events", declared_in="subjects.hooks")

HOOKS: tuple[Hook, ...] = (day0_moved, dose_level_dlt, icaht_of)


@checks.register()
def system_check(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """subjects.E001: every hook point of subjects/ has its implementation."""
    return unregistered(HOOKS, check_id="subjects.E001")
