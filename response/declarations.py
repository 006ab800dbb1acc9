"""The declarations of the response forms (crf.declarations): one per form, everything the
form framework reads about it besides its fields."""

from __future__ import annotations

from crf.declarations import Dependants, declare
from response import checks, derive, services
from response.models import MarrowAssessment, MrdTest, Relapse

declare(
    MarrowAssessment,
    api_resource="marrow-assessments",
    derive=derive.derive_response,
    save_service=services.record_marrow_assessment,
    checks=checks.AT_THRESHOLD,
    dependants=(
        # later assessments re-derive inside the save service
        Dependants(through=services.record_marrow_assessment, forms=(MarrowAssessment,), on_save=False),
    ),
)

declare(
    MrdTest,
    api_resource="mrd-tests",
    derive=derive.derive_mrd_test,
    save_service=services.record_mrd_test,
    dependants=(Dependants(through=services.record_mrd_test, forms=(MarrowAssessment,), on_save=False),),
)

declare(
    Relapse,
    api_resource="relapses",
    save_service=services.record_relapse,
)
