"""No ping before each unit of work: a connection the server dropped fails one unit and is then replaced."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from store import Store
from store.errors import DatabaseError
from tests.statements import count_statements


async def test_a_unit_of_work_sends_no_ping(store: Store) -> None:
    async with store.uow(readonly=True) as uow:  # warm the pool
        await uow.users.list_all()
    with count_statements(store) as log:
        async with store.uow(readonly=True) as uow:
            await uow.users.list_all()
    assert log.count == 1, str(log)
    assert log.rollbacks <= 1


async def test_a_connection_the_server_dropped_fails_once_then_is_replaced(store: Store) -> None:
    if store.backend != "mysql":
        pytest.skip("a server-side KILL needs MariaDB")
    await store.engine.dispose()
    async with store.engine.connect() as killer:
        async with store.engine.connect() as idle:
            victim = (await idle.execute(sa.text("SELECT CONNECTION_ID()"))).scalar_one()
            await idle.rollback()
        # `idle` is back in the pool, first in line; the server now drops it
        await killer.execute(sa.text(f"KILL CONNECTION {int(victim)}"))
        await killer.rollback()
    failures = 0
    for _ in range(3):
        try:
            async with store.uow(readonly=True) as uow:
                await uow.users.list_all()
        except DatabaseError:
            failures += 1
    assert failures == 1  # the killed connection was handed out once, then replaced
    async with store.uow(readonly=True) as uow:
        assert list(await uow.users.list_all()) == []
