"""What the operator sets up and says as it starts: its leader election, its configuration in a
few lines, and each namespace to watch that does not exist."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable

from cortex_events.config.settings import Settings
from cortex_events.kube.client import KubeClient
from cortex_events.kube.leases import ElectionSettings, LeaderElector, own_namespace

logger = logging.getLogger("cortex_events.app")


def log_start(settings: Settings, election: ElectionSettings | None, identity: str) -> None:
    """The cluster, the namespaces, Cortex and its budget; deploys; leader election."""
    logger.info(
        "Starting: cluster %r, %s, Cortex at %s, %g requests/minute%s",
        settings.cluster_name,
        f"namespaces {', '.join(settings.namespaces)}" if settings.namespaces else "all namespaces",
        settings.base_url,
        settings.rate_limit,
        " (dry run: nothing is sent)" if settings.dry_run else "",
    )
    if settings.deploys:
        logger.info(
            "Deploys: completed rollouts%s are recorded as Cortex deploys, environment %r, "
            "unless a CortexEntity says otherwise",
            " and scales" if settings.deploy_scales else "",
            settings.deploy_environment or settings.cluster_name,
        )
    if election is not None:
        logger.info(
            "Leader election on Lease %s/%s as %s: only the leader sends to Cortex",
            election.namespace,
            election.name,
            identity,
        )
    elif settings.leader_election:
        logger.info(
            "Leader election is off: no namespace for its Lease outside a cluster "
            "(set CORTEX_LEASE_NAMESPACE to elect one leader among several replicas)"
        )


async def warn_missing_namespaces(kube: KubeClient, namespaces: Iterable[str]) -> None:
    """Warn about each namespace to watch that does not exist: most often a typo.

    Its workloads are still watched, should it be created later. Without permission to read
    Namespace objects (the Helm chart's Roles grant none) nothing is said."""
    for namespace in namespaces:
        try:
            exists = await kube.namespace_exists(namespace)
        except Exception as error:  # the API is down: the liveness probe reports that
            logger.debug("Could not look up namespace %s: %s", namespace, error)
            continue
        if exists is False:
            logger.warning(
                "Namespace %r (from --namespaces / CORTEX_NAMESPACES) does not exist: "
                "check its spelling; workloads created in it later are still recorded",
                namespace,
            )


def elector(
    settings: Settings, kube: KubeClient, identity: str, on_change: Callable[[bool], None]
) -> LeaderElector | None:
    """The Lease election ``settings`` ask for; None without one, or outside a cluster with no
    Lease namespace set."""
    namespace = own_namespace(settings.lease_namespace)
    if not settings.leader_election or not namespace:
        return None
    return LeaderElector(
        kube,
        ElectionSettings(
            namespace=namespace,
            identity=identity,
            name=settings.lease_name,
            lease_duration=settings.lease_duration,
            renew_deadline=settings.renew_deadline,
            retry_period=settings.retry_period,
        ),
        on_change=on_change,
    )


async def own_lease(kube: KubeClient, election: LeaderElector) -> None:
    """The Lease is written owned by the operator's ServiceAccount where it is in the Lease's
    namespace: the garbage collector deletes it with the ServiceAccount."""
    account = await kube.service_account()
    if account is not None and account[0] == election.settings.namespace:
        owner = {"apiVersion": "v1", "kind": "ServiceAccount", "name": account[1],
                 "uid": account[2]}  # fmt: skip
        election.settings = dataclasses.replace(election.settings, owner=owner)
