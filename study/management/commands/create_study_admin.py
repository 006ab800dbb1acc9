"""`manage.py create_study_admin`: the first study administrator of a new installation.

Interactive: asks for what is missing and for the password twice (never echoed). For automation,
every value may come from the environment instead: TRIALSITE_ADMIN_USERNAME, TRIALSITE_ADMIN_EMAIL,
TRIALSITE_ADMIN_PASSWORD, TRIALSITE_ADMIN_STUDY, TRIALSITE_ADMIN_SITE (options win over the
environment; the password is never an option, so it stays out of shell history and `ps`).
The administrator then invites everyone else from the Users page."""

from __future__ import annotations

import getpass
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from study import services
from study.models import Site, Study


class Command(BaseCommand):
    help = "Create a study administrator (password prompted, or TRIALSITE_ADMIN_PASSWORD)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--username", default=os.environ.get("TRIALSITE_ADMIN_USERNAME", ""))
        parser.add_argument("--email", default=os.environ.get("TRIALSITE_ADMIN_EMAIL", ""))
        parser.add_argument("--printed-name", default="")
        parser.add_argument(
            "--study", default=os.environ.get("TRIALSITE_ADMIN_STUDY", ""), help="Study code (default: the only one)."
        )
        parser.add_argument(
            "--site", default=os.environ.get("TRIALSITE_ADMIN_SITE", ""), help="Site code (default: the study's first)."
        )
        parser.add_argument("--no-input", action="store_true", help="Never prompt: fail if a value is missing.")

    def _ask(self, value: str, prompt: str, no_input: bool) -> str:
        if value:
            return value.strip()
        if no_input:
            raise CommandError(f"{prompt} is required (option or environment variable).")
        return input(f"{prompt}: ").strip()

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        no_input = options["no_input"]
        studies = Study.objects.all()
        if options["study"]:
            studies = studies.filter(code=options["study"])
        if studies.count() != 1:
            raise CommandError(
                "Name the study with --study (or TRIALSITE_ADMIN_STUDY); "
                f"studies here: {', '.join(Study.objects.values_list('code', flat=True)) or 'none'}."
            )
        study = studies.get()
        sites = Site.objects.filter(study=study).order_by("code")
        if options["site"]:
            sites = sites.filter(code=options["site"])
        site = sites.first()
        if site is None:
            raise CommandError(f"Study {study.code} has no site {options['site']!r}.")
        username = self._ask(options["username"], "Username", no_input)
        email = self._ask(options["email"], "E-mail", no_input)
        password = os.environ.get("TRIALSITE_ADMIN_PASSWORD", "")
        if not password:
            if no_input:
                raise CommandError("TRIALSITE_ADMIN_PASSWORD is required with --no-input.")
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != password:
                raise CommandError("The two passwords differ; nothing was saved.")
        try:
            user = services.create_study_admin(
                username=username, email=email, password=password, site=site, printed_name=options["printed_name"]
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages) + " Nothing was saved.") from exc
        self.stdout.write(
            self.style.SUCCESS(f"Study administrator {user.username} created for {study.code}, site {site.code}.")
        )
