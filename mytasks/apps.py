from django.apps import AppConfig


class MyTasksConfig(AppConfig):
    """My tasks (issue 31 item 2): reads only — no models, no migrations."""

    name = "mytasks"
    verbose_name = "my tasks"
