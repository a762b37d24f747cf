"""Store contract: the Alembic migrations build exactly the models' schema, and first use creates it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, MetaData, String, inspect
from sqlalchemy.engine import Connection

from store import Store, StoreError, StoreErrorCode, migrate
from store.models import Base


def diff_against(conn: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def schema_diff(store: Store, metadata: MetaData = Base.metadata) -> list[Any]:
    async with store.engine.connect() as conn:
        return await conn.run_sync(diff_against, metadata)


async def table_names(store: Store) -> set[str]:
    async with store.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrated_schema_equals_the_models(store: Store) -> None:
    assert await schema_diff(store) == []
    assert await table_names(store) == set(Base.metadata.tables) | {"alembic_version"}


async def test_schema_comparison_notices_a_drifted_model(store: Store) -> None:
    # Guards the test above against comparing nothing: a model that differs from the migrations must show.
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["inbox"].c.event_type.type = String(64)
    Index("ix_tasks_title", drifted.tables["tasks"].c.title)
    diff = await schema_diff(store, drifted)
    kinds = {entry[0] if isinstance(entry, tuple) else entry[0][0] for entry in diff}
    assert kinds == {"add_index", "modify_type"}


async def test_upgrade_is_idempotent_and_ensure_schema_accepts_head(store: Store) -> None:
    migrate.upgrade(store.url)  # called inside a running loop: runs in a worker thread
    await store.ensure_schema()
    async with store.engine.connect() as conn:
        assert await conn.run_sync(migrate.current_revision) == migrate.head_revision()
    assert await schema_diff(store) == []


async def test_downgrade_to_base_and_back(store: Store) -> None:
    migrate.downgrade(store.url, "base")
    assert await table_names(store) == {"alembic_version"}
    if store.backend == "mysql":
        with pytest.raises(StoreError) as info:
            await store.ensure_schema()
        assert info.value.code == StoreErrorCode.SCHEMA_OUT_OF_DATE
        migrate.upgrade(store.url)
    else:
        await store.ensure_schema()  # SQLite upgrades itself on first use
    assert await schema_diff(store) == []


async def test_embedded_sqlite_is_created_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "smartflow.db"
    store = Store(f"sqlite+aiosqlite:///{path}")
    try:
        await store.ensure_schema()
        assert path.exists()
        assert await schema_diff(store) == []
        async with store.engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
        assert (mode, fks) == ("wal", 1)
    finally:
        await store.dispose()


def test_unsupported_url_is_refused() -> None:
    with pytest.raises(StoreError) as info:
        Store("postgresql+asyncpg://localhost/x")
    assert info.value.code == StoreErrorCode.UNSUPPORTED_URL


def test_upgrade_failure_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError) as info:
        migrate.upgrade(f"sqlite+aiosqlite:///{blocker}/smartflow.db")
    assert info.value.code == StoreErrorCode.MIGRATION_FAILED
