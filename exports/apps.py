from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crf.annotations import provide_annotated_pages
        from exports import acrf
        from exports.services import EXPORT_JOB
        from jobs.kinds import register

        provide_annotated_pages(lambda: acrf.PAGES)  # the annotated CRF's pages (datamanagement.pdfs)
        register(EXPORT_JOB)  # the stuck-job sweeps cover exports (jobs.services)
