"""Hook points: what crf/ needs from the apps above it (issue 23; DESIGN §3: a lower layer that
must react to a higher one does it through a declared hook, never an upward import).

The form core reads the subject rows through `study.subject_models`; behaviour of a higher app
comes through these hooks, each with exactly one implementation, registered by that app:

- `site_today(subject=…)`: the subject's site's calendar date, "today" of the date checks
  (`crf.services`; subjects: `subjects.services.visits.today_at_site`, through `site_today`).
- `procedure_before_consent(form=…, on=…, exempt=…)`: whether a form dated `on` lies before
  the subject's first informed consent (`crf.consent_checks`, the PROC-BEFORE-CONSENT query on
  every visit-bound form; subjects: `subjects.checks.procedure_before_consent`).
- `response_label_text(label=…)`: a derived response label ("CR MRD−") in the reader's language
  (`crf.display`, the shared renderer; response: `response.labels.response_label_text`).
- `celery_app()`: the project's Celery app, the one the outbox publishes through and whose
  tasks it accepts (`crf.outbox`, `manage.py outbox_relay`; trialsite registers it when
  `trialsite/celery.py` creates the app, not in an AppConfig: every process that loads the
  settings imports it first). `celery.current_app` is no substitute: tests make Celery apps of
  their own.

A hook nobody registered fails loudly, never skips: the system check `crf.E002` at start-up
and `study.hooks.HookNotRegistered` at its first call. The check is registered as this module
loads, as Django registers its own (every process loads it: `trialsite/celery.py` imports it).
"""

from __future__ import annotations

from django.core import checks

from study.hooks import Hook, unregistered

site_today = Hook("site_today", registered_by="subjects", declared_in="crf.hooks")
procedure_before_consent = Hook("procedure_before_consent", registered_by="subjects", declared_in="crf.hooks")
response_label_text = Hook("response_label_text", registered_by="response", declared_in="crf.hooks")
celery_app = Hook(
    "celery_app", registered_by="trialsite", declared_in="crf.hooks", registered_where="trialsite/celery.py"
)

HOOKS: tuple[Hook, ...] = (site_today, procedure_before_consent, response_label_text, celery_app)


@checks.register()
def system_check(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """crf.E002: every hook point of crf/ has its implementation."""
    return unregistered(HOOKS, check_id="crf.E002")
