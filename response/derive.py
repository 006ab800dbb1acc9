"""The derived response of a marrow assessment and the status of each MRD test, computed by
`clinical.response` with the protocol settings in force on the form's date (DESIGN §4
"Derived values are stored with their inputs and criteria version"; CLINICAL_SPEC §5)."""

from __future__ import annotations

from datetime import date
from typing import Any

from clinical import response as rules
from crf.checks import jsonable
from response.models import MarrowAssessment, MrdTest, ResponseCategory
from study.protocol import choices_in_force
from subjects.models import Lymphodepletion

REMISSION = (ResponseCategory.CR.value, ResponseCategory.CRI.value)


def rule_test(test: MrdTest) -> rules.MrdTest:
    return rules.MrdTest(
        method=rules.MrdMethod(test.method),
        detected=test.detected,
        level_pct=test.level_pct,
        sensitivity=test.sensitivity,
        cells_analysed=test.cells_analysed,
        specimen=test.specimen,
        cd7_independent_gating=test.cd7_independent_gating,
    )


def derive_mrd_test(test: MrdTest) -> dict[str, Any]:
    """§5.2: negative only below the cut-off with an assay able to see it."""
    row, choices = choices_in_force(test.subject.site.study_id, test.sample_date)
    return {
        "status": rules.mrd_test_status(rule_test(test), choices.response_settings()).value,
        "settings_version": row.version,
    }


def first_lymphodepletion(subject_id: int) -> date | None:
    return (
        Lymphodepletion.objects.filter(subject_id=subject_id, entered_in_error=False)
        .order_by("start_date")
        .values_list("start_date", flat=True)
        .first()
    )


def _others(ma: MarrowAssessment):  # type: ignore[no-untyped-def]
    found = MarrowAssessment.objects.filter(subject_id=ma.subject_id, entered_in_error=False)
    return found.exclude(pk=ma.pk) if ma.pk else found


def emd_assessment_of(ma: MarrowAssessment, baseline: MarrowAssessment | None) -> rules.ExtramedullaryAssessment | None:
    """The extramedullary compartment is assessed when there is a PET-CT, a size change or a new lesion."""
    assessed = ma.pet_ct_done or ma.new_lesion or ma.spd_change_from_baseline_pct is not None
    if not assessed and ma.spd_change_from_nadir_pct is None:
        return None
    return rules.ExtramedullaryAssessment(
        disease_at_baseline=bool(baseline and baseline.extramedullary_disease),
        new_lesion=ma.new_lesion,
        deauville=ma.deauville if ma.pet_ct_done else None,
        spd_change_from_baseline_pct=ma.spd_change_from_baseline_pct,
        spd_change_from_nadir_pct=ma.spd_change_from_nadir_pct,
    )


def marrow_rules_response(
    ma: MarrowAssessment,
    baseline: MarrowAssessment | None,
    *,
    prior_remission: bool,
    settings: rules.ResponseSettings,
) -> rules.MarrowResponse:
    """The marrow compartment's response of `ma` against `baseline` (the last assessment before
    lymphodepletion, CLINICAL_SPEC §5.1): the form's fields handed to the pure rule. Also used by
    the synthetic study generator, so both derive alike."""
    base = rules.Baseline(
        marrow_blasts_pct=baseline.marrow_blasts_pct if baseline else None,
        peripheral_blasts_pct=baseline.peripheral_blasts_pct if baseline else None,
        extramedullary_disease=bool(baseline and baseline.extramedullary_disease),
        cns_status=rules.CnsStatus(baseline.cns_status) if baseline else None,
    )
    return rules.marrow_response(
        rules.MarrowAssessment(
            marrow_blasts_pct=ma.marrow_blasts_pct,
            peripheral_blasts_pct=ma.peripheral_blasts_pct,
            anc=ma.anc,
            platelets=ma.platelets,
            transfused_previous_7_days=ma.transfused_previous_7_days,
            cns_status=rules.CnsStatus(ma.cns_status),
            extramedullary_disease=ma.extramedullary_disease,
        ),
        baseline=base,
        prior_remission=prior_remission,
        settings=settings,
    )


def derive_response(ma: MarrowAssessment, mrd_tests: list[MrdTest] | None = None) -> dict[str, Any]:
    """§5.1: baseline = the last assessment before the first lymphodepletion; an assessment on
    or after it is compared with that baseline; an earlier CR/CRi (adjudicated where present)
    makes returning disease a relapse. `mrd_tests` defaults to the assessment's stored tests
    (the live page passes none for an unsaved form)."""
    row, choices = choices_in_force(ma.subject.site.study_id, ma.assessment_date)
    settings = choices.response_settings()
    ld = first_lymphodepletion(ma.subject_id)
    found: dict[str, Any] = {
        "settings_version": row.version,
        "criteria_version": rules.CRITERIA,
        "marrow_response": "",
        "emd_response": "",
        "mrd_status": "",
        "response": "",
        "response_label": "",
        "boundary": [],
        "needs_adjudication": False,
    }
    if mrd_tests is None:
        mrd_tests = list(ma.mrd_tests.filter(entered_in_error=False)) if ma.pk else []
    mrd = rules.mrd_status([rule_test(t) for t in mrd_tests], settings)
    found["mrd_status"] = mrd.value if mrd else ""
    inputs: dict[str, Any] = {
        "marrow_blasts_pct": jsonable(ma.marrow_blasts_pct),
        "peripheral_blasts_pct": jsonable(ma.peripheral_blasts_pct),
        "anc": jsonable(ma.anc),
        "platelets": jsonable(ma.platelets),
        "transfused_previous_7_days": ma.transfused_previous_7_days,
        "cns_status": ma.cns_status,
        "extramedullary_disease": ma.extramedullary_disease,
        "mrd_tests": [t.pk for t in mrd_tests],
        "first_lymphodepletion": jsonable(ld),
        "count_operator": settings.count_operator,
        "relapse_operator": settings.relapse_operator,
        "relapse_threshold_pct": jsonable(settings.relapse_threshold_pct),
        "mrd_cutoff_pct": jsonable(settings.mrd_cutoff_pct),
        "mrd_min_cells_flow": settings.mrd_min_cells_flow,
    }
    if ld is None or ma.assessment_date < ld:
        found.update(is_baseline=True, derivation_inputs=inputs)
        return found
    baseline = _others(ma).filter(assessment_date__lt=ld).order_by("-assessment_date", "-pk").first()
    earlier = _others(ma).filter(assessment_date__gte=ld, assessment_date__lt=ma.assessment_date)
    prior_remission = any(
        (e.adjudicated_response or e.response) in REMISSION for e in earlier.only("response", "adjudicated_response")
    )
    marrow = marrow_rules_response(ma, baseline, prior_remission=prior_remission, settings=settings)
    emd_assessment = emd_assessment_of(ma, baseline)
    emd = rules.extramedullary_response(emd_assessment) if emd_assessment else None
    overall = rules.overall_response(marrow.category, emd, prior_remission=prior_remission)
    boundary = [
        {"field": b.field, "value": jsonable(b.value), "threshold": jsonable(b.threshold), "rule": b.rule}
        for b in marrow.boundary
    ]
    inputs.update(baseline_assessment=baseline.pk if baseline else None, prior_remission=prior_remission)
    found.update(
        is_baseline=False,
        marrow_response=marrow.category.value,
        emd_response=emd.value if emd else "",
        response=overall.value,
        response_label=rules.response_label(overall, mrd),
        boundary=boundary,
        needs_adjudication=bool(boundary) and not ma.adjudicated_response,
        derivation_inputs=inputs,
    )
    return found
