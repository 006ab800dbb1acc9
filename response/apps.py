from django.apps import AppConfig


class ResponseConfig(AppConfig):
    name = "response"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registration of derivations, edit checks and save services (data, not signals).
        from response import checks, derive, services  # noqa: F401
