"""`smartflow serve`: the HTTP app, the background worker, or both, until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import sys
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

import click

from app.cli_support import EXIT_CONFIG, EXIT_FAILURE, db_error_line, fail, settings_of
from app.logging import setup_logging
from app.settings import Settings
from app.wiring import Components, build_components, make_worker, serving_loop, settle_heap
from scheduler.worker.config import WorkerConfigError
from store import StoreError
from store.errors import DatabaseError

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
EMPTY_HOST = "must not be empty (to listen on every interface, write 0.0.0.0)"


class ServeError(Exception):
    """`serve` could not start: the port cannot be opened, or the HTTP app failed its start-up."""


def _host_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter(EMPTY_HOST)
    return value


@click.command("serve")
@click.option("--mode", type=click.Choice(["all", "api", "worker"]), default="all", show_default=True)
@click.option("--feishu", "feishu_mode", type=click.Choice(["http", "ws"]), default="http", show_default=True)
@click.option(
    "--host",
    default=None,
    callback=_host_option,
    help="Bind address (default SMARTFLOW_HOST, 127.0.0.1; 0.0.0.0 for every interface).",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port (default SMARTFLOW_PORT, 8000)."
)
@click.pass_context
def serve_command(
    ctx: click.Context, mode: str, feishu_mode: str, host: str | None, port: int | None
) -> None:
    """Run the Feishu bot (api), the background worker (worker), or both (all).

    SIGTERM or SIGINT stops it: the HTTP server finishes its requests, the worker finishes its ticks and
    releases its leases, then it exits with status 0. If the port cannot be opened it exits with status 1
    before starting anything."""
    settings = settings_of(ctx)
    if mode in ("api", "all"):
        missing = receiving_problem(settings, feishu_mode)
        if missing:
            fail(missing, EXIT_CONFIG)
        if host is None and not settings.host.strip():
            fail(f"SMARTFLOW_HOST: {EMPTY_HOST}", EXIT_CONFIG)
    setup_logging(settings.log_level)
    # APScheduler warns on every tick skipped because the previous one still runs; that is by design here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    bind_host = host if host is not None else settings.host
    bind_port = port if port is not None else settings.port
    try:
        with asyncio.Runner(loop_factory=serving_loop()) as runner:
            runner.run(_serve(settings, mode, feishu_mode, bind_host, bind_port))
    except ServeError as exc:
        fail(str(exc), EXIT_FAILURE)
    except WorkerConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    except (StoreError, DatabaseError, OSError) as exc:
        fail(db_error_line(exc, settings.database_url) if not isinstance(exc, StoreError) else str(exc))


def receiving_problem(settings: Settings, feishu_mode: str) -> str | None:
    """Why the bot cannot safely receive Feishu events in this mode (naming the variables), else None."""
    if feishu_mode == "ws":
        if not settings.feishu_configured:
            return (
                "--feishu ws needs SMARTFLOW_FEISHU_APP_ID and SMARTFLOW_FEISHU_APP_SECRET "
                "(the long connection logs in as the app)"
            )
        return None
    if not (settings.feishu_verification_token or settings.feishu_encrypt_key):
        return (
            "receiving callbacks over HTTP needs SMARTFLOW_FEISHU_VERIFICATION_TOKEN (and, recommended, "
            "SMARTFLOW_FEISHU_ENCRYPT_KEY): without them anyone who can reach the port could post events. "
            "Use --mode worker to run only the background worker."
        )
    return None


class _Stop:
    """SIGTERM / SIGINT, handled by us for the whole run so that the worker and the components are always
    stopped (uvicorn's own handlers re-raise the signal after its shutdown, which kills the process by
    SIGTERM's default action before our cleanup runs)."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.server: Any = None  # the uvicorn server while HTTP is served
        self._count = 0

    def __call__(self, sig: signal.Signals) -> None:
        self._count += 1
        if self._count == 1:
            log.info("%s received, stopping", sig.name)
        elif sig == signal.SIGINT and self.server is not None:
            self.server.force_exit = True  # a second Ctrl+C: stop waiting for open connections
        self.requested.set()
        if self.server is not None:
            self.server.should_exit = True

    @contextlib.contextmanager
    def installed(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self, sig)
        try:
            yield
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)


