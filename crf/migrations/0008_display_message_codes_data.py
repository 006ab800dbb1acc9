"""Existing automatic queries and their system-written steps get their message code (issue 25):
the text they were raised with, in English or Chinese, read back to its msgid. Texts a person
wrote, and texts the catalogue does not hold, keep no code and show as written."""

from django.db import migrations

from study import system_text

REOPENED = ("The value changed after the site confirmed it: %(value)s.",)


def forwards(apps, schema_editor):
    Query = apps.get_model("crf", "Query")
    QueryStep = apps.get_model("crf", "QueryStep")
    for query in Query.objects.exclude(rule_code="").filter(text_code="").iterator():
        code = system_text.code_of(query.text)
        if code:
            Query.objects.filter(pk=query.pk).update(text_code=code)
            QueryStep.objects.filter(query_id=query.pk, action="raised", by__isnull=True, text=query.text).update(
                text_code=code
            )
    for step in QueryStep.objects.filter(action="reopened", by__isnull=True, text_code="").iterator():
        found = system_text.parse(step.text, candidates=REOPENED)
        if found:
            QueryStep.objects.filter(pk=step.pk).update(text_code=found[0], text_params=found[1])


class Migration(migrations.Migration):
    dependencies = [("crf", "0007_display_message_codes")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
