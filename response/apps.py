from django.apps import AppConfig


class ResponseConfig(AppConfig):
    name = "response"
    default_auto_field = "django.db.models.BigAutoField"
