from django.apps import AppConfig


class SubjectsConfig(AppConfig):
    name = "subjects"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registration of edit checks, derivations and save services (data, not signals).
        from subjects import assessments, checks, crf_forms, derive, lock_checklist, treatment, visits  # noqa: F401
