"""The resource types the stand-in API server serves, built-in and from CRDs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API and how it behaves."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    #: The CRD's ``openAPIV3Schema`` (validation, defaults, pruning); None for built-ins.
    schema: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    #: Every served version (CRDs may serve several over one store); ``version`` is preferred.
    versions: tuple[str, ...] = ()
    #: Serves ``/scale`` (an ``autoscaling/v1 Scale`` over ``spec.replicas``).
    scale_subresource: bool = False
    #: The CRD's ``additionalPrinterColumns``: what ``kubectl get`` shows.
    printer_columns: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, repr=False)

    @property
    def key(self) -> str:
        """``plural`` for the core group, ``plural.group`` otherwise (as kubectl spells it)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def served_versions(self) -> tuple[str, ...]:
        return self.versions or (self.version,)

    def discovery(self) -> list[dict[str, Any]]:
        """The entries of this resource in an ``APIResourceList`` (with its subresources)."""
        entries: list[dict[str, Any]] = [
            {
                "name": self.plural,
                "singularName": self.singular or self.kind.lower(),
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": list(ALL_VERBS),
                **({"shortNames": list(self.short_names)} if self.short_names else {}),
                **({"categories": list(self.categories)} if self.categories else {}),
            }
        ]
        if self.status_subresource:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        if self.scale_subresource:
            entries.append(
                {
                    "name": f"{self.plural}/scale",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }
            )
        return entries


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", False, "namespace", ("ns",), (), True),
    ResourceType("", "v1", "pods", "Pod", True, "pod", ("po",), ("all",), True),
    ResourceType("", "v1", "events", "Event", True, "event", ("ev",)),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        True,
        "deployment",
        ("deploy",),
        ("all",),
        True,
        scale_subresource=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        True,
        "replicaset",
        ("rs",),
        ("all",),
        True,
        scale_subresource=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        True,
        "statefulset",
        ("sts",),
        ("all",),
        True,
        scale_subresource=True,
    ),
    ResourceType(
        "apps", "v1", "daemonsets", "DaemonSet", True, "daemonset", ("ds",), ("all",), True
    ),
    ResourceType("apps", "v1", "controllerrevisions", "ControllerRevision", True),
    ResourceType("batch", "v1", "jobs", "Job", True, "job", (), ("all",), True),
    ResourceType("batch", "v1", "cronjobs", "CronJob", True, "cronjob", ("cj",), ("all",), True),
    ResourceType("events.k8s.io", "v1", "events", "Event", True, "event", ("ev",)),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, "lease"),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        "customresourcedefinition",
        ("crd", "crds"),
        ("api-extensions",),
        True,
    ),
)


def types_from_crd(crd: Mapping[str, Any]) -> ResourceType:
    """The resource a CRD declares (schema and subresources of its storage version)."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec.get("versions", []) if v.get("served", True)]
    if not served:
        raise ValueError(f"CRD {crd.get('metadata', {}).get('name')!r} serves no version")
    storage = next((v for v in served if v.get("storage")), served[0])
    schema = (storage.get("schema") or {}).get("openAPIV3Schema")
    return ResourceType(
        group=spec["group"],
        version=storage["name"],
        plural=names["plural"],
        kind=names["kind"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        singular=names.get("singular", names["kind"].lower()),
        short_names=tuple(names.get("shortNames", ())),
        categories=tuple(names.get("categories", ())),
        status_subresource="status" in (storage.get("subresources") or {}),
        schema=schema,
        versions=tuple(v["name"] for v in served),
        printer_columns=tuple(storage.get("additionalPrinterColumns") or ()),
    )
