"""The vital-signs form's oxygen devices take the keys of the one list the CRS form shares
(issue 24 item 4): "venturi" → "venturi_mask", "mechanical" → "mechanical_ventilation". The
update goes through the history triggers like any change; history rows keep the key they had."""

from django.db import migrations

RENAMED = {"venturi": "venturi_mask", "mechanical": "mechanical_ventilation"}


def forwards(apps, schema_editor):
    VitalSigns = apps.get_model("labs", "VitalSigns")
    for old, new in RENAMED.items():
        VitalSigns.objects.filter(oxygen_device=old).update(oxygen_device=new)


def backwards(apps, schema_editor):
    VitalSigns = apps.get_model("labs", "VitalSigns")
    for old, new in RENAMED.items():
        VitalSigns.objects.filter(oxygen_device=new).update(oxygen_device=old)


class Migration(migrations.Migration):
    dependencies = [("labs", "0010_casebook_oxygen_one_list")]

    operations = [migrations.RunPython(forwards, backwards)]
