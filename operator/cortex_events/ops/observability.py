"""Metrics and decision logs: one listener that delivery, the client and the recorder report to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from cortex_events.controllers.entity_status import EntityActivity
from cortex_events.delivery.queue import Outgoing, OutgoingDeploy
from cortex_events.domain.mapping import TagIssue
from cortex_events.domain.model import WorkloadRef
from cortex_events.domain.priority import Priority
from cortex_events.domain.tags import parse_tags

# Posts a Warning Kubernetes Event on a workload: (workload, reason, message).
WarningPoster = Callable[[WorkloadRef, str, str], None]

logger = logging.getLogger("cortex_events.events")

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class QueueView(Protocol):
    def depth_of(self, priority: Priority) -> int: ...

    def oldest_age(self, priority: Priority, now: float | None = None) -> float: ...


class Metrics:
    """The Prometheus metrics of SPEC.md's Operations section, in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # A `*_created` series beside every counter and histogram tells a scraper nothing it
        # uses and doubles what it stores; the switch is process-wide in prometheus_client.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.sent = Counter(
            "cortex_events_sent",
            "Events accepted by Cortex, by event type and result (created or updated).",
            ["type", "result"],
            registry=r,
        )
        self.deduplicated = Counter(
            "cortex_events_deduplicated",
            "Events not sent because Cortex already holds them unchanged.",
            registry=r,
        )
        self.dropped = Counter(
            "cortex_events_dropped",
            "Events given up on, by reason (entity_not_found, rejected).",
            ["reason"],
            registry=r,
        )
        self.skipped = Counter(
            "cortex_events_skipped_workloads",
            "Workloads seen that map to no Cortex entity, by kind and reason (unmapped, disabled).",
            ["kind", "reason"],
            registry=r,
        )
        self.deploys_sent = Counter(
            "cortex_deploys_sent",
            "Deploys recorded in Cortex, by type (DEPLOY, ROLLBACK, RESTART, SCALE).",
            ["type"],
            registry=r,
        )
        self.deploys_not_sent = Counter(
            "cortex_deploys_not_sent",
            "Deploys not recorded, each counted once, by reason (other_source: another tool "
            "recorded the same sha and environment; entity_not_found; rejected).",
            ["reason"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "cortex_events_queue_depth", "Events waiting for delivery or in flight.", registry=r
        )
        self.latency = Histogram(
            "cortex_events_delivery_latency_seconds",
            "From a change seen in Kubernetes to its event accepted by Cortex.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "cortex_api_requests",
            "Requests to Cortex's API by method and HTTP status (or 'error' without an answer).",
            ["method", "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            "cortex_api_request_duration_seconds",
            "Duration of requests to Cortex's API.",
            ["method"],
            registry=r,
        )
        self.rate_limit_wait = Histogram(
            "cortex_api_rate_limit_wait_seconds",
            "Time requests waited for the operator's own rate limiter.",
            buckets=(0, 0.01, 0.1, 0.5, 1, 5, 15, 60),
            registry=r,
        )
        self.retries = Counter(
            "cortex_api_retries", "Requests to Cortex retried, by reason.", ["reason"], registry=r
        )
        self.cortex_up = Gauge(
            "cortex_api_up",
            "1 when Cortex accepted the last request, 0 while it fails.",
            registry=r,
        )
        self.cortex_up.set(1)
        self.leader = Gauge(
            "cortex_events_leader",
            "1 while this replica holds the Lease and sends to Cortex, 0 while it stands by.",
            registry=r,
        )
        self.leader_transitions = Counter(
            "cortex_events_leader_transitions",
            "Times this replica became the leader or stopped being it.",
            registry=r,
        )
        self.class_depth = Gauge(
            "cortex_events_queue_depth_by_class",
            "Events and deploys waiting or in flight, by delivery class (failure, workload, "
            "churn, housekeeping).",
            ["class"],
            registry=r,
        )
        self.oldest = Gauge(
            "cortex_events_queue_oldest_seconds",
            "Age of the oldest item waiting for delivery, by delivery class (0: none waits).",
            ["class"],
            registry=r,
        )
        self.folded = Counter(
            "cortex_events_pod_changes_folded",
            "Pod changes (created, deleted) folded into their workload's summary instead of "
            "being sent as events of their own.",
            ["change"],
            registry=r,
        )
        self.updates_skipped = Counter(
            "cortex_events_pod_updates_skipped",
            "In-place updates of a Pod's own event skipped while Pod churn was folded.",
            registry=r,
        )
        self.folding = Gauge(
            "cortex_events_pod_folding",
            "1 while Pod churn outgrows the budget and Pods are folded into summaries "
            "(podEvents auto), else 0.",
            registry=r,
        )
        self.summaries_waiting = Gauge(
            "cortex_events_pod_summaries_waiting",
            "Pod summaries changed since they were last sent, waiting for their refresh (at "
            "most 30 s).",
            registry=r,
        )
        self.churn_pressure = Gauge(
            "cortex_events_pod_churn_pressure_seconds",
            "The Pod churn waiting for delivery, in seconds of budget (CORTEX_POD_FOLD_AFTER "
            "is the threshold).",
            registry=r,
        )

    def watch_queue(
        self, queue: QueueView, pressure: Callable[[], float], summaries: Callable[[], int]
    ) -> None:
        """Read the queue's classes, the churn pressure and the summaries waiting for their
        refresh when the metrics are scraped."""
        for priority in Priority:
            label = priority.label
            self.class_depth.labels(label).set_function(partial(queue.depth_of, priority))
            self.oldest.labels(label).set_function(partial(queue.oldest_age, priority))
        self.churn_pressure.set_function(pressure)
        self.summaries_waiting.set_function(summaries)


class OperatorListener:
    """Receives delivery, client and recorder reports; updates metrics, logs, entity activity."""

    def __init__(
        self,
        metrics: Metrics,
        activity: EntityActivity,
        post_warning: WarningPoster | None = None,
        *,
        dry_run: bool = False,
    ) -> None:
        self.metrics = metrics
        self.activity = activity
        self.post_warning = post_warning
        self.dry_run = dry_run

    # DeliveryListener
    def queue_changed(self, depth: int) -> None:
        self.metrics.queue_depth.set(depth)

    def delivered(self, item: Outgoing, result: str, latency: float) -> None:
        for entity in item.entities:
            if result == "created":
                self.activity.recorded(entity, item.body.type)
        if self.dry_run:
            # Nothing reached Cortex: the stand-in client has logged the event in full.
            logger.debug(
                "Dry run: would record %s on %r (%s): %s",
                item.body.type,
                item.tag,
                result,
                item.body.title,
                extra={"eventKey": item.key, "entity": item.tag},
            )
            return
        self.metrics.sent.labels(item.body.type, result).inc()
        self.metrics.latency.observe(latency)
        logger.info(
            "Recorded %s on %r (%s): %s",
            item.body.type,
            item.tag,
            result,
            item.body.title,
            extra={"eventKey": item.key, "entity": item.tag, "result": result},
        )

    def deduplicated(self, item: Outgoing) -> None:
        self.metrics.deduplicated.inc()
        logger.debug(
            "Already recorded on %r, unchanged: %s",
            item.tag,
            item.key,
            extra={"eventKey": item.key, "entity": item.tag},
        )

    def dropped(self, item: Outgoing, reason: str, detail: str) -> None:
        self.metrics.dropped.labels(reason).inc()
        for entity in item.entities:
            self.activity.failed(entity, item.body.type)
        # A missing entity has its own warning, once per tag (`entity_missing`); each of its
        # events is then one INFO line. A rejected event is a problem of its own.
        level = logging.INFO if reason == "entity_not_found" else logging.WARNING
        logger.log(
            level,
            "Not recorded on %r (%s): %s: %s",
            item.tag,
            reason,
            item.body.title,
            detail,
            extra={"eventKey": item.key, "entity": item.tag, "reason": reason},
        )

    # DeployListener
    def deploy_sent(self, item: OutgoingDeploy) -> None:
        body = item.body
        if not self.dry_run:
            self.metrics.deploys_sent.labels(body.type).inc()
        text = (
            "Dry run: would record deploy %s on %r (sha %s, environment %s): %s"
            if self.dry_run
            else "Recorded deploy %s on %r (sha %s, environment %s): %s"
        )
        # In a dry run the stand-in client has logged the deploy in full already.
        logger.log(
            logging.DEBUG if self.dry_run else logging.INFO,
            text,
            body.type,
            item.tag,
            body.sha or "none",
            body.environment,
            body.title,
            extra={"eventKey": item.key, "entity": item.tag},
        )

    def deploy_not_sent(self, item: OutgoingDeploy, reason: str, detail: str) -> None:
        self.metrics.deploys_not_sent.labels(reason).inc()
        level = logging.WARNING if reason == "rejected" else logging.INFO
        logger.log(
            level,
            "Deploy not recorded on %r (%s): %s: %s",
            item.tag,
            reason,
            item.body.title,
            detail,
            extra={"eventKey": item.key, "entity": item.tag, "reason": reason},
        )

    def entity_missing(self, tag: str) -> None:
        logger.warning(
            "Cortex has no entity with tag or id %r: its events are dropped until it exists "
            "(asked again every 5 minutes)",
            tag,
            extra={"entity": tag},
        )

    def cortex_failing(self, error: object) -> None:
        self.metrics.cortex_up.set(0 if error is not None else 1)

    def folded(self, item: Outgoing) -> None:
        change = item.fold.change.change.value if item.fold is not None else "created"
        self.metrics.folded.labels(change).inc()
        logger.debug(
            "Folded into its workload's Pod summary on %r: %s",
            item.tag,
            item.body.title,
            extra={"eventKey": item.key, "entity": item.tag},
        )

    def pod_update_skipped(self, item: Outgoing) -> None:
        self.metrics.updates_skipped.inc()
        logger.debug(
            "Not updated on %r while Pod churn is folded: %s",
            item.tag,
            item.key,
            extra={"eventKey": item.key, "entity": item.tag},
        )

    def folding(self, on: bool, seconds: float) -> None:
        self.metrics.folding.set(1 if on else 0)
        if on:
            logger.info(
                "Pod churn waiting for delivery is %.0fs of budget: the Pods of workloads are "
                "folded into one summary per workload and window until it is below half of "
                "CORTEX_POD_FOLD_AFTER",
                seconds,
            )
        else:
            logger.info(
                "Pod churn waiting for delivery is down to %.0fs of budget: Pods get an event "
                "each again",
                seconds,
            )

    # ClientObserver
    def request_finished(self, method: str, status: str, seconds: float) -> None:
        self.metrics.requests.labels(method, status).inc()
        self.metrics.request_duration.labels(method).observe(seconds)

    def rate_limit_waited(self, seconds: float) -> None:
        self.metrics.rate_limit_wait.observe(seconds)

    def retrying(self, method: str, attempt: int, delay: float, reason: str) -> None:
        self.metrics.retries.labels(reason).inc()

    # SkipListener
    def skipped(self, kind: str, reason: str) -> None:
        self.metrics.skipped.labels(kind, reason).inc()

    # TagIssueListener
    def tag_issue(self, workload: WorkloadRef, issue: TagIssue) -> None:
        where = f"{workload.kind} {workload.namespace}/{workload.name}"
        fields = {"workload": where, "annotation": issue.value}
        if not issue.problems:
            logger.info("%s on %s is empty: it names no Cortex entity", issue.annotation, where)
            return
        kept = parse_tags(issue.value)
        outcome = (
            f"ignored; events still go to {', '.join(repr(tag) for tag in kept)}"
            if kept
            else "ignored; this annotation maps no events"
        )
        message = f"{issue.annotation} on {where}: {issue.describe()}; {outcome}"
        logger.warning("%s", message, extra=fields)
        if self.post_warning is not None:
            self.post_warning(workload, "InvalidTag", message)
