"""Worker tuning read from the settings, and the start-up check that nested timeouts shrink inward."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class WorkerSettings(Protocol):
    """The settings fields the worker reads (app.settings.Settings has them)."""

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


class WorkerErrorCode(StrEnum):
    TIMEOUTS_NOT_NESTED = "worker.timeouts_not_nested"


class WorkerConfigError(Exception):
    """The worker cannot start with this configuration; the message names the settings."""

    def __init__(self, code: WorkerErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class WorkerConfig:
    due_scan_seconds: float = 5.0
    outbox_relay_seconds: float = 2.0
    delivery_seconds: float = 2.0
    expiry_scan_seconds: float = 30.0
    promotion_seconds: float = 60.0
    lease_recovery_seconds: float = 15.0
    lease_seconds: float = 60.0
    feishu_timeout_seconds: float = 10.0
    delivery_timeout_seconds: float = 20.0
    daily_card_cap: int = 8
    due_batch: int = 100
    outbox_batch: int = 200
    delivery_batch: int = 100
    delivery_concurrency: int = 16
    pipeline_concurrency: int = 4
    # A scan tick keeps claiming batches while they come back full, up to this many, so a backlog drains
    # quickly without one tick running unbounded.
    max_batches_per_tick: int = 20

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> WorkerConfig:
        return cls(
            due_scan_seconds=settings.due_scan_seconds,
            outbox_relay_seconds=settings.outbox_relay_seconds,
            delivery_seconds=settings.delivery_seconds,
            expiry_scan_seconds=settings.expiry_scan_seconds,
            promotion_seconds=settings.promotion_seconds,
            lease_recovery_seconds=settings.lease_recovery_seconds,
            lease_seconds=settings.lease_seconds,
            feishu_timeout_seconds=settings.feishu_timeout_seconds,
            delivery_timeout_seconds=settings.delivery_timeout_seconds,
            daily_card_cap=settings.daily_card_cap,
        )

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
