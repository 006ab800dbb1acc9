from django.apps import AppConfig


class DataManagementConfig(AppConfig):
    name = "datamanagement"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "data management"
