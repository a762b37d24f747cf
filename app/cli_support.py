"""Shared plumbing for `smartflow` commands: settings from the click context, the store, error exits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar
from urllib.parse import unquote, urlsplit

import click

from app.importer.schema import FIRST_YEAR, LAST_YEAR
from app.logging import setup_logging
from app.settings import ConfigError, Settings, load_settings, unknown_variables
from store import Store, StoreError
from store.engine import sqlite_path
from store.errors import DatabaseError, database_error_detail

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
    warn_unknown_variables()
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


def warn_unknown_variables() -> None:
    """A warning on stderr for each SMARTFLOW_ name that is not a setting (a typo would otherwise leave the
    default in place without a word). Not an error: extra variables in a shared environment are harmless."""
    for line in unknown_variables():
        click.echo(f"smartflow: warning: {line}", err=True)


def is_in_memory(url: str) -> bool:
    """An SQLite URL without a file: the database lives and dies with one command."""
    return url.startswith("sqlite") and sqlite_path(url) is None


def require_existing_database(settings: Settings) -> None:
    """Refuse (exit 2) when the configured SQLite database does not exist yet: a command that only reads must
    not create an empty one and report it as if it were the real, empty, deployment."""
    url = settings.database_url
    if is_in_memory(url):
        fail(
            "SMARTFLOW_DATABASE_URL is an in-memory SQLite database, empty for every command: "
            "set it to a file or a MySQL/MariaDB URL",
            EXIT_CONFIG,
        )
    path = sqlite_path(url)
    if path is not None and not path.exists():
        fail(
            f"no database at {path.resolve()}: run `smartflow import` or `smartflow db upgrade` first, "
            "or set SMARTFLOW_DATABASE_URL",
            EXIT_CONFIG,
        )


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


def db_error_line(exc: BaseException, url: str | None = None) -> str:
    """One line describing a database failure: for MySQL/MariaDB the server (host:port), the setting to
    check and what to do for the common cases; else the driver's message without the SQL statement."""
    code, message = _driver_error(exc)
    where = _server_of(url) if url else None
    if where is not None and code is not None:
        host, port, name = where
        advice = _MYSQL_ADVICE.get(code)
        if advice is not None:
            return "database error: " + advice.format(
                server=f"{host}:{port}", name=name, message=message, setting=DATABASE_SETTING
            )
        return f"database error at {host}:{port} ({DATABASE_SETTING}): {message} (MySQL error {code})"
    detail = database_error_detail(exc)
    first = detail.strip().splitlines()[0] if detail.strip() else type(exc).__name__
    return f"database error: {first}"


DATABASE_SETTING = "SMARTFLOW_DATABASE_URL"
CREATE_DATABASE = "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
# MySQL/MariaDB client and server error numbers an operator meets on a first install.
_MYSQL_ADVICE = {
    2003: "cannot reach the database server at {server} ({setting}): {message}; check that MySQL/MariaDB "
    "is running there and that the host and port in {setting} are right",
    2005: "cannot reach the database server at {server} ({setting}): unknown host; check the host in "
    "{setting}",
    2013: "the database server at {server} ({setting}) did not answer: {message}; check that it is "
    "MySQL/MariaDB and not overloaded, and the port in {setting}",
    1045: "the database server at {server} refused the login ({setting}): {message}; check the user and "
    "password in {setting}",
    1044: "the database server at {server} refused access to database {name!r} ({setting}): {message}; "
    "grant the user ALL PRIVILEGES ON {name}.* (docs/operator-guide.md, Production)",
    1049: "database {name!r} does not exist on {server} ({setting}); create it: "
    + CREATE_DATABASE
    + ", then run `smartflow db upgrade`",
}


def _driver_error(exc: BaseException) -> tuple[int | None, str]:
    """The driver's (error number, message) of a MySQL/MariaDB failure, else (None, '')."""
    seen: BaseException | None = exc
    for _ in range(5):  # the store wraps SQLAlchemy's error, which wraps the driver's
        if seen is None:
            break
        orig = getattr(seen, "orig", None) or seen
        args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
        if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
            return args[0], args[1]
        seen = seen.__cause__
    return None, ""


def _server_of(url: str) -> tuple[str, int, str] | None:
    """(host, port, database) of a MySQL/MariaDB URL, else None."""
    if not url.startswith("mysql"):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or 3306
    except ValueError:
        return None
    return parts.hostname or "localhost", port, unquote(parts.path.lstrip("/")) or "?"


def run_with_store(settings: Settings, work: Callable[[Store], Awaitable[T]], *, create: bool = False) -> T:
    """Open the configured store (upgrading the embedded SQLite file if needed), run `work`, dispose;
    database failures exit with one line on stderr. A missing SQLite file is created only with `create`
    (commands that write, such as import); otherwise the command is refused (require_existing_database)."""
    if not create:
        require_existing_database(settings)

    async def main() -> T:
        store = Store(settings.database_url)
        try:
            await store.ensure_schema()
            return await work(store)
        finally:
            await store.dispose()

    try:
        return asyncio.run(main())
    except (DatabaseError, StoreError, OSError) as exc:
        log.debug("database failure", exc_info=True)
        fail(db_error_line(exc, settings.database_url))
