"""``cortex-events kubeconfig``: run the operator outside the cluster as the chart's identity.

With your own kubeconfig (its identity needs ``create`` on ``serviceaccounts/token`` in the
release namespace, which a namespace admin has), this asks the TokenRequest API for a token of
the chart's ServiceAccount and writes a kubeconfig that uses it, with the cluster's server and
CA embedded (no path to a CA file that another machine lacks). So the chart's RBAC, and nothing
else, grants the operator its access. It also reads the chart's Deployment and prints, as
``export`` lines, the settings the chart gives the operator (the Lease's name and namespace and
its timings, the namespaces it watches, the cluster name), so that ``cortex-events run`` acts
as the chart's replicas do: ``eval "$(cortex-events kubeconfig -n cortex-events)"``.
"""

from __future__ import annotations

import base64
import os
import re
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import yaml
from kubernetes.client.exceptions import ApiException

from cortex_events.kube.client import call, check_cluster, load_api_client
from cortex_events.kube.errors import describe

CHART_LABEL = "app.kubernetes.io/part-of=cortex-events-operator"
# The chart's settings a local run takes over; the key comes from the user (the key file and
# the CA bundle are paths inside the Pod), and the log's format and level are theirs to choose.
NOT_TAKEN = frozenset(
    {
        "CORTEX_API_KEY",
        "CORTEX_API_KEY_FILE",
        "CORTEX_CA_BUNDLE",
        "CORTEX_LOG_FORMAT",
        "CORTEX_LOG_LEVEL",
    }
)
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class KubeconfigError(Exception):
    """One line for the user: why no kubeconfig was written."""


def parse_duration(text: str) -> int:
    """Seconds of ``1h``, ``90m``, ``12h30m``; at least 10 minutes (the API's minimum)."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise KubeconfigError(f"--duration: {text!r} is not a duration such as 12h or 90m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = int(timedelta(hours=hours, minutes=minutes, seconds=seconds).total_seconds())
    if total < 600:
        raise KubeconfigError(f"--duration: {text!r} is shorter than 10m, the API's minimum")
    return total


@dataclass(frozen=True)
class ChartIdentity:
    service_account: str
    settings: dict[str, str]  # CORTEX_* of the chart's Deployment, and the Lease's namespace
    deployment: str | None


def _chart_identity(api: Any, namespace: str, service_account: str | None) -> ChartIdentity:
    """The chart's ServiceAccount and settings, from its Deployment in ``namespace``."""
    try:
        found = call(
            api, "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments",
            query={"labelSelector": CHART_LABEL}, timeout=30,
        )  # fmt: skip
        deployments = list((found or {}).get("items") or [])
    except ApiException:
        deployments = []  # no permission to read them: the ServiceAccount must be named
    if service_account:
        deployments = [d for d in deployments if _account(d) == service_account]
    if len(deployments) != 1:
        if service_account:  # no chart Deployment to read: the Lease is the namespace's
            return ChartIdentity(service_account, {"CORTEX_LEASE_NAMESPACE": namespace}, None)
        what = "no" if not deployments else "more than one"
        raise KubeconfigError(
            f"{what} cortex-events-operator Deployment in namespace {namespace} "
            f"(label {CHART_LABEL}): name the ServiceAccount with --serviceaccount"
        )
    deployment = deployments[0]
    settings = {"CORTEX_LEASE_NAMESPACE": namespace}
    for container in _pod_spec(deployment).get("containers") or []:
        for variable in container.get("env") or []:
            name, value = variable.get("name", ""), variable.get("value")
            if name.startswith("CORTEX_") and name not in NOT_TAKEN and value is not None:
                settings[name] = str(value)
    return ChartIdentity(_account(deployment), settings, deployment["metadata"]["name"])


def _pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return dict(((deployment.get("spec") or {}).get("template") or {}).get("spec") or {})


def _account(deployment: dict[str, Any]) -> str:
    return str(_pod_spec(deployment).get("serviceAccountName") or "default")


def _request_token(api: Any, namespace: str, account: str, seconds: int) -> dict[str, Any]:
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds},
    }
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token"
    try:
        answer = call(api, "POST", path, body, timeout=30)
    except ApiException as error:
        if error.status == 404:
            raise KubeconfigError(
                f"no ServiceAccount {namespace}/{account}: install the chart first, or name "
                "its ServiceAccount with --serviceaccount"
            ) from None
        if error.status == 403:
            raise KubeconfigError(
                f"your kubeconfig's identity may not create tokens for ServiceAccount "
                f"{namespace}/{account} (it needs create on serviceaccounts/token in "
                f"{namespace}): {describe(error)}"
            ) from None
        raise KubeconfigError(f"the TokenRequest was refused: {describe(error)}") from None
    return dict((answer or {}).get("status") or {})


def _cluster_entry(api: Any) -> dict[str, Any]:
    configuration = api.configuration
    cluster: dict[str, Any] = {"server": configuration.host}
    if not configuration.verify_ssl:
        cluster["insecure-skip-tls-verify"] = True
    elif configuration.ssl_ca_cert:
        data = Path(configuration.ssl_ca_cert).read_bytes()
        cluster["certificate-authority-data"] = base64.b64encode(data).decode()
    return cluster


def write_kubeconfig(
    namespace: str,
    service_account: str | None,
    duration: str,
    output: Path,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Write the kubeconfig, print the ``export`` lines; 0 on success."""
    out, err = out or sys.stdout, err or sys.stderr
    seconds = parse_duration(duration)
    problem = check_cluster()
    if problem:
        raise KubeconfigError(problem)
    api = load_api_client()
    try:
        identity = _chart_identity(api, namespace, service_account)
        status = _request_token(api, namespace, identity.service_account, seconds)
        user = f"{namespace}-{identity.service_account}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cluster", "cluster": _cluster_entry(api)}],
            "users": [{"name": user, "user": {"token": status["token"]}}],
            "contexts": [
                {
                    "name": user,
                    "context": {"cluster": "cluster", "user": user, "namespace": namespace},
                }
            ],
            "current-context": user,
        }
    finally:
        api.close()
    output = output.resolve()
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    source = f"Deployment {namespace}/{identity.deployment}" if identity.deployment else None
    print(
        f"# Wrote {output}: ServiceAccount {namespace}/{identity.service_account}, token valid "
        f"until {status.get('expirationTimestamp', '?')}.",
        file=err,
    )
    if source:
        print(f"# Settings from {source}.", file=err)
    else:
        print("# No chart Deployment uses it: only the Lease's namespace is set.", file=err)
    print("# Then: export CORTEX_API_KEY=... and run: cortex-events run", file=err)
    print(f"export KUBECONFIG={_quote(str(output))}", file=out)
    for name, value in sorted(identity.settings.items()):
        print(f"export {name}={_quote(value)}", file=out)
    return 0


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"
