from django.apps import AppConfig


class SurvivalConfig(AppConfig):
    name = "survival"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registration of edit checks and save services (data, not signals).
        from survival import checks, services  # noqa: F401
