#!/usr/bin/env python
import os
import secrets
import sys

#: Commands that never sign or encrypt anything: with no DJANGO_SECRET_KEY in the environment
#: they get a throw-away one, so a developer can run them without a configured secret. Serving
#: (wsgi, celery, runserver) still refuses to start without the real key.
KEYLESS_COMMANDS = {"makemigrations", "makemessages", "showmigrations", "sqlmigrate", "check", "collectstatic"}

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
    if len(sys.argv) > 1 and sys.argv[1] in KEYLESS_COMMANDS and "--deploy" not in sys.argv:
        os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
