from django.apps import AppConfig


class SurvivalConfig(AppConfig):
    name = "survival"
    default_auto_field = "django.db.models.BigAutoField"
