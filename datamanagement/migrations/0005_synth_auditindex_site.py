from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("datamanagement", "0004_merge_20261206_0953"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="auditindex",
            index=models.Index("site_pk", name="auditindex_site"),
        ),
    ]
