"""Helpers that tests in every directory share (``from tests.support.harness import ...``)."""
