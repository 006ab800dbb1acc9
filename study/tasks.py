from celery import shared_task

from crf.rederive import rederive_for_settings


@shared_task(name="study.tasks.rederive_for_settings")
def rederive_for_settings_task(*, settings_id: int, outbox_id: int | None = None) -> int:
    """Thin task (STYLE habit 7): ids in, the service does the work; idempotent by design."""
    return len(rederive_for_settings(settings_id=settings_id))
