from django.apps import AppConfig

# Imports inside the functions below are the AppConfig idiom: Django loads this module before
# the app registry is ready, and the modules they import define or import models.


class ResponseConfig(AppConfig):
    name = "response"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registration of derivations, edit checks and save services (data, not signals), and of
        # the label text crf's shared renderer shows through its hook (crf/hooks.py).
        from crf import hooks as crf_hooks
        from response import checks, derive, labels, services  # noqa: F401

        crf_hooks.response_label_text.register(labels.response_label_text)
