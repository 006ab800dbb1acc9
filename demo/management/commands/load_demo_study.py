from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pghistory
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from clinical.protocol import ProtocolChoices
from demo import definition as demo_study
from demo.courses import load_demo_subjects
from study.models import (
    AssessmentSchedule,
    DoseLevelName,
    Membership,
    ProtocolSettings,
    Site,
    Study,
    User,
    VisitDefinition,
)


class Command(BaseCommand):
    help = "Load (or refresh) the CD7 CAR-T demo study. Idempotent."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--with-demo-accounts",
            action="store_true",
            help="Create the demo accounts even with DEBUG off (they have a published password).",
        )
        parser.add_argument("--no-accounts", action="store_true", help="Load the study only.")
        parser.add_argument("--no-subjects", action="store_true", help="Do not add the 24 synthetic demo subjects.")

    @transaction.atomic
    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        make_accounts = not options["no_accounts"]
        if make_accounts and not settings.DEBUG and not options["with_demo_accounts"]:
            raise CommandError(
                "Refusing to create demo accounts with a published password while DEBUG is off. "
                "Pass --with-demo-accounts to do it anyway, or --no-accounts to load the study only."
            )
        with pghistory.context(reason="load demo study"):
            study, _ = Study.objects.get_or_create(code=demo_study.STUDY["code"], defaults=demo_study.STUDY)
            site, _ = Site.objects.get_or_create(
                study=study,
                code=demo_study.SITE["code"],
                defaults={k: v for k, v in demo_study.SITE.items() if k != "code"},
            )
            for order, visit in enumerate(demo_study.schedule(), start=1):
                VisitDefinition.objects.get_or_create(
                    study=study, code=visit["code"], defaults={**visit, "order": order}
                )
            for code, name, name_zh in demo_study.DOSE_LEVEL_NAMES:
                DoseLevelName.objects.get_or_create(study=study, code=code, defaults={"name": name, "name_zh": name_zh})
            if not ProtocolSettings.objects.filter(study=study).exists():
                ProtocolSettings.objects.create(
                    study=study,
                    version=1,
                    effective_from=date(2022, 1, 1),
                    values=ProtocolChoices().to_json(),
                    reason="CLINICAL_SPEC defaults",
                    created_at=timezone.now(),
                )
            if not AssessmentSchedule.objects.filter(study=study).exists():
                AssessmentSchedule.objects.create(
                    study=study,
                    version=1,
                    effective_from=date(2022, 1, 1),
                    matrix=demo_study.assessment_matrix(),
                    reason="CLINICAL_SPEC §7.1 schedule of assessments",
                    created_at=timezone.now(),
                )
            if make_accounts:
                self._accounts(site)
        if make_accounts and not options["no_subjects"]:
            self._subjects(site)
        self.stdout.write(self.style.SUCCESS(f"Demo study {study.code} loaded ({site.code} {site.name})."))

    def _subjects(self, site: Site) -> None:
        """The synthetic subjects, entered as the demo coordinator through the pages' services
        (so they carry the coordinator's audit context, not the loader's)."""
        coordinator = User.objects.get(username="coordinator")
        today = timezone.localdate(timezone=ZoneInfo(site.time_zone))
        written = load_demo_subjects(site=site, user=coordinator, today=today)
        if written:
            self.stdout.write(f"Demo subjects: {written} written at site {site.code}.")

    def _accounts(self, site: Site) -> None:
        for username, role, printed_name, language in demo_study.USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(
                    username=username, printed_name=printed_name, language=language, email=f"{username}@example.org"
                )
                user.set_password(demo_study.DEMO_PASSWORD)
                user.save()
            if not Membership.objects.filter(user=user, site=site, role=role, ended_at__isnull=True).exists():
                Membership.objects.create(user=user, site=site, role=role, granted_at=timezone.now())
        names = ", ".join(u[0] for u in demo_study.USERS)
        self.stdout.write(f"Demo accounts (password {demo_study.DEMO_PASSWORD}): {names}")
