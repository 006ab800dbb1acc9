"""Hook points: what datamanagement/ needs from the apps above it (issue 23; DESIGN §3: a lower
layer that must react to a higher one does it through a declared hook, never an upward import).

Data management reads the subject rows through `study.subject_models`; the subjects' vocabulary
and behaviour, and the safety alerts of the one notifications list, come through these hooks,
each with exactly one implementation registered by that app in its `AppConfig.ready`:

- `subject_statuses()`: the subject status vocabulary, a `TextChoices` in lifecycle order with
  `SCREEN_FAILED` among them (the sponsor's reports; subjects: `subjects.lifecycle.statuses`).
- `criteria_not_met(answers=…)`: the eligibility criteria the answers fail, each with its `code`
  and `text` (the screening log; subjects: `subjects.eligibility.not_met`).
- `visits_not_done(subjects=…)`: the visits not done of those of `subjects` still expected at
  visits (the digest's visit items; subjects: `subjects.selectors.visits_not_done`).
- `safety_notifications(user=…)`: the user's safety alert notifications they may see
  (`adverse_events.services.alerts.visible_notifications`);
  `safety_alert_summary(alert=…)`: an alert's summary in the reader's language
  (`adverse_events.services.alerts.alert_summary`);
  `mark_safety_notifications_read(user=…, ids=…, now=…)`: the user's own unread ones marked
  read, those of `ids` or all when `ids` is None; returns how many
  (`adverse_events.services.alerts.mark_notifications_read`).

A hook nobody registered fails loudly, never skips: the system check `datamanagement.E001` at
start-up and `study.hooks.HookNotRegistered` at its first call. The check is registered as this
module loads, as Django registers its own (`DataManagementConfig.ready` loads it with
`datamanagement.notifications`, the apps above with their registrations).
"""

from __future__ import annotations

from django.core import checks

from study.hooks import Hook, unregistered

subject_statuses = Hook("subject_statuses", registered_by="subjects", declared_in="datamanagement.hooks")
criteria_not_met = Hook("criteria_not_met", registered_by="subjects", declared_in="datamanagement.hooks")
visits_not_done = Hook("visits_not_done", registered_by="subjects", declared_in="datamanagement.hooks")
safety_notifications = Hook("safety_notifications", registered_by="adverse_events", declared_in="datamanagement.hooks")
safety_alert_summary = Hook("safety_alert_summary", registered_by="adverse_events", declared_in="datamanagement.hooks")
mark_safety_notifications_read = Hook(
    "mark_safety_notifications_read", registered_by="adverse_events", declared_in="datamanagement.hooks"
)

HOOKS: tuple[Hook, ...] = (
    subject_statuses,
    criteria_not_met,
    visits_not_done,
    safety_notifications,
    safety_alert_summary,
    mark_safety_notifications_read,
)


@checks.register()
def system_check(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """datamanagement.E001: every hook point of datamanagement/ has its implementation."""
    return unregistered(HOOKS, check_id="datamanagement.E001")
