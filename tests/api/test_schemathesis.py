"""Schemathesis over the whole OpenAPI schema, as a coordinator and as a statistician (issue 21,
"Proof in the slow tier"): no server error, no response that contradicts the schema.

Every operation of `/api/schema/` (drf-spectacular) gets `EXAMPLES` generated requests per role
(bounded so the run takes a few minutes), sent in process to the WSGI application — nothing
leaves the machine, not even the loopback. Each response is checked for a 5xx, a status code the
operation does not document, a content type it does not declare, and a body or headers that do
not match the declared schema. Failures are collected over the whole run and reported together.
The requests run in the test's transaction, rolled back at the end.

No operation is excluded. The logout operations end the token that calls them, so each of their
calls uses a token of its own (the other operations keep the role's token).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from knox.models import AuthToken
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup

from tests.factories import identity, protocol_v1, vital_signs
from trialsite.wsgi import application

pytestmark = [pytest.mark.req("ISSUE-21"), pytest.mark.slow, pytest.mark.timeout(1800)]

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "1"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _line(label: str, response, failure) -> str:
    detail = " ".join(str(getattr(failure, "message", "") or failure).split())[:200]
    body = " ".join(response.text.split())[:160] if response.status_code >= 400 else ""
    return f"{label} → {response.status_code} {getattr(failure, 'title', type(failure).__name__)}: {detail} {body}"


@pytest.fixture
def in_process():
    """The WSGI app runs in the test's thread and transaction: like Django's test client, keep
    the request signals from closing the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _token(user) -> str:
    return AuthToken.objects.create(user)[1]


def _exercise(operation, user, tokens: dict[str, str]) -> list[str]:
    """`EXAMPLES` generated requests to one operation; a line per failure. A logout operation
    gets a token of its own per call, and the role's token is renewed after it (`logoutall`
    ends every token of the user)."""
    failures: list[str] = []
    ends_token = "/auth/logout" in operation.path

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        headers = {"Authorization": f"Token {_token(user) if ends_token else tokens['role']}"}
        response = case.call(headers=headers)
        if ends_token:
            tokens["role"] = _token(user)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:  # one line per failure, the run goes on
            failures.extend(_line(operation.label, response, failure) for failure in group.exceptions)
        except Failure as failure:
            failures.append(_line(operation.label, response, failure))

    try:
        run()
    except Unsatisfiable:
        failures.append(f"{operation.label}: no request could be generated")
    return failures


@pytest.mark.parametrize("role", ["coordinator", "statistician"])
def test_the_whole_api_answers_as_its_schema_says(role, in_process, study, users_a, subject_a):
    protocol_v1(study)
    identity(subject_a)
    vital_signs(users_a["coordinator"], subject_a)
    user = users_a[role]
    tokens = {"role": _token(user)}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    failures: list[str] = []
    operations = 0

    progress = ARTIFACTS / f"schemathesis-{role}.progress"
    progress.parent.mkdir(parents=True, exist_ok=True)
    with progress.open("w", encoding="utf-8") as log:
        for found in schema.get_all_operations():
            operations += 1
            found_here = _exercise(found.ok(), user, tokens)
            failures.extend(found_here)
            log.write(f"{operations} {found.ok().label}: {len(found_here)} failures\n")
            log.writelines(f"  {line}\n" for line in found_here)
            log.flush()

    assert operations == 223  # 219 + the PDF documents resource (list, create, read, download; issue 26)
    found = sorted(set(failures))
    report = ARTIFACTS / f"schemathesis-{role}.txt"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(found) + "\n", encoding="utf-8")
    assert found == [], "\n".join(found)
