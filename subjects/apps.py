from django.apps import AppConfig


class SubjectsConfig(AppConfig):
    name = "subjects"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The forms' checks, derivations and services are in declarations.py (found by crf); here:
        # the visits' state after any form write, the schedule's consumer, the lock checklist.
        from subjects import assessments, lock_checklist, visits  # noqa: F401
