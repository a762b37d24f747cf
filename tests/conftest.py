"""Shared fixtures: a clean environment and migrated databases (SQLite always, MariaDB when configured).

Fixtures for every test package:

- ``_clean_environment`` (autouse): removes every ``SMARTFLOW_*`` variable except
  ``SMARTFLOW_TEST_MYSQL_URL``, so settings come only from what a test passes in.
- ``db_url`` (function scope, parametrized ``sqlite`` / ``mysql``): the URL of an *empty, migrated* database.
  ``sqlite``: a fresh file in ``tmp_path`` (copied from a template migrated once per session).
  ``mysql``: the database named by ``SMARTFLOW_TEST_MYSQL_URL`` (mysql+aiomysql://root@127.0.0.1:3306/sf_x):
  all its tables are dropped and the migrations run once per session, then every row is deleted before
  each test. Without that variable the mysql case is skipped, except when ``CI=true``: then a missing or
  unreachable MariaDB is a failure. Use one database per test run (tests share it serially).
- ``sqlite_url``: like ``db_url`` but SQLite only (for tests that need no backend matrix).
- ``store``: a ``store.Store`` on ``db_url`` (already migrated), disposed after the test.
- ``now``: a fixed aware instant (2026-11-30 09:00 Asia/Shanghai) for tests that need "the present".

Example::

    async def test_something(store):
        async with store.uow() as uow:
            ...
            await uow.commit()
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from store import Store, migrate

MYSQL_URL_VAR = "SMARTFLOW_TEST_MYSQL_URL"
MYSQL_URL = os.environ.get(MYSQL_URL_VAR, "").strip()
IN_CI = os.environ.get("CI", "").strip().lower() == "true"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SMARTFLOW_") and name != MYSQL_URL_VAR:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db-template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _copy_sqlite(template: Path, target: Path) -> None:
    # The backup API copies a consistent image even if WAL frames were left behind.
    src, dst = sqlite3.connect(template), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@pytest.fixture
def sqlite_url(_sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "smartflow.db"
    _copy_sqlite(_sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def _mysql_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true requires MariaDB: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _mysql_session() -> Iterator[tuple[str, Callable[[], None]]]:
    """Drop everything in the test database, migrate once, and hand out a row-wiping function."""
    if not MYSQL_URL:
        _mysql_unavailable(f"{MYSQL_URL_VAR} is not set")
    sync_url = make_url(MYSQL_URL).set(drivername="mysql+pymysql")
    engine = sa.create_engine(sync_url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        _mysql_unavailable(f"MariaDB at {sync_url.render_as_string(hide_password=True)} unreachable: {exc}")
    with engine.begin() as conn:
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
        for table in sa.inspect(conn).get_table_names():
            conn.execute(sa.text(f"DROP TABLE `{table}`"))
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
    migrate.upgrade(MYSQL_URL)
    with engine.connect() as conn:
        tables = [t for t in sa.inspect(conn).get_table_names() if t != "alembic_version"]

    def wipe() -> None:
        # DELETE is much faster than TRUNCATE for a handful of rows (TRUNCATE recreates the table).
        with engine.begin() as conn:
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM `{table}`"))
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))

    yield MYSQL_URL, wipe
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def db_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
        return url
    mysql_url, wipe = request.getfixturevalue("_mysql_session")
    wipe()
    return str(mysql_url)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    instance = Store(db_url)
    try:
        yield instance
    finally:
        await instance.dispose()
