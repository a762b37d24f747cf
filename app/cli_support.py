"""Shared plumbing for `smartflow` commands: settings from the click context, the store, error exits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import NoReturn, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from app.importer.schema import FIRST_YEAR, LAST_YEAR
from app.logging import setup_logging
from app.settings import ConfigError, Settings, load_settings
from store import Store, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

EXIT_FAILURE = 1  # the command ran and failed (bad input file, database error, unknown user)
EXIT_CONFIG = 2  # configuration or usage error (click uses 2 for usage errors too)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print `smartflow: message` on stderr and exit with `code` (no traceback)."""
    click.echo(f"smartflow: {message}", err=True)
    raise SystemExit(code)


def settings_of(ctx: click.Context) -> Settings:
    """The configuration, loaded once per invocation; a malformed SMARTFLOW_ value exits with status 2
    and a message naming each variable (no traceback). Also sets up logging."""
    root = ctx.find_root()
    if isinstance(root.obj, Settings):
        return root.obj
    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    # One-shot commands print their results on stdout and log only warnings unless SMARTFLOW_LOG_LEVEL is
    # set; long-running commands (serve) call setup_logging(settings.log_level) themselves.
    explicit = "log_level" in settings.model_fields_set
    setup_logging(settings.log_level if explicit else "WARNING")
    root.obj = settings
    return settings


def wall_clock_now() -> datetime:
    """The present, read once at the edge; everything below takes `now` as a parameter."""
    return datetime.now(UTC)


def parse_now(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """Click callback for a `--now TIME` option: ISO 8601, with an offset or naive (the caller decides
    which time zone a naive value is in; for per-user commands, the user's)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not ISO 8601 (e.g. 2026-11-30T08:00:00+08:00, or without offset for the "
            "user's time zone)"
        ) from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise click.BadParameter(f"year {parsed.year} is out of range ({FIRST_YEAR}..{LAST_YEAR})")
    return parsed


def db_error_line(exc: BaseException) -> str:
    """One line describing a database failure (driver detail, without the SQL statement)."""
    # SQLAlchemy's own message appends the statement and parameters; the driver's error is enough.
    detail = str(getattr(exc, "orig", None) or exc) if isinstance(exc, SQLAlchemyError) else str(exc)
    first = detail.strip().splitlines()[0] if detail.strip() else type(exc).__name__
    return f"database error: {first}"


def run_with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the configured store (creating/upgrading the embedded SQLite file on first use), run `work`,
    dispose; database failures exit with one line on stderr."""

    async def main() -> T:
        store = Store(settings.database_url)
        try:
            await store.ensure_schema()
            return await work(store)
        finally:
            await store.dispose()

    try:
        return asyncio.run(main())
    except (SQLAlchemyError, StoreError, OSError) as exc:
        log.debug("database failure", exc_info=True)
        fail(db_error_line(exc))
