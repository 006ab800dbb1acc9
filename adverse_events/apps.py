from django.apps import AppConfig

# Imports inside the functions below are the AppConfig idiom: Django loads this module before
# the app registry is ready, and the modules they import define or import models.


class AdverseEventsConfig(AppConfig):
    name = "adverse_events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The forms' derivations, checks, services and dependants are in declarations.py (found by
        # crf); here: the alerts' chain-break hook and the lock checklist's items.
        from adverse_events import lock_checklist  # noqa: F401
        from adverse_events.services import alerts as alert_services

        # The safety half of data management's one notifications list (datamanagement/hooks.py;
        # one left unregistered fails the checks, datamanagement.E001).
        from datamanagement import hooks as dm_hooks

        dm_hooks.safety_notifications.register(alert_services.visible_notifications)
        dm_hooks.safety_alert_summary.register(alert_services.alert_summary)
        dm_hooks.mark_safety_notifications_read.register(alert_services.mark_notifications_read)

        # What subjects/ needs from the safety app: day 0 moved, the DLT monitor's view of a dose
        # level at enrolment, the casebook's ICAHT (subjects/hooks.py; check subjects.E001).
        from adverse_events import day0
        from adverse_events.services import dlt as dlt_services
        from adverse_events.services import icaht as icaht_services
        from subjects import hooks as subject_hooks

        subject_hooks.day0_moved.register(day0.rederive_from_day0)
        subject_hooks.dose_level_dlt.register(dlt_services.dose_level_dlt)
        subject_hooks.icaht_of.register(icaht_services.icaht_of)
