from django.apps import AppConfig


class AdverseEventsConfig(AppConfig):
    name = "adverse_events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registration of derivations, edit checks, save services and form bases (data, not signals).
        from adverse_events import (  # noqa: F401
            alert_services,
            checks,
            derive,
            dlt_services,
            forms,
            icaht_services,
            lock_checklist,
            services,
            toxicity_derive,
        )

        services.register_conmed_dependants()
        icaht_services.register_icaht_dependants()
