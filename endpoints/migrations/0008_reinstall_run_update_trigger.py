# The AlterField of 0007 changes the type of a column that the update trigger's WHEN clause
# reads; PostgreSQL refuses that while the trigger exists, so pgtrigger drops the trigger and
# creates it again around the ALTER, without its hash comment: `check_installation` then finds it
# "outdated". Installed again here exactly as 0004 declared it (the model's trigger is unchanged).

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("endpoints", "0007_endpoint10k_input_digest_scheme"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name="endpointrun",
            name="update_update",
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="endpointrun",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition='WHEN (OLD."attempts" IS DISTINCT FROM (NEW."attempts") OR OLD."code_version" IS DISTINCT FROM (NEW."code_version") OR OLD."cutoff_date" IS DISTINCT FROM (NEW."cutoff_date") OR OLD."duration_ms" IS DISTINCT FROM (NEW."duration_ms") OR OLD."error" IS DISTINCT FROM (NEW."error") OR OLD."finished_at" IS DISTINCT FROM (NEW."finished_at") OR OLD."id" IS DISTINCT FROM (NEW."id") OR OLD."input_settings_versions" IS DISTINCT FROM (NEW."input_settings_versions") OR OLD."input_sha256" IS DISTINCT FROM (NEW."input_sha256") OR OLD."protocol_version" IS DISTINCT FROM (NEW."protocol_version") OR OLD."rederive_at_cutoff" IS DISTINCT FROM (NEW."rederive_at_cutoff") OR OLD."requested_at" IS DISTINCT FROM (NEW."requested_at") OR OLD."requested_by_id" IS DISTINCT FROM (NEW."requested_by_id") OR OLD."results_discarded_at" IS DISTINCT FROM (NEW."results_discarded_at") OR OLD."results_sha256" IS DISTINCT FROM (NEW."results_sha256") OR OLD."sensitivity_settings_version" IS DISTINCT FROM (NEW."sensitivity_settings_version") OR OLD."settings_version" IS DISTINCT FROM (NEW."settings_version") OR OLD."snapshot_at" IS DISTINCT FROM (NEW."snapshot_at") OR OLD."started_at" IS DISTINCT FROM (NEW."started_at") OR OLD."status" IS DISTINCT FROM (NEW."status") OR OLD."study_id" IS DISTINCT FROM (NEW."study_id") OR OLD."trigger" IS DISTINCT FROM (NEW."trigger"))',
                    func='INSERT INTO "endpoints_endpointrunevent" ("attempts", "code_version", "cutoff_date", "duration_ms", "error", "finished_at", "id", "input_settings_versions", "input_sha256", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "progress", "protocol_version", "rederive_at_cutoff", "requested_at", "requested_by_id", "results_discarded_at", "results_sha256", "sensitivity_settings_version", "settings_version", "snapshot_at", "started_at", "status", "study_id", "trigger") VALUES (NEW."attempts", NEW."code_version", NEW."cutoff_date", NEW."duration_ms", NEW."error", NEW."finished_at", NEW."id", NEW."input_settings_versions", NEW."input_sha256", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, NOW(), \'update\', NEW."id", NEW."progress", NEW."protocol_version", NEW."rederive_at_cutoff", NEW."requested_at", NEW."requested_by_id", NEW."results_discarded_at", NEW."results_sha256", NEW."sensitivity_settings_version", NEW."settings_version", NEW."snapshot_at", NEW."started_at", NEW."status", NEW."study_id", NEW."trigger"); RETURN NULL;',
                    hash="11c9ceff68d02654cf8b98e297b5a66877669807",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_0f4e6",
                    table="endpoints_endpointrun",
                    when="AFTER",
                ),
            ),
        ),
    ]
