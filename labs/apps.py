from django.apps import AppConfig


class LabsConfig(AppConfig):
    name = "labs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registration of derivations and edit checks (data, not signals).
        from labs import checks, derive  # noqa: F401
