"""The service's Prometheus metrics, in a registry of its own (so two apps in one process do not mix)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """Request counts and latency by route, events stored, and the served model version."""

    def __init__(self, events_stored: Callable[[], float]):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pairrank_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pairrank_request_seconds",
            "Request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        Gauge("pairrank_events_stored", "Events in the event store", registry=self.registry).set_function(events_stored)
        self.model = Gauge(
            "pairrank_model_info", "The served model version (value 1)", ["version", "model"], registry=self.registry
        )

    def served(self, version: str, model: str) -> None:
        self.model.clear()
        self.model.labels(version=version, model=model).set(1)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def text(self) -> bytes:
        return generate_latest(self.registry)
