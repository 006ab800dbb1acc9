"""Existing DLT candidates get their finding's message code and parameters (issue 25 item 3),
read back once from the English sentence the rules wrote (clinical.dlt, before codes were
stored); a sentence written in Chinese reads back too. The confirmed-DLT alerts' `finding`
parameter, stored as that sentence, becomes the nested message {"code", "params"}. After this,
pages render the stored codes and nothing is matched at read time. A sentence that matches none
keeps no code and shows as written."""

from django.db import migrations

from study import system_text

#: The findings of clinical.dlt as they stood when this migration was written.
FINDINGS = (
    "%(what)s grade 4 on day %(day)s",
    "%(what)s grade 3 on %(run)s consecutive days from day %(start)s",
    "Acute GvHD overall grade %(roman)s",
    "%(term)s grade 4 at the day-%(window)s assessment (awaiting marrow)",
    "%(term)s grade 4 at the day-%(window)s assessment, marrow blasts %(blasts)s%%",
    "%(term)s grade %(grade)s from day %(day)s, not back to grade ≤ 1 within %(days)s days",
    "Death on day %(day)s, not from progression",
)
#: Parameters the rules store as numbers (the others as text).
NUMBERS = {"day", "run", "start", "window", "grade", "days"}


def _parse(text):
    found = system_text.parse(text, candidates=FINDINGS)
    if found is None:
        return None
    code, params = found
    return code, {k: int(v) if k in NUMBERS and str(v).lstrip("-").isdigit() else v for k, v in params.items()}


def forwards(apps, schema_editor):
    DltCandidate = apps.get_model("adverse_events", "DltCandidate")
    for row in DltCandidate.objects.filter(description_code="").iterator():
        found = _parse(row.description)
        if found is not None:
            DltCandidate.objects.filter(pk=row.pk).update(description_code=found[0], description_params=found[1])
    SafetyAlert = apps.get_model("adverse_events", "SafetyAlert")
    for alert in SafetyAlert.objects.filter(kind="dlt").exclude(summary_code="").iterator():
        params = dict(alert.summary_params or {})
        finding = params.get("finding")
        if not isinstance(finding, str):
            continue
        found = _parse(finding)
        if found is not None:
            params["finding"] = {"code": found[0], "params": found[1]}
            SafetyAlert.objects.filter(pk=alert.pk).update(summary_params=params)


class Migration(migrations.Migration):
    dependencies = [("adverse_events", "0008_display_dlt_finding_codes")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
