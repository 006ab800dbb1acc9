"""A mail backend usable across processes (the Celery worker is a child): appends each message
(to, subject, body) to NOTIFY_MAIL_DIR/sent.jsonl. Configured via EMAIL_BACKEND."""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend


class FileJsonEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        with (Path(os.environ["NOTIFY_MAIL_DIR"]) / "sent.jsonl").open("a") as out:
            for message in email_messages:
                out.write(json.dumps({"to": message.recipients(), "subject": message.subject, "body": message.body}))
                out.write("\n")
        return len(email_messages)
