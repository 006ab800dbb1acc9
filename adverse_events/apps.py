from django.apps import AppConfig


class AdverseEventsConfig(AppConfig):
    name = "adverse_events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registration of derivations, edit checks, save services and form bases (data, not signals).
        from adverse_events import alert_services, checks, derive, dlt_services, forms, services  # noqa: F401

        services.register_conmed_dependants()
