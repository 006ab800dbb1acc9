"""A mail backend for the alert tests, usable across processes (the Celery worker is a child):
it refuses the first FLAKY_MAIL_FAILURES messages to each recipient with an SMTP error, then
delivers by appending the message to FLAKY_MAIL_DIR/sent.jsonl. Configured via EMAIL_BACKEND."""

from __future__ import annotations

import json
import os
import smtplib
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend


class FlakyEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        folder = Path(os.environ["FLAKY_MAIL_DIR"])
        failures = int(os.environ.get("FLAKY_MAIL_FAILURES", "2"))
        sent = 0
        for message in email_messages:
            for recipient in message.recipients():
                counter = folder / f"failures-{recipient}"
                done = int(counter.read_text()) if counter.exists() else 0
                if done < failures:
                    counter.write_text(str(done + 1))
                    raise smtplib.SMTPServerDisconnected(f"421 mail relay unavailable (refusal {done + 1})")
            with (folder / "sent.jsonl").open("a") as out:
                out.write(json.dumps({"to": message.recipients(), "subject": message.subject}) + "\n")
            sent += 1
        return sent
