"""SAE alerts delivered by a REAL Celery worker on a private Redis, through the outbox relay
(CLINICAL_SPEC §3: the investigator and sponsor contacts are alerted at once), and e-mail
failures retried visibly until delivered (attempts, last error, next retry on the page)."""

from __future__ import annotations

import json

import pytest

from adverse_events.models import AlertDelivery, Notification, SafetyAlert, SafetyContacts
from crf.models import OutboxMessage, TaskExecution
from tests.adverse_events.conftest import day
from tests.adverse_events.test_adverse_events import record_ae
from tests.conftest import stop_process
from tests.crf.test_outbox import child_env, start_relay, start_worker, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.req("CLINICAL_SPEC-3")]

BACKEND = "tests.adverse_events.mail_backends.FlakyEmailBackend"


@pytest.fixture
def stack(private_redis, tmp_path):
    """Relay and worker subprocesses on the private Redis, with the flaky mail backend."""
    started = []

    def _start(failures: int):
        env = child_env(
            str(private_redis["url"]),
            EMAIL_BACKEND=BACKEND,
            FLAKY_MAIL_DIR=str(tmp_path),
            FLAKY_MAIL_FAILURES=str(failures),
            SAFETY_ALERT_RETRY_SECONDS="1",
            SAFETY_ALERT_MAX_ATTEMPTS="5",
        )
        worker_log = tmp_path / "worker.log"
        worker = start_worker(env, worker_log, f"alerts-{private_redis['port']}@localhost")
        started.append(worker)
        wait_until(lambda: "ready." in worker_log.read_text(), timeout=60, what="the Celery worker to be ready")
        started.append(start_relay(env, tmp_path / "relay.log", "--poll-interval", "0.2"))
        return tmp_path

    yield _start
    for proc in reversed(started):
        stop_process(proc, timeout=10)


def sent_mail(folder):
    path = folder / "sent.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_sae_alert_delivered_by_a_real_worker(transactional_db, infused, coordinator, investigator, study, stack):
    subject = infused()
    SafetyContacts.objects.create(study=study, sponsor_emails=["safety@sponsor.example"])
    folder = stack(failures=0)
    ae = record_ae(coordinator, subject, ctcae_term="Sepsis", grade=4, onset_date=day(6), serious_hospitalisation=True)
    alert = SafetyAlert.objects.get(source_key=f"sae:{ae.pk}")
    message = OutboxMessage.objects.get(task_name="adverse_events.tasks.deliver_alert", kwargs={"alert_id": alert.pk})

    wait_until(
        lambda: not AlertDelivery.objects.filter(alert=alert).exclude(status="sent").exists(),
        timeout=90,
        what="every delivery of the SAE alert",
        interval=0.3,
    )
    rows = sorted(AlertDelivery.objects.filter(alert=alert).values_list("channel", "recipient", "status", "attempts"))
    assert rows == [
        ("email", "investigator_a@example.org", "sent", 1),
        ("email", "safety@sponsor.example", "sent", 1),
        ("in_app", "investigator_a", "sent", 1),
    ]
    assert Notification.objects.filter(user=investigator, alert=alert).count() == 1
    assert TaskExecution.objects.get(message=message).runs == 1
    assert sorted(m["to"][0] for m in sent_mail(folder)) == ["investigator_a@example.org", "safety@sponsor.example"]
    assert all("Sepsis" in m["subject"] for m in sent_mail(folder))


def test_mail_failing_twice_is_retried_and_the_page_shows_attempts_and_final_delivery(
    transactional_db, infused, coordinator, investigator, study, stack, client, login
):
    subject = infused()
    folder = stack(failures=2)
    ae = record_ae(coordinator, subject, ctcae_term="Sepsis", grade=4, onset_date=day(6), serious_life_threatening=True)
    alert = SafetyAlert.objects.get(source_key=f"sae:{ae.pk}")
    email = AlertDelivery.objects.get(alert=alert, channel="email")

    seen_retrying = []

    def delivered():
        email.refresh_from_db()
        if email.status == "retrying":
            seen_retrying.append((email.attempts, email.last_error, email.next_retry_at))
        return email.status == "sent"

    wait_until(delivered, timeout=120, what="the e-mail after two refusals", interval=0.1)
    assert (email.attempts, email.status) == (3, "sent")
    assert "421 mail relay unavailable (refusal 2)" in email.last_error
    assert seen_retrying and seen_retrying[0][2] is not None  # the next retry was shown while waiting
    assert [m["to"] for m in sent_mail(folder)] == [["investigator_a@example.org"]]
    # Three deliveries of the task: the first, and one retry message per refusal.
    assert OutboxMessage.objects.filter(task_name="adverse_events.tasks.deliver_alert").count() == 3

    login(investigator)
    page = client.get(f"/safety/subjects/{subject.pk}/sae/{ae.pk}/").content.decode()
    assert 'data-status="sent"' in page
    assert 'data-attempts="3"' in page
    assert "421 mail relay unavailable (refusal 2)" in page
