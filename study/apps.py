from django.apps import AppConfig


class StudyConfig(AppConfig):
    name = "study"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A hook point of study/ that no app implemented fails at start-up (study/hooks.py).
        from django.core import checks

        from study import hooks

        checks.register(hooks.system_check)
