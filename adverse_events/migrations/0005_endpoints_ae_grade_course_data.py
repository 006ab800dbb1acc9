"""Every AE entered before the grade course existed gets a one-entry course: its grade from its
onset date (issue 30). The update goes through the audit trigger, so the change is audited."""

from django.db import migrations

FORWARD = """
UPDATE adverse_events_adverseevent
   SET grade_course = jsonb_build_array(jsonb_build_object('from', to_char(onset_date, 'YYYY-MM-DD'), 'grade', grade))
 WHERE grade_course = '[]'::jsonb AND onset_date IS NOT NULL AND grade IS NOT NULL
"""


class Migration(migrations.Migration):
    dependencies = [("adverse_events", "0004_endpoints_ae_grade_course")]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=migrations.RunSQL.noop)]
