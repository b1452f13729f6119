"""The benchmark: the real operator process against the stand-ins, with kopf baselines.

Run it from the repository root with ``python -m bench`` (``--smoke`` for the small
configuration the test suite runs). The README's Performance section describes it.
"""
