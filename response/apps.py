from django.apps import AppConfig

# Imports inside the functions below are the AppConfig idiom: Django loads this module before
# the app registry is ready, and the modules they import define or import models.


class ResponseConfig(AppConfig):
    name = "response"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The forms' derivations, checks and services are in declarations.py (found by crf); here:
        # the label text crf's shared renderer shows through its hook (crf/hooks.py).
        from crf import hooks as crf_hooks
        from response import labels

        crf_hooks.response_label_text.register(labels.response_label_text)
