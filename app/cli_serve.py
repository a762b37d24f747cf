"""`smartflow serve`: the HTTP app, the background worker, or both, until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from app.cli_support import EXIT_CONFIG, db_error_line, fail, settings_of
from app.logging import setup_logging
from app.settings import Settings
from app.wiring import Components, build_components, make_worker
from scheduler.worker.config import WorkerConfigError
from store import StoreError

log = logging.getLogger(__name__)


@click.command("serve")
@click.option("--mode", type=click.Choice(["all", "api", "worker"]), default="all", show_default=True)
@click.option("--feishu", "feishu_mode", type=click.Choice(["http", "ws"]), default="http", show_default=True)
@click.option("--host", default=None, help="Bind address (default SMARTFLOW_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default SMARTFLOW_PORT, 8000).")
@click.pass_context
def serve_command(
    ctx: click.Context, mode: str, feishu_mode: str, host: str | None, port: int | None
) -> None:
    """Run the Feishu bot (api), the background worker (worker), or both (all)."""
    settings = settings_of(ctx)
    if mode in ("api", "all"):
        missing = receiving_problem(settings, feishu_mode)
        if missing:
            fail(missing, EXIT_CONFIG)
    setup_logging(settings.log_level)
    # APScheduler warns on every tick skipped because the previous one still runs; that is by design here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    try:
        asyncio.run(_serve(settings, mode, feishu_mode, host or settings.host, port or settings.port))
    except WorkerConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    except (StoreError, SQLAlchemyError, OSError) as exc:
        fail(db_error_line(exc) if not isinstance(exc, StoreError) else str(exc))


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


async def _serve(settings: Settings, mode: str, feishu_mode: str, host: str, port: int) -> None:
    components = build_components(settings)
    try:
        worker = make_worker(components) if mode in ("worker", "all") else None
        await components.store.ensure_schema()
        if worker is not None:
            await worker.start()
        try:
            if mode == "worker":
                await _until_signalled()
            else:
                await _serve_http(components, feishu_mode, host, port)
        finally:
            if worker is not None:
                await worker.stop()
    finally:
        await components.aclose()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("signal received, stopping")


async def _serve_http(components: Components, feishu_mode: str, host: str, port: int) -> None:
    import uvicorn

    # Imported at call time: the HTTP app (bot.app) is built by the bot package and may not exist in a
    # worker-only deployment. Its contract: create_app(components, feishu_mode=...) -> ASGI app.
    from bot.app import create_app

    app: Any = create_app(components, feishu_mode=feishu_mode)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    log.info("serving HTTP on http://%s:%d (Feishu events: %s)", host, port, feishu_mode)
    # uvicorn installs its own SIGTERM/SIGINT handlers and returns from serve() after a graceful shutdown.
    await uvicorn.Server(config).serve()


if __name__ == "__main__":  # `python -m app.cli_serve --mode worker` (tests start workers this way too)
    serve_command()
