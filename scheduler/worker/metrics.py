"""Prometheus metrics: rows by status (a collector over counts refreshed from the database), loop and send
timings. The HTTP app serves `render()` at /metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from store import Store

REGISTRY = CollectorRegistry(auto_describe=True)

_COUNTED = ("jobs", "triggers", "notifications", "outbox")


class StatusCounts(Collector):
    """Rows per status of jobs, triggers, notifications and outbox, as of the last `refresh`.

    Prometheus collects synchronously, so the counts are read by `refresh` (async, from the worker's loop or
    the /metrics handler) and only reported here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}
        self._scan_lag = 0.0

    def set(self, counts: Mapping[str, Mapping[str, int]], scan_lag_seconds: float) -> None:
        with self._lock:
            self._counts = {table: dict(by_status) for table, by_status in counts.items()}
            self._scan_lag = scan_lag_seconds

    @property
    def scan_lag(self) -> float:
        with self._lock:
            return self._scan_lag

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {table: dict(by_status) for table, by_status in self._counts.items()}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            counts = {table: dict(by_status) for table, by_status in self._counts.items()}
            lag = self._scan_lag
        for table in _COUNTED:
            family = GaugeMetricFamily(
                f"smartflow_{table}", f"{table} rows by status (last refresh)", labels=["status"]
            )
            for status, n in sorted(counts.get(table, {}).items()):
                family.add_metric([status], n)
            yield family
        yield GaugeMetricFamily(
            "smartflow_due_scan_lag_seconds",
            "Age of the oldest pending job whose trigger time has passed (0 when none is waiting)",
            value=lag,
        )


STATUS_COUNTS = StatusCounts()
REGISTRY.register(STATUS_COUNTS)

LOOP_RUNS = Counter("smartflow_worker_loop_runs", "Worker loop ticks", ["loop", "result"], registry=REGISTRY)
LOOP_SECONDS = Histogram(
    "smartflow_worker_loop_seconds",
    "Duration of one worker loop tick",
    ["loop"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
TRIGGERS_CREATED = Counter(
    "smartflow_worker_triggers_created", "Triggers created by the due scan", registry=REGISTRY
)
DELIVERIES = Counter(
    "smartflow_deliveries",
    "Delivery outcomes (sent, failed, dead, deferred, skipped)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
SEND_LATENCY = Histogram(
    "smartflow_send_latency_seconds",
    "Duration of one send or card update call to the chat platform",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
WORKER_UP = Gauge("smartflow_worker_running", "1 while a worker's loops are scheduled", registry=REGISTRY)


async def refresh_status_counts(store: Store, now: datetime) -> dict[str, dict[str, int]]:
    """Read row counts by status and the due-scan lag into STATUS_COUNTS; returns the counts."""
    async with store.uow(readonly=True) as uow:
        counts = await uow.ops.counts_by_status(_COUNTED)
        oldest = await uow.ops.oldest_due_job_at(now)
    lag = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
    STATUS_COUNTS.set(counts, lag)
    return counts


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition of REGISTRY and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