async def _serve(settings: Settings, mode: str, feishu_mode: str, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = _Stop()
    with stop.installed(loop):
        # The port first: if it is taken, nothing has started (no worker sending cards, no schema change).
        listeners = await listen(host, port) if mode != "worker" else []
        try:
            await _run(settings, mode, feishu_mode, listeners, stop)
        finally:
            for sock in listeners:
                sock.close()


async def _run(
    settings: Settings, mode: str, feishu_mode: str, listeners: list[socket.socket], stop: _Stop
) -> None:
    components = build_components(settings)
    try:
        worker = make_worker(components) if mode in ("worker", "all") else None
        await components.store.ensure_schema()
        if worker is not None:
            await worker.start()
        settle_heap()
        try:
            if mode == "worker":
                await stop.requested.wait()
            elif not stop.requested.is_set():
                await _serve_http(components, feishu_mode, listeners, stop)
        finally:
            if worker is not None:
                await worker.stop()
    finally:
        await components.aclose()


async def listen(host: str, port: int) -> list[socket.socket]:
    """Bound, listening sockets for every address `host` resolves to (as asyncio's create_server binds),
    or ServeError naming host:port and the reason."""
    where = _url_host(host, port)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ServeError(f"cannot listen on {where}: {_reason(exc)}") from exc
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # One socket per family, as asyncio does: no dual-stack surprise on "::".
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(2048)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ServeError(f"cannot listen on {where}: {_reason(exc)}") from exc
    return sockets


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


async def _serve_http(
    components: Components, feishu_mode: str, listeners: list[socket.socket], stop: _Stop
) -> None:
    import uvicorn

    # Imported at call time: the HTTP app (bot.app) is built by the bot package and may not exist in a
    # worker-only deployment. Its contract: create_app(components, feishu_mode=...) -> ASGI app.
    from bot.app import create_app

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the signals are ours (_Stop), which sets should_exit

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                for sock in sockets or []:
                    host, port = sock.getsockname()[:2]
                    log.info(
                        "serving HTTP on http://%s (Feishu events: %s)", _url_host(host, port), feishu_mode
                    )

    # Without Feishu credentials (console mode) the bot's replies are printed, as the worker prints cards.
    outbound = PrintedOutbound() if components.feishu is None else None
    app: Any = create_app(components, feishu_mode=feishu_mode, outbound=outbound)
    # An idle keep-alive connection is closed after as long as a body may take to arrive.
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=max(1, round(components.settings.body_read_seconds)),
    )
    server = Server(config)
    stop.server = server
    try:
        await server.serve(sockets=listeners)
    except SystemExit as exc:  # uvicorn exits (status 3) when the app's start-up fails; it has logged why
        raise ServeError(f"the HTTP app did not start (uvicorn exit {exc.code}); see the log above") from None
    finally:
        stop.server = None


class PrintedOutbound:
    """Console mode's stand-in for Feishu on the bot side: each chat reply is printed on stdout (the
    worker's ConsoleSender prints the cards); message ids are made up."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out

    def _write(self, text: str) -> None:
        out = self._out or sys.stdout
        out.write(text + "\n")
        out.flush()

    async def send_text(
        self, receive_id: str, text: str, uuid: str, receive_id_type: str | None = None
    ) -> str:
        self._write(f"--- reply to {receive_id}\n{text}")
        return f"console-{uuid}"

    async def reply_text(self, message_id: str, text: str, uuid: str) -> str:
        self._write(f"--- reply to message {message_id}\n{text}")
        return f"console-{uuid}"

    async def send_card(self, open_id: str, card: Mapping[str, Any], uuid: str) -> str:
        self._write(f"--- card to {open_id} ({len(json.dumps(card, ensure_ascii=False))} bytes of card JSON)")
        return f"console-{uuid}"

    async def delayed_update(self, token: str, card: Mapping[str, Any]) -> None:
        self._write("--- card updated after a press")

    async def patch_card(self, message_id: str, card: Mapping[str, Any]) -> None:
        self._write(f"--- card {message_id} updated after a press")

    async def add_reaction(self, message_id: str, emoji_type: str) -> str:
        self._write(f"--- reacted {emoji_type} to message {message_id}")
        return f"console-{message_id}"


def _url_host(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


if __name__ == "__main__":  # `python -m app.cli_serve --mode worker` (tests start workers this way too)
    serve_command()
