from django.apps import AppConfig


class StudyConfig(AppConfig):
    name = "study"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of knox's views (drf-spectacular extensions).
        from study import api  # noqa: F401
