from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "background jobs"

    def ready(self) -> None:
        from django.core import checks

        from jobs.kinds import check_every_job_model_declared

        checks.register(check_every_job_model_declared)
