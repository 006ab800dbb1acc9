from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_audit_index(using: str = "default", **kwargs: object) -> None:
    from django.db import connections

    from crf.dbroles import app_role
    from datamanagement import audit_index

    audit_index.sync(connections[using], app_role=app_role())


class DataManagementConfig(AppConfig):
    name = "datamanagement"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "data management"

    def ready(self) -> None:
        # Declared hooks of the lower layer (DESIGN §3): a change to a form breaks the signatures
        # covering it; a lock asks the checklist first; a query step notifies (issue 31).
        from crf import queries, services
        from datamanagement import checklist, notifications, signatures
        from datamanagement.pdf_jobs import PDF_JOB
        from jobs.kinds import register

        services.on_form_change(signatures.break_after_change)
        queries.on_query_step(notifications.query_step_taken)
        checklist.install()
        register(PDF_JOB)  # the stuck-job sweeps cover PDF documents (jobs.services)
        # Infrastructure: every migrate (re)installs the audit-index trigger on each subject-scoped
        # history table (new tracked models too) and indexes what is not indexed yet. After crf's
        # audit hardening (INSTALLED_APPS order), which grants the app role every table.
        post_migrate.connect(_sync_audit_index, sender=self, dispatch_uid="trialsite-audit-index")
