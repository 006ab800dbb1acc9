"""Existing safety alerts get their summary's message code and parameters (issue 25), read back
from the summary as written in English or Chinese; the English text replaces a Chinese one in
`summary` so that column reads the same for every alert. A summary that matches none of the
messages keeps no code and shows as written."""

from django.db import migrations
from django.utils import translation

from study import system_text

SUMMARIES = (
    "SAE, subject %(subject)s: %(term)s grade %(grade)s, onset %(onset)s",
    "%(what)s grade %(grade)s, subject %(subject)s, episode %(n)s from study day %(day)s",
    "Confirmed DLT, subject %(subject)s: %(finding)s",
)


def forwards(apps, schema_editor):
    SafetyAlert = apps.get_model("adverse_events", "SafetyAlert")
    for alert in SafetyAlert.objects.filter(summary_code="").iterator():
        found = system_text.parse(alert.summary, candidates=SUMMARIES)
        if found is None:
            continue
        code, params = found
        with translation.override("en"):
            english = system_text.render(code, params)[:400]
        SafetyAlert.objects.filter(pk=alert.pk).update(summary_code=code, summary_params=params, summary=english)


class Migration(migrations.Migration):
    dependencies = [("adverse_events", "0004_display_alert_summary_codes")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
