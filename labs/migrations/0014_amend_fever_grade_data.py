"""The fever grade of the vital signs already recorded (issue 27 item 5), as labs.derive computes
it (CLINICAL_SPEC §3, clinical.ctcae.grade_fever_course). The update goes through the history
triggers like any change. Without `version + 1`: a derived value filled in, not an edit."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.db import migrations
from django.db.models import F

from clinical.ctcae import TemperatureReading, grade_fever_course


def forwards(apps, schema_editor):
    VitalSigns = apps.get_model("labs", "VitalSigns")
    rows = (
        VitalSigns.objects.filter(temperature_c__isnull=False)
        .select_related("subject__site")
        .order_by("subject_id", "assessment_date", F("assessment_time").asc(nulls_first=True), "pk")
    )
    by_subject = {}
    for row in rows:
        by_subject.setdefault(row.subject_id, []).append(row)
    for records in by_subject.values():
        zone = ZoneInfo(records[0].subject.site.time_zone or "UTC")
        live = [r for r in records if not r.entered_in_error]
        readings = [
            TemperatureReading(
                at=None
                if r.assessment_time is None
                else datetime.combine(r.assessment_date, r.assessment_time, tzinfo=zone).astimezone(UTC),
                celsius=r.temperature_c,
            )
            for r in live
        ]
        for index, record in enumerate(live):
            graded = grade_fever_course(readings, index)
            grade = None if graded is None else graded.grade
            if grade != record.fever_grade:
                VitalSigns.objects.filter(pk=record.pk).update(fever_grade=grade)


class Migration(migrations.Migration):
    dependencies = [("labs", "0013_amend_fever_grade")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
