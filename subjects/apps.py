from django.apps import AppConfig

# Imports inside the functions below are the AppConfig idiom: Django loads this module before
# the app registry is ready, and the modules they import define or import models.


class SubjectsConfig(AppConfig):
    name = "subjects"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The forms' checks, derivations and services are in declarations.py (found by crf); here:
        # the visits' state after any form write, the schedule's consumer, the lock checklist, and
        # the hook points crf/ and datamanagement/ declare for what they need from subjects/
        # (crf/hooks.py, datamanagement/hooks.py; one left unregistered fails the checks).
        from crf import hooks as crf_hooks
        from datamanagement import hooks as dm_hooks

        # assessments and lock_checklist subscribe to crf's hooks when imported
        from subjects import assessments, checks, eligibility, lifecycle, lock_checklist, selectors  # noqa: F401
        from subjects.services import visits

        crf_hooks.site_today.register(visits.today_at_site)
        crf_hooks.procedure_before_consent.register(checks.procedure_before_consent)
        dm_hooks.subject_statuses.register(lifecycle.statuses)
        dm_hooks.criteria_not_met.register(eligibility.not_met)
        dm_hooks.visits_not_done.register(selectors.visits_not_done)
