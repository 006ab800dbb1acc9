from django.apps import AppConfig


class DataManagementConfig(AppConfig):
    name = "datamanagement"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "data management"

    def ready(self) -> None:
        # Declared hooks of the lower layer (DESIGN §3): a change to a form breaks the signatures
        # covering it; a lock asks the checklist first.
        from crf import services
        from datamanagement import checklist, signatures

        services.on_form_change(signatures.break_after_change)
        checklist.install()
