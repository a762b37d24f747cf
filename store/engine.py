"""Async engine factory: SQLite (WAL, BEGIN IMMEDIATE for writers) and MySQL/MariaDB (READ COMMITTED)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiomysql
import pymysql
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from store.errors import StoreError, StoreErrorCode

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option carried by the read-only engine view: SQLite readers start a DEFERRED transaction so
# they never take the write lock.
READONLY_OPTION = "smartflow_readonly"
# The loggers of the libraries under the store, which log every statement and migration step at INFO.
LIBRARY_LOGGERS = ("sqlalchemy", "alembic")


def backend(url: str | URL) -> str:
    """'sqlite' or 'mysql'; anything else is refused."""
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "mysql"):
        raise StoreError(StoreErrorCode.UNSUPPORTED_URL, f"unsupported database backend {name!r}")
    return name


def driver_name(url: str) -> str:
    """The dialect+driver of a database URL (e.g. 'sqlite+aiosqlite'); ValueError when it is not one."""
    try:
        return make_url(url).drivername
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {url!r}") from exc


def sqlite_path(url: str | URL) -> Path | None:
    """The file of an SQLite URL, or None for in-memory databases and other backends."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def create_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """The application's async engine for `url`, configured per backend; kwargs go to create_async_engine."""
    kind = backend(url)
    # A failing statement's error (and so every logged traceback) names the statement, never its values:
    # they are open_ids, titles and message texts.
    kwargs.setdefault("hide_parameters", True)
    if kind == "sqlite":
        return _sqlite_engine(make_url(url), **kwargs)
    return _mysql_engine(make_url(url), **kwargs)


def _sqlite_engine(url: URL, **kwargs: Any) -> AsyncEngine:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver (its legacy mode skips BEGIN for SELECT and DDL) so we can emit it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front, so a concurrent writer waits (busy_timeout) instead of
        # failing with "database is locked" when it later upgrades a read lock.
        if conn.get_execution_options().get(READONLY_OPTION):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


# Opening a connection (TCP connect and the server's handshake) must fail well inside Feishu's 3 s callback
# budget when the server does not answer; waiting for a free pooled connection likewise.
CONNECT_TIMEOUT_SECONDS = 2.0
POOL_TIMEOUT_SECONDS = 2.0


def _connect_within(seconds: float) -> Any:
    """aiomysql's connect with the whole opening bounded: its own connect_timeout covers only the TCP
    connect, so a server that accepts and never answers would hang the caller."""

    async def connect(*args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.wait_for(aiomysql.connect(*args, **kwargs), seconds)
        except TimeoutError as exc:
            raise pymysql.err.OperationalError(
                2013, f"the database server did not answer within {seconds:g} s"
            ) from exc

    return connect


def _mysql_engine(url: URL, **kwargs: Any) -> AsyncEngine:
    if "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    options: dict[str, Any] = {
        # No ping before every checkout (a round trip per unit of work): connections are recycled well
        # before the server's wait_timeout (8 h by default), and one the server dropped anyway fails its
        # unit of work once and is discarded by the pool (SQLAlchemy invalidates it); the caller's retry
        # (Feishu's redelivery, the worker's next tick) gets a fresh one.
        "pool_pre_ping": False,
        "pool_recycle": 1800,
        # Every unit of work ends with its own COMMIT or ROLLBACK (store.uow), so the pool's extra
        # rollback on check-in would be a second round trip for nothing.
        "pool_reset_on_return": None,
        "pool_timeout": POOL_TIMEOUT_SECONDS,
        "isolation_level": "READ COMMITTED",
        "connect_args": {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "async_creator_fn": _connect_within(CONNECT_TIMEOUT_SECONDS),
        },
    }
    options.update(kwargs)
    if "poolclass" in kwargs:  # e.g. NullPool for migrations: no pool to wait for
        options.pop("pool_timeout", None)
    return create_async_engine(url, **options)
