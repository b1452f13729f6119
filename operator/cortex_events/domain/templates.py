"""Pod templates as the operator keeps them, to tell one revision from another without values.

A `TemplatePrint` holds each container's image and one 8-byte digest per other field, never a
value: an environment variable's value (it may be a secret) is neither kept nor sent, only its
name when its digest differs (`diff_templates`). `template_writers` reads which field managers
wrote a workload's ``spec.template``, and `author` which of them made a given revision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cortex_events.domain.parsing import (
    FieldWriter,
    as_list,
    as_map,
    as_str,
    intern,
    parse_time,
)

GENERATED_LABELS = frozenset({"pod-template-hash", "rollouts-pod-template-hash"})
"""Labels a controller adds to each revision's template: no one changed them."""
MAX_OWNED = 32
"""Containers whose image ownership a template writer keeps."""
AUTHOR_SLACK = timedelta(seconds=5)
"""How long after a manager's write its revision may be seen to start: the write and the new
ReplicaSet are seconds apart, and a rollback's start is the operator's own clock."""


def _digest(value: object) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).digest()


@dataclass(frozen=True, slots=True)
class TemplatePrint:
    """A pod template without its values: ``containers`` are (name, image), init containers
    first; ``paths`` name every other field (``env:web:DB_URL``, ``resources:web``,
    ``container:web:args``, ``spec:volumes``, ``labels:app``, ``annotations:x``), and
    ``digests`` holds 8 bytes per path, in the same order."""

    containers: tuple[tuple[str, str], ...]
    paths: tuple[str, ...]
    digests: bytes

    def fields(self) -> dict[str, bytes]:
        return {path: self.digests[i * 8 : i * 8 + 8] for i, path in enumerate(self.paths)}


def template_print(template: Mapping[str, Any]) -> TemplatePrint:
    """The print of a pod template (``spec.template`` of a workload or a revision)."""
    metadata, spec = as_map(template.get("metadata")), as_map(template.get("spec"))
    entries: list[tuple[str, bytes]] = []
    containers: list[tuple[str, str]] = []
    for key in ("initContainers", "containers"):
        for raw in as_list(spec.get(key)):
            container = as_map(raw)
            name = as_str(container.get("name")) or "?"
            containers.append((intern(name), intern(as_str(container.get("image")) or "")))
            for part, value in container.items():
                if part in ("name", "image"):
                    continue
                if part == "env":
                    for env in as_list(value):
                        env_name = as_str(as_map(env).get("name")) or "?"
                        entries.append((f"env:{name}:{env_name}", _digest(env)))
                elif part == "resources":
                    entries.append((f"resources:{name}", _digest(value)))
                else:
                    entries.append((f"container:{name}:{part}", _digest(value)))
    for part, value in spec.items():
        if part not in ("containers", "initContainers"):
            entries.append((f"spec:{part}", _digest(value)))
    for kind in ("labels", "annotations"):
        for key, value in as_map(metadata.get(kind)).items():
            if kind == "labels" and key in GENERATED_LABELS:
                continue
            entries.append((f"{kind}:{key}", _digest(value)))
    entries.sort()
    return TemplatePrint(
        containers=tuple(containers),
        paths=tuple(intern(path) for path, _ in entries),
        digests=b"".join(digest for _, digest in entries),
    )


@dataclass(frozen=True, slots=True)
class TemplateDiff:
    """What differs between two revisions' templates, by name only: ``images`` (container,
    before, after; None where the container is new or gone), ``env`` (container, names),
    ``resources`` (containers), ``fields`` (``spec.volumes``, ``containers[web].args``,
    ``metadata.labels[app]``...)."""

    images: tuple[tuple[str, str | None, str | None], ...] = ()
    env: tuple[tuple[str, tuple[str, ...]], ...] = ()
    resources: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()


def diff_templates(before: TemplatePrint, after: TemplatePrint) -> TemplateDiff:
    old, new = dict(before.containers), dict(after.containers)
    images = tuple(
        (name, old.get(name), new.get(name))
        for name in [*new, *(n for n in old if n not in new)]
        if old.get(name) != new.get(name)
    )
    old_fields, new_fields = before.fields(), after.fields()
    paths = old_fields.keys() | new_fields.keys()
    changed = sorted(p for p in paths if old_fields.get(p) != new_fields.get(p))
    env: dict[str, list[str]] = {}
    resources: list[str] = []
    fields: list[str] = []
    for path in changed:
        kind, _, rest = path.partition(":")
        if kind == "env":
            container, _, name = rest.partition(":")
            env.setdefault(container, []).append(name)
        elif kind == "resources":
            resources.append(rest)
        elif kind == "container":
            container, _, part = rest.partition(":")
            if container in old and container in new:  # an added container is its image
                fields.append(f"containers[{container}].{part}")
        elif kind == "spec":
            fields.append(f"spec.{rest}")
        else:
            fields.append(f"metadata.{kind}[{rest}]")
    return TemplateDiff(
        images=images,
        env=tuple((c, tuple(names)) for c, names in env.items() if c in old and c in new),
        resources=tuple(c for c in resources if c in old and c in new),
        fields=tuple(fields),
    )


def _owned_images(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The containers whose ``image`` a managedFields pod spec owns, by name (at most
    MAX_OWNED; the keys read ``k:{"name":"app"}``)."""
    names: list[str] = []
    for list_key in ("f:containers", "f:initContainers"):
        for key, owned in as_map(spec.get(list_key)).items():
            if not (isinstance(key, str) and key.startswith("k:") and "f:image" in as_map(owned)):
                continue
            try:
                name = json.loads(key[2:]).get("name")
            except (ValueError, AttributeError):
                continue
            if isinstance(name, str) and len(names) < MAX_OWNED:
                names.append(intern(name))
    return tuple(names)


def template_writers(metadata: Mapping[str, Any]) -> tuple[FieldWriter, ...]:
    """The managedFields entries that own part of ``spec.template``, newest first."""
    found = []
    for entry in as_list(metadata.get("managedFields")):
        fields = as_map(as_map(as_map(entry).get("fieldsV1")).get("f:spec"))
        if "f:template" in fields and (manager := as_str(as_map(entry).get("manager"))):
            at = parse_time(as_map(entry).get("time"))
            subresource = intern(as_str(entry.get("subresource")) or "")
            images = _owned_images(as_map(as_map(fields["f:template"]).get("f:spec")))
            found.append(FieldWriter(intern(manager), subresource, at, images))
    return tuple(sorted(found, key=lambda w: w.at.timestamp() if w.at else 0.0, reverse=True))


def author(
    writers: tuple[FieldWriter, ...], started: datetime, images: tuple[str, ...] = ()
) -> str | None:
    """The manager that wrote the template last before a revision that started at
    ``started`` (a later write belongs to a later revision). Where the revision changed the
    image of a container in ``images``, the newest such writer that owns one of those images:
    managedFields times are whole seconds, so an apply and a ``kubectl set image`` in the same
    second tie, and the image's owner is the one who changed it."""
    candidates = [w for w in writers if w.at is None or w.at <= started + AUTHOR_SLACK]
    for writer in candidates:  # newest first
        if set(writer.images) & set(images):
            return writer.manager
    return candidates[0].manager if candidates else None
