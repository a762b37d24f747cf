"""Tenant access token cache: fetched without blocking the loop, refreshed early, single-flight, evictable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# Feishu hands out 2-hour tokens and may invalidate one early; refreshing 5 minutes ahead keeps a send from
# ever starting with a token about to lapse mid-flight.
DEFAULT_REFRESH_MARGIN_SECONDS = 300.0

TokenFetcher = Callable[[], Awaitable[tuple[str, float]]]
"""Fetches a fresh token; returns (token, lifetime in seconds)."""


@dataclass(frozen=True)
class CachedToken:
    value: str
    refresh_at: float


class TenantTokenCache:
    """One tenant token per app, shared by every concurrent caller on one event loop."""

    def __init__(
        self,
        fetch: TokenFetcher,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_margin_seconds: float = DEFAULT_REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = refresh_margin_seconds
        self._cached: CachedToken | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        cached = self._cached
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.value
        async with self._lock:
            # Whoever held the lock before us may already have refreshed it: one fetch for many waiters.
            cached = self._cached
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.value
            value, lifetime = await self._fetch()
            # A lifetime shorter than the margin would make every call refetch; refresh at half-life then.
            lead = min(self._margin, lifetime / 2)
            self._cached = CachedToken(value, self._clock() + lifetime - lead)
            return value

    def evict(self, stale: str) -> None:
        """Forget `stale` (refused by Feishu), unless another caller already replaced it."""
        if self._cached is not None and self._cached.value == stale:
            self._cached = None
