"""How much of each input a namespace user controls the operator reads: one place, so that the
code, the CRD's schema and the README's Security section say the same.

A CortexEntity past a bound is refused as a whole (``Ready=False``, reason ``InvalidSpec``,
naming the field and the bound); a ``cortex.io/tag`` annotation past its bounds keeps what fits
and reports the rest (``InvalidTag``). The CRD refuses what its schema can say before the
operator sees it.
"""

from __future__ import annotations

from datetime import timedelta

from cortex_events.domain.parsing import ANNOTATION_VALUE_LIMIT
from cortex_events.domain.tags import MAX_TAGS_PER_ANNOTATION, TAG_MAX_LENGTH

__all__ = [
    "ANNOTATION_VALUE_LIMIT",
    "CUSTOM_DATA_BYTES",
    "CUSTOM_DATA_DEPTH",
    "CUSTOM_DATA_KEYS",
    "CUSTOM_DATA_KEY_LENGTH",
    "ENVIRONMENT_LENGTH",
    "MATCH_EXPRESSIONS",
    "MATCH_LABELS",
    "MAX_TAGS_PER_ANNOTATION",
    "RETENTION_MAXIMUM",
    "RETENTION_MINIMUM",
    "TAG_MAX_LENGTH",
    "VALUES_PER_EXPRESSION",
    "WORKLOADS",
]

CUSTOM_DATA_KEYS = 32
"""Keys of ``spec.customData`` (at its top level)."""
CUSTOM_DATA_KEY_LENGTH = 128
"""Characters of one of those keys."""
CUSTOM_DATA_BYTES = 2048
"""``spec.customData`` as compact JSON (UTF-8): it is copied into every event of the entity,
and events wait in a queue of up to 20,000 when Cortex is slow."""
CUSTOM_DATA_DEPTH = 8
"""Objects and lists nested in ``spec.customData``."""
RETENTION_MINIMUM = timedelta(minutes=1)
"""The shortest ``spec.retention``: shorter would delete events as soon as they land."""
RETENTION_MAXIMUM = timedelta(hours=87_600)
"""The longest ``spec.retention``: 10 years (87600h)."""
WORKLOADS = 64
"""Entries of ``spec.workloads`` (a label selector maps any number)."""
MATCH_LABELS = 32
"""Entries of ``spec.selector.matchLabels``."""
MATCH_EXPRESSIONS = 16
"""Entries of ``spec.selector.matchExpressions``."""
VALUES_PER_EXPRESSION = 64
"""Values of one ``matchExpressions`` entry."""
ENVIRONMENT_LENGTH = 253
"""Characters of ``spec.deploys.environment`` (sent with every deploy)."""
