from django.apps import AppConfig


class AdverseEventsConfig(AppConfig):
    name = "adverse_events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The forms' derivations, checks, services and dependants are in declarations.py (found by
        # crf); here: the alerts' chain-break hook and the lock checklist's items.
        from adverse_events import alert_services, lock_checklist  # noqa: F401
