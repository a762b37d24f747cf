"""The worker's side of effects (scheduler.services.effects): each effect name has one handler, run by the
delivery loop like a card send (claimed with a lease, marked `sending`, retried with backoff on a retryable
DeliveryError, dead after the last attempt or on a final one). Effects are not ordered (see
scheduler.services.effects): a handler brings Feishu in line with the current state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class PoisonEffect(Exception):
    """An effect row that can never run as it is (unknown name, malformed payload)."""


@dataclass(frozen=True)
class EffectCall:
    """One queued effect, as the handler gets it."""

    notification_id: str
    user_id: str
    key: str  # the idempotency key the service gave it (stable across retries)
    args: Mapping[str, Any]
    attempts: int  # attempts before this one


class EffectHandler(Protocol):
    async def run(self, call: EffectCall, now: datetime) -> str:
        """Do the call; returns a short result (an event id, a guid; "" for none), kept on the row.

        Raises DeliveryError (scheduler.worker.sender) for a failure: retryable or final."""
        ...


class Effects:
    """The handlers by effect name; an effect with no handler is poison (dead), never retried."""

    def __init__(self, handlers: Mapping[str, EffectHandler] | None = None) -> None:
        self._handlers: dict[str, EffectHandler] = dict(handlers or {})

    def register(self, name: str, handler: EffectHandler) -> None:
        self._handlers[name] = handler

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    @staticmethod
    def call_of(notification_id: str, user_id: str, payload: Any, attempts: int) -> tuple[str, EffectCall]:
        """(effect name, call) from a notification's payload; PoisonEffect when it is malformed."""
        if not isinstance(payload, dict):
            raise PoisonEffect("effect without its payload")
        name, key, args = payload.get("effect"), payload.get("key"), payload.get("args")
        if not isinstance(name, str) or not isinstance(key, str) or not isinstance(args, dict):
            raise PoisonEffect("effect payload needs effect, key and args")
        return name, EffectCall(notification_id, user_id, key, args, attempts)

    async def run(self, name: str, call: EffectCall, now: datetime) -> str:
        handler = self._handlers.get(name)
        if handler is None:
            raise PoisonEffect(f"no handler for effect {name!r}")
        return await handler.run(call, now)
