"""Endpoint runs over a data cut (issue 11, DESIGN §5): each table of a small study against
literal numbers, byte-identical re-runs, and a snapshot reproduced after later edits."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from clinical.stats import clopper_pearson
from crf.services import mark_entered_in_error, save
from endpoints import services
from endpoints.models import EndpointRun, RunStatus
from endpoints.snapshot import event_model
from endpoints.tables import proportion
from jobs import services as jobs
from study.protocol import publish_settings
from survival.models import Death
from survival.services import record_death
from tests.endpoints.conftest import CUTOFF, DAY0, day, make_world, now, populate

pytestmark = pytest.mark.req("ISSUE-11")


def run_at(world, snapshot_at=None, cutoff=CUTOFF) -> EndpointRun:
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=cutoff, snapshot_at=snapshot_at)
    done = services.compute_run(run_id=run.pk)
    assert done.status == RunStatus.SUCCEEDED, done.error
    return done


def tables_of(run: EndpointRun) -> dict[str, list[dict]]:
    return {table["key"]: table["rows"] for table in json.loads(run.results_json)["tables"]}


def find(rows, **match):
    found = [row for row in rows if all(row.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, rows)
    return found[0]


def nd(row) -> tuple:
    return (row["n"], row["N"], row["percent"], row["ci_lower"], row["ci_upper"])


def test_clopper_pearson_limits_as_the_tables_print_them():
    """CLINICAL_SPEC §6: 18/20 → 0.6830–0.9877; 0/24 → 0–0.1425 (R binom.test)."""
    assert nd(proportion("x", 18, 20, "infused")) == (18, 20, "90.0", "68.3", "98.8")
    assert nd(proportion("x", 0, 24, "infused")) == (0, 24, "0.0", "0.0", "14.2")
    assert round(clopper_pearson(18, 20).lower, 4) == 0.6830


def test_tables_of_a_small_study(world):
    subjects = populate(world)
    run = run_at(world)
    assert (
        run.progress,
        run.settings_version,
        run.input_sha256[:3],
        len(run.input_sha256),
        run.code_version != "",
    ) == (
        100,
        1,
        "v2:",
        67,
        True,
    )
    tables = tables_of(run)
    d = tables["disposition"]
    # 4 consented; 1 screen failure; 3 enrolled; 1 of them not infused (manufacturing failure).
    assert nd(find(d, category="screened")) == (4, 4, "100.0", "39.8", "100.0")
    assert nd(find(d, category="screen_failure")) == (1, 4, "25.0", "0.6", "80.6")
    assert nd(find(d, category="enrolled")) == (3, 4, "75.0", "19.4", "99.4")
    assert nd(find(d, category="not_infused", detail="")) == (1, 3, "33.3", "0.8", "90.6")
    assert nd(find(d, category="not_infused", detail="manufacturing_failure"))[:2] == (1, 3)
    assert nd(find(d, category="infused")) == (2, 3, "66.7", "9.4", "99.2")
    # of the 2 infused: B died on day 20, A is still in follow-up.
    assert nd(find(d, category="died")) == (1, 2, "50.0", "1.3", "98.7")
    assert nd(find(d, category="ongoing"))[:2] == (1, 2)
    assert nd(find(d, category="withdrawn")) == (0, 2, "0.0", "0.0", "84.2")
    assert find(d, category="died")["population"] == "infused"

    e = tables["exposure"]
    assert nd(find(e, category="dose_level", detail="DL2")) == (2, 2, "100.0", "15.8", "100.0")
    assert nd(find(e, category="product_state", detail="fresh"))[:2] == (1, 2)
    assert nd(find(e, category="product_state", detail="thawed"))[:2] == (1, 2)
    # A: 100×10⁶ × 60% / 70 kg = 0.8571; B: 140×10⁶ × 60% / 70 kg = 1.2000; median (0.8571 + 1.2)/2 = 1.02855
    dose = find(e, category="dose_per_kg", detail="all")
    assert (dose["n"], dose["median"], dose["min"], dose["max"]) == (2, "1.029", "0.857", "1.200")
    # DL2 target 1.0×10⁶/kg ± 30% → 0.700–1.300: both inside
    inside = find(e, category="dose_within_range", detail="DL2")
    assert (inside["n"], inside["N"], inside["min"], inside["max"]) == (2, 2, "0.700", "1.300")
    # vein to vein: A 2 → 20 March = 18 days, B 5 → 20 March = 15 days; median 16.5
    v2v = find(e, category="vein_to_vein")
    assert (v2v["n"], v2v["median"], v2v["min"], v2v["max"], v2v["unit"]) == (2, "16.5", "15.0", "18.0", "days")

    s = tables["teae_summary"]
    # TEAEs day 0–90: A nausea G2 d3, febrile neutropenia G3 d5 (SAE), nausea G1 d40; B nausea G1 d10,
    # sepsis G4 d15 (SAE) = 5 events in 2 of 2 subjects; A's headache on day 95 and vomiting during
    # lymphodepletion are not TEAEs.
    assert (find(s, category="any_teae")["n"], find(s, category="any_teae")["events"]) == (2, 5)
    assert nd(find(s, category="grade_3_or_higher")) == (2, 2, "100.0", "15.8", "100.0")
    assert find(s, category="serious")["events"] == 2
    assert nd(find(s, category="death_within_30_days", detail="")) == (1, 2, "50.0", "1.3", "98.7")
    assert nd(find(s, category="death_within_90_days", detail="infection"))[:2] == (1, 2)

    t = tables["teae_by_term"]
    nausea = find(t, population="infused", soc="Gastrointestinal disorders", term="Nausea")
    # A's worst nausea is G2 (G2 and G1 counted once), B's G1
    assert (nausea["n"], nausea["grade_1"], nausea["grade_2"], nausea["grade_3_or_higher"]) == (2, 1, 1, 0)
    sepsis = find(t, population="infused", term="Sepsis")
    assert (sepsis["soc"], sepsis["n"], sepsis["grade_4"]) == ("Infections and infestations", 1, 1)
    severe = [(r["soc"], r["term"], r["n"]) for r in t if r["population"] == "infused, grade >= 3"]
    assert severe == [
        ("Blood and lymphatic system disorders", "", 1),
        ("Blood and lymphatic system disorders", "Febrile neutropenia", 1),
        ("Infections and infestations", "", 1),
        ("Infections and infestations", "Sepsis", 1),
    ]
    ld = tables["lymphodepletion_aes"]
    assert [(r["subject"], r["term"], r["grade"], r["study_day"]) for r in ld] == [
        (subjects["a"].subject_id, "Vomiting", 1, -4)
    ]
    assert run.results_csv.startswith("# disposition: Subject disposition (population: screened)\n")
    assert run.results_xlsx[:2] == b"PK"


def test_later_data_are_left_out_at_an_earlier_cutoff(world):
    populate(world)
    tables = tables_of(run_at(world, cutoff=day(12)))
    # by day 12 (1 April): B alive, only AEs with onset ≤ day 12: A d3, d5; B d10
    assert find(tables["teae_summary"], category="any_teae")["events"] == 3
    assert find(tables["disposition"], category="died")["n"] == 0
    assert find(tables["disposition"], category="ongoing")["n"] == 2


def test_same_cut_and_snapshot_with_rows_entered_in_another_order_give_the_same_bytes(world):
    populate(world)
    other = make_world("reversed")
    populate(other, reverse=True)
    at = now()
    first, second = run_at(world, at), run_at(other, at)
    assert first.results_json == second.results_json
    assert first.results_sha256 == second.results_sha256
    assert first.results_csv == second.results_csv


def test_rerun_at_a_snapshot_reproduces_it_after_edits_and_after_its_results_are_deleted(world):
    subjects = populate(world)
    a, b = subjects["a"], subjects["b"]
    s1 = now()
    first = run_at(world, s1)
    kept = first.results_json

    world.ae(b, ctcae_term="Diarrhea", grade=2, onset_date=day(12))  # (a) a new AE before the cut-off
    nausea = a.adverse_events_adverseevent_set.get(ctcae_term="Nausea", grade=2)
    nausea.grade = 3  # (b) grade 2 → 3
    save(user=world.coordinator, instance=nausea, expected_version=nausea.version, reason="source corrected")
    wrong = b.adverse_events_adverseevent_set.get(ctcae_term="Nausea")
    mark_entered_in_error(
        user=world.coordinator, instance=wrong, expected_version=wrong.version, reason="wrong subject"
    )
    publish_settings(  # (d) DL2 target 1.0 → 2.0×10⁶/kg from today
        actor=world.admin,
        study=world.study,
        effective_from=now().date(),
        values={"dose_levels": [{"code": "DL2", "target_cells_per_kg": "2.0E6", "range_pct": "30"}]},
        reason="protocol amendment 2",
    )
    later = run_at(world)
    assert later.settings_version == 2
    tables = tables_of(later)
    s = tables["teae_summary"]
    # 5 TEAEs + diarrhoea − B's nausea = 5 events; grade ≥ 3: FN, sepsis and now A's nausea
    assert find(s, category="any_teae")["events"] == 5
    assert find(s, category="grade_3_or_higher")["events"] == 3
    t = tables["teae_by_term"]
    assert find(t, population="infused", term="Diarrhea")["n"] == 1
    assert find(t, population="infused", term="Nausea")["grade_3"] == 1  # A's nausea now G3, B's gone
    assert find(t, population="infused", term="Nausea")["n"] == 1
    assert find(t, population="infused, grade >= 3", term="Nausea")["n"] == 1
    # DL2 2.0 ± 30% = 1.400–2.600: neither 0.857 nor 1.200 inside
    inside = find(tables["exposure"], category="dose_within_range", detail="DL2")
    assert (inside["n"], inside["min"], inside["max"]) == (0, "1.400", "2.600")

    services.discard_results(actor=world.statistician, run=first, reason="space")
    first.refresh_from_db()
    assert (first.results_json, first.results_csv, first.results_xlsx) == ("", "", None)
    again = run_at(world, s1)
    assert again.results_json == kept
    assert again.input_sha256 == first.input_sha256
    assert again.settings_version == 1


def test_a_run_is_requested_through_the_outbox_and_done_once(world):
    from crf.models import OutboxMessage

    populate(world)
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    message = OutboxMessage.objects.get(task_name="endpoints.tasks.compute_endpoint_run")
    assert message.kwargs == {"run_id": run.pk}
    assert (run.status, run.progress, run.snapshot_at) == (RunStatus.QUEUED, 0, None)
    done = services.compute_run(run_id=run.pk)
    assert done.snapshot_at == done.started_at
    again = services.compute_run(run_id=run.pk)  # a duplicate delivery changes nothing
    assert (again.attempts, again.results_sha256) == (1, done.results_sha256)
    # audited: requested, started, finished (progress-only updates leave no history row)
    history = event_model(EndpointRun).objects.filter(pgh_obj_id=run.pk).order_by("pgh_id")
    assert [(e.pgh_label, e.status) for e in history] == [
        ("insert", "queued"),
        ("update", "running"),
        ("update", "succeeded"),
    ]
    assert history[0].pgh_context["reason"] == "endpoint run requested"


def test_the_nightly_run_and_the_stuck_run_sweep_are_scheduled_tasks(settings):
    from trialsite.celery import app

    app.loader.import_default_modules()
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks == {
        "endpoints.tasks.nightly_endpoint_runs",
        # every job kind (endpoint runs, exports: issue 14, PDF casebooks: issue 26), one sweep each (issue 23)
        "jobs.tasks.fail_stuck_jobs",
        # issue 32: jobs whose worker stopped beating are requeued
        "jobs.tasks.recover_stuck_jobs",
        "datamanagement.tasks.daily_digest",  # issue 31: the notification digest
        "adverse_events.tasks.refresh_dlt_candidates",  # issue 13: time-driven DLT candidates
        "crf.tasks.purge_idempotency_keys",  # issue 32: Idempotency-Key lives a day
        "crf.tasks.verify_audit",  # issue 21: the nightly audit-chain verification
    }
    assert tasks <= set(app.tasks)


def test_a_run_left_running_by_a_dead_worker_is_retried_then_failed(world):
    populate(world)
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    EndpointRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=2, started_at=now())
    failed = services.compute_run(run_id=run.pk)
    assert (failed.status, failed.results_json) == (RunStatus.FAILED, "")
    stuck = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    EndpointRun.objects.filter(pk=stuck.pk).update(
        status=RunStatus.RUNNING, attempts=1, started_at=now() - timedelta(hours=2)
    )
    assert jobs.fail_stuck(services.RUN_JOB) == [stuck.pk]
    stuck.refresh_from_db()
    assert stuck.status == RunStatus.FAILED and "time limit" in stuck.error


def test_nightly_runs_cut_at_yesterday(world):
    runs = services.request_nightly_runs()
    assert [(r.study_id, r.trigger, r.requested_by) for r in runs] == [(world.study.pk, "nightly", None)]
    assert runs[0].cutoff_date == now().date() - timedelta(days=1)
    assert runs[0].cutoff_date > DAY0


def test_a_death_entered_in_error_leaves_the_disposition_and_gives_back_the_status(world):
    """CLINICAL_SPEC §6 (a death is the death form) and DESIGN §4 "No hard deletes": B's death
    on day 20 marked entered in error → B is back in follow-up since day 1, audited with the
    reason, and the disposition counts no death (2 infused, both ongoing)."""
    subjects = populate(world)
    b = subjects["b"]
    death = Death.objects.get(subject=b)
    mark_entered_in_error(
        user=world.coordinator, instance=death, expected_version=death.version, reason="death of another patient"
    )
    b.refresh_from_db()
    assert (b.status, b.status_date) == ("follow_up", day(1))
    last = b.events.order_by("-pgh_id").first()
    assert (last.status, last.pgh_context["reason"]) == (
        "follow_up",
        "death entered in error: death of another patient",
    )
    tables = tables_of(run_at(world))
    assert find(tables["disposition"], category="died")["n"] == 0
    assert find(tables["disposition"], category="ongoing")["n"] == 2
    # a real death may be recorded again afterwards
    record_death(
        user=world.coordinator,
        instance=Death(subject=b, death_date=day(30), primary_cause="infection", autopsy="no"),
        expected_version=None,
    )
    b.refresh_from_db()
    assert (b.status, b.status_date) == ("died", day(30))
