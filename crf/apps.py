from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _harden_audit(using: str = "default", **kwargs: object) -> None:
    from django.db import connections

    from crf.dbroles import harden

    harden(connections[using])


class CrfConfig(AppConfig):
    name = "crf"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Infrastructure, not domain flow: every migrate re-creates pgtrigger's ignore function,
        # so the audit hardening must follow each one.
        post_migrate.connect(_harden_audit, sender=self, dispatch_uid="trialsite-harden-audit")
        # Every API DateTimeField refuses a time without UTC offset (crf/api_fields.py).
        from crf import api_fields

        api_fields.install()
        # Each form's one declaration: every app's declarations.py, found as the admin finds
        # admin.py (a form without one fails the checks, crf.E010). The "dated before consent"
        # check every visit-bound form and AE onset implies comes with it (issue 21,
        # crf.consent_checks.implied).
        from crf import declarations

        declarations.autodiscover()
        # Each form's CRF versions are declared soundly (issue 27 item 3).
        from django.core import checks

        from crf.versions import system_check

        checks.register(system_check)
        # study/ hands the re-derivation after a new settings or schedule version to crf through
        # its declared hooks (study/hooks.py; an unregistered one fails the checks, study.E001).
        # study/'s schedule of assessments names the forms through one too.
        from crf import rederive, registry
        from study import hooks

        hooks.request_settings_rederivation.register(rederive.request_rederivation_for_settings)
        hooks.rederive_for_setting.register(rederive.rederive_for_setting)
        hooks.form_titles.register(registry.form_titles)
