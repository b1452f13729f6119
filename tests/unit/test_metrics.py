"""The operator's /metrics: what a scraper gets."""

from __future__ import annotations

from prometheus_client import generate_latest

from cortex_events.ops.observability import Metrics


def exposition(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_counters_and_histograms_have_no_created_series() -> None:
    metrics = Metrics()
    metrics.sent.labels("POD_CREATION", "created").inc()
    metrics.latency.observe(0.2)
    metrics.request_duration.labels("POST").observe(0.1)
    metrics.leader_transitions.inc()
    text = exposition(metrics)
    assert "cortex_events_sent_total" in text
    assert "cortex_events_delivery_latency_seconds_bucket" in text
    assert "_created" not in text
