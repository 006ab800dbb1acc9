"""Fixtures of the task-list tests: the lifecycle fixtures (consent → enrolment through the
services) reused from the subject tests."""

from tests.subjects.conftest import consent, coordinator, enrolled, protocol, screened  # noqa: F401
