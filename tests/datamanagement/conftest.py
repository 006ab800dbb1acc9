"""Fixtures of the CRF core tests (a saved vital-signs form through the one save path), reused."""

from tests.crf.conftest import crf_ready, data_lock, save_vs, vs  # noqa: F401
