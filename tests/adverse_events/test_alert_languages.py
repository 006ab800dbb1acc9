"""Safety-alert summaries stored as a code plus parameters (issue 25 item 3): the same SAE alert
reads in English and Chinese on the notifications page, whoever recorded the SAE, and each
e-mail goes out in its recipient's language (a sponsor address in English)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import translation

from adverse_events.models import SafetyAlert, SafetyContacts
from adverse_events.services.alerts import deliver_alert
from tests.adverse_events.conftest import day
from tests.adverse_events.test_adverse_events import record_ae

pytestmark = pytest.mark.req("ISSUE-25")


@pytest.fixture
def sae_alert(infused, coordinator, investigator, study, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    subject = infused()
    SafetyContacts.objects.create(study=study, sponsor_emails=["safety@sponsor.example"])
    investigator.language = "zh-hans"
    investigator.save(update_fields=["language"])
    with translation.override("en"):
        ae = record_ae(
            coordinator, subject, ctcae_term="Sepsis", grade=4, onset_date=day(6), serious_hospitalisation=True
        )
    return SafetyAlert.objects.get(source_key=f"sae:{ae.pk}")


def test_the_summary_is_a_code_with_parameters(sae_alert):
    assert sae_alert.summary_code == "SAE, subject %(subject)s: %(term)s grade %(grade)s, onset %(onset)s"
    assert sae_alert.summary_params["term"] == "Sepsis"
    assert sae_alert.summary_params["grade"] == 4
    assert sae_alert.summary.startswith("SAE, subject ")


def test_notifications_read_in_the_reader_language(sae_alert, investigator, login, client):
    deliver_alert(alert_id=sae_alert.pk)
    login(investigator)
    page = client.get("/data/notifications/").content.decode()
    with translation.override("zh-hans"):
        # the CTCAE term keeps its English name, with the project's Chinese name beside it
        chinese = translation.gettext(sae_alert.summary_code) % {**sae_alert.summary_params, "term": "Sepsis 脓毒症"}
    assert chinese != sae_alert.summary
    assert chinese in page
    assert sae_alert.summary not in page


def test_each_email_in_its_recipient_language(sae_alert):
    deliver_alert(alert_id=sae_alert.pk)
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert sorted(by_recipient) == ["investigator_a@example.org", "safety@sponsor.example"]
    sponsor = by_recipient["safety@sponsor.example"]
    assert sae_alert.summary in sponsor.subject and "Raised: " in sponsor.body
    investigator = by_recipient["investigator_a@example.org"]
    assert sae_alert.summary not in investigator.subject
    assert "Sepsis" in investigator.subject
    assert "+08:00" in investigator.body and "UTC" not in investigator.body
