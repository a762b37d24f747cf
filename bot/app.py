"""The HTTP app: Feishu callbacks (events and card clicks), the OAuth redirect back from Feishu, health,
readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.handlers import BotConfig, BotDeps, BotReceiver
from bot.handlers.deps import Outbound, utc_now
from bot.oauth_page import PAGE_HEADERS, oauth_page
from scheduler.services.capture import TaskReader
from scheduler.services.connect import CalendarLogin, CallbackOutcome, CallbackResult
from scheduler.services.oauth import CALLBACK_PATH
from scheduler.services.pipeline import Pipeline
from scheduler.services.tasksync import TaskSync
from scheduler.services.types import Store

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 2.0
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Components(Protocol):
    """What the app is built from (app.wiring.Components has all of it)."""

    @property
    def settings(self) -> Any: ...
    @property
    def store(self) -> Store: ...
    @property
    def pipeline(self) -> Pipeline: ...
    @property
    def feishu(self) -> Any: ...
    @property
    def bot_config(self) -> BotConfig: ...
    @property
    def task_reader(self) -> TaskReader | None: ...
    @property
    def calendar_login(self) -> CalendarLogin | None: ...
    @property
    def task_sync(self) -> TaskSync | None: ...

    async def worker_metrics(self, now: datetime) -> bytes:
        """The worker's metrics (row counts by status refreshed first), in Prometheus text."""
        ...


class LoggedOutbound:
    """Stands in for Feishu when no app credentials are configured: replies are logged, not sent."""

    async def send_text(
        self, receive_id: str, text: str, uuid: str, receive_id_type: str | None = None
    ) -> str:
        log.info("reply (not sent, Feishu not configured) to %s: %d chars", receive_id, len(text))
        return f"logged-{uuid}"

    async def reply_text(self, message_id: str, text: str, uuid: str) -> str:
        return await self.send_text(message_id, text, uuid)

    async def send_card(self, open_id: str, card: Mapping[str, Any], uuid: str) -> str:
        log.info("card (not sent, Feishu not configured) to %s", open_id)
        return f"logged-{uuid}"

    async def delayed_update(self, token: str, card: Mapping[str, Any]) -> None:
        log.info("card update (not sent, Feishu not configured)")

    async def patch_card(self, message_id: str, card: Mapping[str, Any]) -> None:
        log.info("card update (not sent, Feishu not configured) of %s", message_id)

    async def add_reaction(self, message_id: str, emoji_type: str) -> str:
        log.info("reaction (not sent, Feishu not configured) on %s", message_id)
        return f"logged-{message_id}"


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "smartflow_feishu_callbacks",
            "Feishu callback requests by endpoint, kind and outcome.",
            ["endpoint", "kind", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "smartflow_feishu_callback_seconds",
            "Time to answer a Feishu callback, by endpoint and kind.",
            ["endpoint", "kind"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )


class BodyTooSlow(Exception):
    """The request body did not arrive within the read budget."""


async def read_bounded(request: Request, cap: int, seconds: float) -> bytes | None:
    """The body, or None when it is larger than `cap` bytes; BodyTooSlow when it takes over `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            return await read_capped(request, cap)
    except TimeoutError as exc:
        raise BodyTooSlow from exc


async def read_capped(request: Request, cap: int) -> bytes | None:
    """The body, or None when it is (or announces to be) larger than `cap` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdecimal() or int(declared) > cap):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    components: Components,
    *,
    feishu_mode: str = "http",
    clock: Callable[[], datetime] = utc_now,
    config: BotConfig | None = None,
    registry: CollectorRegistry | None = None,
    outbound: Outbound | None = None,
) -> Starlette:
    """The ASGI app. `feishu_mode="ws"` also runs the long connection (bot.feishu.ws) while the app lives."""
    from bot.feishu.gateway import Gateway

    config = config or components.bot_config
    deps = BotDeps(
        store=components.store,
        pipeline=components.pipeline,
        outbound=outbound or components.feishu or LoggedOutbound(),
        config=config,
        clock=clock,
        task_reader=components.task_reader,
        calendar_login=components.calendar_login,
        task_sync=components.task_sync,
    )
    receiver = BotReceiver(deps)
    gateway = Gateway(config.encrypt_key, config.verification_token, max_body_bytes=config.max_body_bytes)
    metrics = HttpMetrics(registry or CollectorRegistry())
    state: dict[str, Any] = {"ws": None}

    async def callback(request: Request) -> Response:
        endpoint = request.url.path.rsplit("/", 1)[-1]
        started = time.perf_counter()
        arrived = time.monotonic()
        try:
            body = await read_bounded(request, config.max_body_bytes, config.body_read_seconds)
        except BodyTooSlow:
            metrics.requests.labels(endpoint, "", "body_timeout").inc()
            # The rest of the body may still be on its way: close the connection rather than read it.
            return JSONResponse(
                {"msg": "request body timeout"}, status_code=408, headers={"connection": "close"}
            )
        if body is None:
            metrics.requests.labels(endpoint, "", "too_large").inc()
            return JSONResponse({"msg": "body too large"}, status_code=413)
        result = await gateway.handle_http(body, request.headers, receiver, arrived)
        metrics.requests.labels(endpoint, result.kind, result.outcome.value).inc()
        metrics.latency.labels(endpoint, result.kind).observe(time.perf_counter() - started)
        return Response(result.body, status_code=result.status, media_type="application/json")

    async def oauth_callback(request: Request) -> Response:
        """Feishu sends the browser back here after the user authorized (or declined) on its page."""
        query = request.query_params
        login = deps.calendar_login
        if login is None:  # connecting is off: every state is one this deployment cannot have issued
            outcome = CallbackOutcome(CallbackResult.INVALID)
        else:
            outcome = await login.complete(query.get("code"), query.get("state"), query.get("error"), clock())
        status, page = oauth_page(outcome, config.locale)
        return HTMLResponse(page, status_code=status, headers=PAGE_HEADERS)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await deps.store.ping()
            checks["database"] = "ok"
        except Exception as exc:
            log.warning("readiness: database unreachable: %s", type(exc).__name__)
            checks["database"] = "unreachable"
        ws = state["ws"]
        if ws is not None:
            checks["long_connection"] = "ok" if ws.alive() else "stale"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", **checks}, status_code=200 if ok else 503
        )

    async def metrics_endpoint(request: Request) -> Response:
        parts = [generate_latest(metrics.registry)]
        parts.append(await components.worker_metrics(clock()))
        parts.append(generate_latest(REGISTRY))  # llm.metrics and the process collectors
        return Response(b"".join(parts), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if feishu_mode == "ws":
            from bot.feishu.ws import LongConnection

            ws = LongConnection.from_settings(
                components.settings, gateway, receiver, asyncio.get_running_loop()
            )
            ws.start()
            state["ws"] = ws
        try:
            yield
        finally:
            if state["ws"] is not None:
                state["ws"].stop()
            await deps.background.close()

    app = Starlette(
        routes=[
            Route("/feishu/events", callback, methods=["POST"]),
            Route("/feishu/card", callback, methods=["POST"]),
            Route(CALLBACK_PATH, oauth_callback, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.deps = deps
    app.state.gateway = gateway
    app.state.receiver = receiver
    app.state.metrics = metrics
    app.state.long_connection = state
    return app
