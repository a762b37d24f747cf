"""Run the Alembic migrations shipped inside the package (for `smartflow db upgrade` and first use)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from store.errors import StoreError, StoreErrorCode

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and `url` (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise StoreError(StoreErrorCode.MIGRATION_FAILED, "no migrations found")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision stamped in the database behind `connection` (sync; use with run_sync)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision`; safe to call from inside a running event loop."""
    log.info("upgrading database schema to %s", revision)
    _run(command.upgrade, url, revision)


def downgrade(url: str, revision: str) -> None:
    log.info("downgrading database schema to %s", revision)
    _run(command.downgrade, url, revision)


def _run(fn: Callable[[Config, str], None], url: str, revision: str) -> None:
    cfg = alembic_config(url)
    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            fn(cfg, revision)
            return
        # env.py drives an async engine with asyncio.run, which cannot nest in a running loop.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="alembic") as pool:
            pool.submit(fn, cfg, revision).result()
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(StoreErrorCode.MIGRATION_FAILED, f"migration failed: {exc}") from exc
