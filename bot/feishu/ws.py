"""Long-connection mode: lark.ws.Client on its own thread and loop, work handed to the app loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import lark_oapi as lark

from bot.feishu.gateway import Gateway
from bot.inbound import ClickIn, EventIn, Inbound, MessageIn, Receiver

log = logging.getLogger(__name__)

# A click's answer must reach Feishu within 3 s; the receiver answers clicks within its own budget (2.5 s).
CLICK_WAIT_SECONDS = 2.8
# A message is acknowledged once it is recorded and handled (one short transaction), as in HTTP mode: if the
# process dies first, or the database refuses it, Feishu pushes it again. Slower than this, it is acknowledged
# anyway and the work goes on (the inbox makes a re-push harmless).
RECORD_WAIT_SECONDS = 2.8
# Feishu re-pushes un-acked events after a reconnect; a message this old is not acted on any more.
STALE_MESSAGE_MS = 30 * 60 * 1000
# Pings go out every 120 s (the server may change that) and each gets a pong: no frame at all for this long
# means a half-open socket the SDK will not notice by itself.
SILENCE_SECONDS = 300.0
CHECK_EVERY_SECONDS = 15.0


class LongConnectionSettings(Protocol):
    @property
    def feishu_app_id(self) -> str: ...
    @property
    def feishu_app_secret(self) -> str: ...
    @property
    def feishu_domain(self) -> str: ...


class _Handler:
    """What lark.ws.Client calls for every event frame (on its own loop's thread)."""

    def __init__(self, owner: LongConnection) -> None:
        self._owner = owner

    def _do_without_validation(self, payload: bytes) -> Any:
        return self._owner.dispatch_frame(payload)


class LongConnection:
    """One lark.ws.Client in a daemon thread with a fresh event loop (the SDK keeps a module-level loop
    that clashes with a running one, so it is replaced before start). Frames are dispatched by the shared
    Gateway; the work runs on the app's loop via run_coroutine_threadsafe. Messages and ignored events are
    acknowledged once recorded in the inbox (a failure is answered 500, so Feishu pushes them again); a
    click waits for its answer, which carries the replacement card."""

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        domain: str,
        *,
        gateway: Gateway,
        receiver: Receiver,
        app_loop: asyncio.AbstractEventLoop,
        silence_seconds: float = SILENCE_SECONDS,
        check_every: float = CHECK_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ms: Callable[[], float] = lambda: time.time() * 1000,
    ) -> None:
        self._app_id = app_id
        self._app_secret = app_secret
        self._domain = domain
        self._gateway = gateway
        self._receiver = receiver
        self._app_loop = app_loop
        self._silence = silence_seconds
        self._check_every = check_every
        self._clock = clock
        self._wall_ms = wall_clock_ms
        self._last_frame = clock()
        self._thread: threading.Thread | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._client: Any = None
        self._ws_loop: asyncio.AbstractEventLoop | None = None
        self._stopped = threading.Event()
        self.restarts = 0
        self.dropped_stale = 0

    @classmethod
    def from_settings(
        cls,
        settings: LongConnectionSettings,
        gateway: Gateway,
        receiver: Receiver,
        app_loop: asyncio.AbstractEventLoop,
    ) -> LongConnection:
        return cls(
            settings.feishu_app_id,
            settings.feishu_app_secret,
            settings.feishu_domain,
            gateway=gateway,
            receiver=receiver,
            app_loop=app_loop,
        )

    # ---- liveness ---------------------------------------------------------------------------------------
    def note_frame(self) -> None:
        self._last_frame = self._clock()

    def alive(self) -> bool:
        return self._clock() - self._last_frame <= self._silence

    async def watch(self) -> None:
        """On the app loop: when nothing arrived for too long, close the socket so the SDK reconnects."""
        while not self._stopped.is_set():
            await asyncio.sleep(self._check_every)
            if not self.alive():
                log.warning(
                    "long connection silent for %.0fs; forcing a reconnect", self._clock() - self._last_frame
                )
                self.force_reconnect()

    def tune(self, *, silence_seconds: float, check_every: float) -> None:
        """Change the watchdog's thresholds (restarts it)."""
        self._silence, self._check_every = silence_seconds, check_every
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = self._app_loop.create_task(self.watch(), name="feishu-ws-watchdog")

    def force_reconnect(self) -> None:
        client, loop = self._client, self._ws_loop
        self.restarts += 1
        self._last_frame = self._clock()  # give the reconnect a full period before judging again
        conn = getattr(client, "_conn", None) if client is not None else None
        if conn is None or loop is None or loop.is_closed():
            return
        # Closing the socket ends the SDK's receive loop, which then disconnects and reconnects on its own.
        asyncio.run_coroutine_threadsafe(conn.close(), loop)

    # ---- frames -----------------------------------------------------------------------------------------
    def dispatch_frame(self, payload: bytes) -> Any:
        """Called by the SDK on the connection's thread for each event frame; returns the ack's data."""
        self.note_frame()
        return self._gateway.dispatch_plain(payload, self._hand_over)

    def _submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._app_loop)

    def _hand_over(self, inbound: Inbound) -> Any:
        if isinstance(inbound, ClickIn):
            inbound = dataclasses.replace(inbound, received_at=time.monotonic())
            future = self._submit(self._receiver.on_click(inbound))
            try:
                return future.result(timeout=CLICK_WAIT_SECONDS)
            except concurrent.futures.TimeoutError:
                log.warning("click answer not ready in time; acknowledging without a card")
                return {}
        if isinstance(inbound, MessageIn):
            created = inbound.create_time_ms
            if created is not None and self._wall_ms() - created > STALE_MESSAGE_MS:
                self.dropped_stale += 1
                log.info("stale message %s from a reconnect backfill dropped", inbound.message_id)
                return None
            return self._ack_when_recorded(self._submit(self._receiver.on_message(inbound)))
        assert isinstance(inbound, EventIn)
        return self._ack_when_recorded(self._submit(self._receiver.on_event(inbound)))

    @staticmethod
    def _ack_when_recorded(future: concurrent.futures.Future[None]) -> None:
        """Wait for the inbox transaction; its failure propagates, so the SDK answers 500 and Feishu
        pushes the event again."""
        try:
            future.result(timeout=RECORD_WAIT_SECONDS)
        except concurrent.futures.TimeoutError:
            log.warning("event not recorded in time; acknowledged, the work goes on")
            future.add_done_callback(_log_failure)

    # ---- lifecycle --------------------------------------------------------------------------------------
    def _make_client(self) -> Any:
        client = lark.ws.Client(
            self._app_id,
            self._app_secret,
            event_handler=_Handler(self),
            domain=self._domain,
            auto_reconnect=True,
            log_level=lark.LogLevel.INFO,
        )
        inner = client._handle_message

        async def handle_message(msg: bytes) -> None:
            self.note_frame()  # pongs and control frames count as signs of life too
            await inner(msg)

        client._handle_message = handle_message
        return client

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        import lark_oapi.ws.client as ws_client

        ws_client.loop = loop  # the SDK runs everything on this module-level loop
        self._ws_loop = loop
        try:
            self._client = self._make_client()
            self._client.start()  # blocks until the process ends; there is no stop() in 1.7.5
        except Exception:
            if not self._stopped.is_set():
                log.exception("long connection ended")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="feishu-ws", daemon=True)
        self._thread.start()
        self._watchdog = self._app_loop.create_task(self.watch(), name="feishu-ws-watchdog")
        log.info("long connection started")

    def stop(self) -> None:
        """Stop watching and close the socket; the SDK thread is a daemon and ends with the process."""
        self._stopped.set()
        if self._watchdog is not None:
            self._watchdog.cancel()
        client, loop = self._client, self._ws_loop
        conn = getattr(client, "_conn", None) if client is not None else None
        if client is not None and loop is not None and not loop.is_closed():
            client._auto_reconnect = False
            if conn is not None:
                asyncio.run_coroutine_threadsafe(conn.close(), loop)


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.error("long-connection event failed: %s", exc, exc_info=exc)
