"""Open API calls made with a user's access token (their calendar, their tasks): one pooled httpx client with
a timeout, every call waiting for a slot under the method's limits (per minute, per second: this process's
own count unless shared ones are given), the answer read once and logged without the token. Each client
(bot.feishu.calendar, bot.feishu.tasks) turns a failure into its own port's error."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bot.feishu.ratelimit import Limiter, SlidingWindowLimiter

log = logging.getLogger(__name__)


class CallFailed(Exception):
    """No answer: `kind` is "timeout" or "network" (both worth trying again)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] | None  # the JSON object, None when the body was not one
    headers: Mapping[str, str]

    @property
    def code(self) -> int | None:
        code = self.body.get("code") if self.body is not None else None
        return code if isinstance(code, int) else None

    @property
    def msg(self) -> str:
        return str(self.body.get("msg", "")) if self.body is not None else "not JSON"

    @property
    def ok(self) -> bool:
        return self.body is not None and 200 <= self.status < 300 and self.code == 0


class UserApi:
    def __init__(
        self,
        domain: str,
        timeout_seconds: float,
        *,
        per_minute: int,
        per_second: int,
        transport: httpx.AsyncBaseTransport | None = None,
        limiters: tuple[Limiter, Limiter] | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=domain.rstrip("/"),
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            headers={"User-Agent": "smartflow-bot"},
        )
        self._limits = limiters or (
            SlidingWindowLimiter(per_minute, window=60.0),
            SlidingWindowLimiter(per_second, window=1.0),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        name: str,
        method: str,
        path: str,
        access_token: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Answer:
        """The answer, whatever its status; CallFailed when none came."""
        headers = {"Authorization": f"Bearer {access_token}"}
        started = time.perf_counter()
        try:
            async with self._limits[0].slot("app"), self._limits[1].slot("app"):
                started = time.perf_counter()
                response = await self._http.request(method, path, params=params, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            log.warning("feishu %s timed out after %.3fs", name, time.perf_counter() - started)
            raise CallFailed("timeout", name) from exc
        except httpx.HTTPError as exc:
            log.warning("feishu %s failed: %s", name, type(exc).__name__)
            raise CallFailed("network", type(exc).__name__) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        answer = Answer(response.status_code, body if isinstance(body, dict) else None, response.headers)
        log.info(
            "feishu %s -> HTTP %s code %s in %.3fs",
            name,
            answer.status,
            answer.code,
            time.perf_counter() - started,
        )
        return answer
