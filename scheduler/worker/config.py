"""Worker tuning built from the settings, and the start-up check that nested timeouts shrink inward."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class WorkerErrorCode(StrEnum):
    TIMEOUTS_NOT_NESTED = "worker.timeouts_not_nested"


class WorkerConfigError(Exception):
    """The worker cannot start with this configuration; the message names the settings."""

    def __init__(self, code: WorkerErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class WorkerConfig:
    """The worker's tuning. The fields without a default are settings, declared with their defaults and
    limits in app.settings.Settings only; build one with `Settings.worker_config()`."""

    due_scan_seconds: float
    outbox_relay_seconds: float
    delivery_seconds: float
    expiry_scan_seconds: float
    promotion_seconds: float
    lease_recovery_seconds: float
    lease_seconds: float
    feishu_timeout_seconds: float
    delivery_timeout_seconds: float
    daily_card_cap: int
    conflict_scan_seconds: float
    # Batch sizes and concurrency are not settings: they are sized for the code, not for a deployment.
    due_batch: int = 50  # jobs per due-scan batch: fixed statements per batch; more holds row locks longer
    outbox_batch: int = 200
    delivery_batch: int = 100
    delivery_concurrency: int = 16
    pipeline_concurrency: int = 4
    # A scan tick keeps claiming batches while they come back full, up to this many, so a backlog drains
    # quickly without one tick running unbounded.
    max_batches_per_tick: int = 20

    def check(self) -> None:
        """Raise unless Feishu call timeout < delivery step timeout < lease.

        A step that can outlive its lease lets a second worker claim the row and send it again; a Feishu call
        that can outlive its step is cancelled with an unknown outcome every time."""
        if not self.feishu_timeout_seconds < self.delivery_timeout_seconds < self.lease_seconds:
            raise WorkerConfigError(
                WorkerErrorCode.TIMEOUTS_NOT_NESTED,
                "timeouts must shrink inward: SMARTFLOW_FEISHU_TIMEOUT_SECONDS "
                f"({self.feishu_timeout_seconds:g}) < SMARTFLOW_DELIVERY_TIMEOUT_SECONDS "
                f"({self.delivery_timeout_seconds:g}) < SMARTFLOW_LEASE_SECONDS ({self.lease_seconds:g})",
            )
