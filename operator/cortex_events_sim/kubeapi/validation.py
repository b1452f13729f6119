"""What the API server checks and fills in before it stores an object.

Custom resources follow their CRD's ``openAPIV3Schema``: unknown fields are pruned (or, with
``fieldValidation=Strict``, refused), ``default`` values applied, and the result validated
with ``jsonschema`` (a dependency of the package, so that the demo enforces the schema too),
and its ``x-kubernetes-validations`` rules checked (`rules`).
Built-in kinds get the few defaults and checks that clients rely on.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import invalid
from .resources import ResourceType
from .rules import rule_violations
from .selectors import label_selector_matches

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ROOT_KEYS = frozenset({"apiVersion", "kind", "metadata"})


def check_name(rtype: ResourceType, name: str) -> None:
    """Names are DNS subdomains (namespaces: DNS labels); anything else is a 422."""
    if rtype.key == "namespaces":
        ok = len(name) <= 63 and bool(_DNS_LABEL.match(name))
        rule = "a lowercase RFC 1123 label"
    else:
        ok = len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))
        rule = "a lowercase RFC 1123 subdomain"
    if not ok:
        raise invalid(
            rtype.kind,
            rtype.group,
            name,
            [("metadata.name", f'Invalid value: "{name}": must be {rule}')],
        )


# --- custom resources -----------------------------------------------------------------


def apply_schema(value: Any, schema: Mapping[str, Any], *, root: bool = False) -> Any:
    """Return ``value`` with schema defaults filled in and unknown fields pruned."""
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        for key, subschema in properties.items():
            if key not in value and "default" in subschema:
                value[key] = copy.deepcopy(subschema["default"])
        keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or not properties
        extra = schema.get("additionalProperties")
        for key in list(value):
            if root and key in _ROOT_KEYS:
                continue
            if key in properties:
                value[key] = apply_schema(value[key], properties[key])
            elif isinstance(extra, Mapping):
                value[key] = apply_schema(value[key], extra)
            elif not keep_unknown and extra is not True:
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [apply_schema(item, schema["items"]) for item in value]
    return value


def unknown_fields(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """The fields of ``value`` that ``schema`` does not declare (what pruning would remove),
    as paths such as ``spec.bogus``; what ``fieldValidation=Strict`` refuses."""
    found: list[str] = []
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or not properties
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if not path and key in _ROOT_KEYS:
                continue
            if key in properties:
                found += unknown_fields(item, properties[key], where)
            elif isinstance(extra, Mapping):
                found += unknown_fields(item, extra, where)
            elif not keep_unknown and extra is not True:
                found.append(where)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{index}]")
    return found


def _to_json_schema(schema: Any) -> Any:
    """Translate the OpenAPI v3 dialect (``nullable``, int-or-string) to JSON Schema."""
    if isinstance(schema, list):
        return [_to_json_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    result = {key: _to_json_schema(value) for key, value in schema.items()}
    if result.pop("x-kubernetes-int-or-string", False):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if result.pop("nullable", False) and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
    return result


@functools.cache
def _validator_for(schema_text: str) -> Callable[[Any], list[tuple[str, str]]]:
    import jsonschema  # imported here: only the stand-in needs it, not the operator

    validator = jsonschema.Draft4Validator(_to_json_schema(json.loads(schema_text)))

    def validate(instance: Any) -> list[tuple[str, str]]:
        causes: list[tuple[str, str]] = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.path)):
            path = _field_path(error.absolute_path)
            if error.validator == "required":
                missing = [name for name in error.validator_value if name not in error.instance]
                for name in missing:
                    causes.append((f"{path}.{name}" if path else name, "Required value"))
            elif error.validator == "enum":
                supported = ", ".join(json.dumps(v) for v in error.validator_value)
                causes.append(
                    (
                        path,
                        f"Unsupported value: {json.dumps(error.instance)}: "
                        f"supported values: {supported}",
                    )
                )
            else:
                causes.append(
                    (path, f"Invalid value: {json.dumps(error.instance)}: {error.message}")
                )
        return causes

    return validate


def _field_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def check_custom(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """Default, prune and validate a custom object against its CRD schema."""
    if rtype.schema is None:
        return obj
    obj = apply_schema(obj, rtype.schema, root=True)
    validate = _validator_for(json.dumps(rtype.schema, sort_keys=True))
    body = {k: v for k, v in obj.items() if k not in _ROOT_KEYS}
    # As the real server, rules are checked once the schema's own checks pass.
    causes = validate(body) or rule_violations(body, rtype.schema)
    if causes:
        name = obj.get("metadata", {}).get("name", "")
        raise invalid(rtype.kind, rtype.group, name, causes)
    return obj


# --- built-in kinds --------------------------------------------------------------------


def _pod_spec_defaults(spec: dict[str, Any]) -> list[tuple[str, str]]:
    causes: list[tuple[str, str]] = []
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    containers = spec.get("containers")
    if not containers:
        causes.append(("spec.containers", "Required value"))
    for index, container in enumerate(containers or []):
        if not container.get("name"):
            causes.append((f"spec.containers[{index}].name", "Required value"))
        image = container.get("image")
        if not image:
            causes.append((f"spec.containers[{index}].image", "Required value"))
        else:
            last = image.rsplit("/", 1)[-1]
            latest = ":" not in last or last.endswith(":latest")
            container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    return causes


def _check_selector(spec: dict[str, Any], labels: Mapping[str, str]) -> list[tuple[str, str]]:
    selector = spec.get("selector")
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return [("spec.selector", "Required value")]
    if not label_selector_matches(selector, labels):
        return [
            (
                "spec.template.metadata.labels",
                f"Invalid value: {json.dumps(dict(labels))}: "
                "`selector` does not match template `labels`",
            )
        ]
    return []


def check_builtin(
    rtype: ResourceType, obj: dict[str, Any], old: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Fill in the defaults of built-in kinds and reject what the real server rejects."""
    causes: list[tuple[str, str]] = []
    name = obj["metadata"].get("name", "")
    key = rtype.key
    if key == "pods":
        causes += _pod_spec_defaults(obj.setdefault("spec", {}))
    elif key in ("deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps"):
        spec = obj.setdefault("spec", {})
        if key != "daemonsets.apps":
            spec.setdefault("replicas", 1)
        if key in ("statefulsets.apps", "daemonsets.apps"):
            spec.setdefault(
                "updateStrategy",
                {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
                if key == "statefulsets.apps"
                else {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            )
            spec.setdefault("revisionHistoryLimit", 10)
        if key == "deployments.apps":
            spec.setdefault(
                "strategy",
                {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                },
            )
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
        template = spec.setdefault("template", {})
        labels = template.setdefault("metadata", {}).get("labels") or {}
        causes += _check_selector(spec, labels)
        template_causes = _pod_spec_defaults(template.setdefault("spec", {}))
        causes += [(f"spec.template.{field}", text) for field, text in template_causes]
        if old is not None and old.get("spec", {}).get("selector") != spec.get("selector"):
            causes.append(("spec.selector", "Invalid value: field is immutable"))
    elif key in ("jobs.batch", "cronjobs.batch"):
        spec = obj.setdefault("spec", {})
        if key == "cronjobs.batch":
            spec.setdefault("suspend", False)
            spec.setdefault("concurrencyPolicy", "Allow")
            spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
        spec.setdefault("backoffLimit", 6)
        template_causes = _pod_spec_defaults(spec.setdefault("template", {}).setdefault("spec", {}))
        causes += [(f"spec.template.{field}", text) for field, text in template_causes]
    elif key == "namespaces":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    elif key == "customresourcedefinitions.apiextensions.k8s.io":
        spec = obj.get("spec") or {}
        expected = f"{spec.get('names', {}).get('plural')}.{spec.get('group')}"
        if name != expected:
            causes.append(
                (
                    "metadata.name",
                    f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                )
            )
    if causes:
        raise invalid(rtype.kind, rtype.group, name, causes)
    return obj


def initial_status(rtype: ResourceType, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The status a new object starts with when its kind has a status subresource."""
    key = rtype.key
    if key == "pods":
        return {"phase": "Pending", "qosClass": "BestEffort"}
    if key == "namespaces":
        return {"phase": "Active"}
    if key == "customresourcedefinitions.apiextensions.k8s.io":
        names = dict(obj.get("spec", {}).get("names", {}))
        return {
            "acceptedNames": names,
            "storedVersions": [
                v["name"] for v in obj.get("spec", {}).get("versions", []) if v.get("storage")
            ],
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                },
            ],
        }
    return {}
