import os

from celery import Celery

from crf import hooks as crf_hooks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")

app = Celery("trialsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@crf_hooks.celery_app.register
def project_app() -> Celery:
    """`crf.hooks.celery_app`: the outbox (crf/, below trialsite/) publishes through this app.
    Registered here, as the app is made, so every process that has the app has it registered."""
    return app
