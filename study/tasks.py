from crf.outbox import outbox_task
from crf.rederive import rederive_for_settings


@outbox_task("study.tasks.rederive_for_settings")
def rederive_for_settings_task(*, settings_id: int) -> int:
    """Thin task (STYLE habit 7): ids in, the service does the work; runs once per outbox row."""
    return len(rederive_for_settings(settings_id=settings_id))
