from django.apps import AppConfig


class EndpointsConfig(AppConfig):
    name = "endpoints"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from endpoints.services import RUN_JOB
        from jobs.kinds import register

        register(RUN_JOB)  # the stuck-job sweeps cover endpoint runs (jobs.services)
