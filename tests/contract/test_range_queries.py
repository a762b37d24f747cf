"""Range queries on blocks read only the blocks near the range, however long the history (EXPLAIN contract).

MariaDB's `ANALYZE FORMAT=JSON` runs the statement the repository sends and reports the rows it actually
read (`r_rows`) from the (user_id, start) index: with five years of past blocks that must stay what the
range itself holds, not grow with the history. SQLite's plan is checked to use the index too."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from store import Store
from tests.contract import factories as f

YEARS = 5
PER_DAY = 3


async def _history(store: Store, now: datetime) -> str:
    """A user with YEARS of past blocks (PER_DAY a day) and two blocks in the next day; the user's id."""
    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        task = uow.tasks.add(f.task(now, user.id))
        await uow.flush()
        rows = []
        for day in range(1, YEARS * 365 + 1):
            for k in range(PER_DAY):
                start = now - timedelta(days=day) + timedelta(hours=2 * k)
                rows.append(f.block(now, user.id, task.id, start, 45))
        rows.append(f.block(now, user.id, task.id, now + timedelta(hours=2), 60))
        rows.append(f.block(now, user.id, task.id, now + timedelta(hours=5), 60))
        uow.blocks.add_all(rows)
        await uow.commit()
        return user.id


def _rows_read(plan: Any) -> list[float]:
    found: list[float] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            table = node.get("table")
            if isinstance(table, dict) and table.get("table_name") == "blocks" and "r_rows" in table:
                found.append(float(table["r_rows"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan)
    return found


async def test_the_overlap_query_reads_only_the_blocks_near_the_range(store: Store, now: datetime) -> None:
    user_id = await _history(store, now)
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM blocks" in statement:
            sent.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with store.uow(readonly=True) as uow:
            found = await uow.blocks.overlapping(user_id, now, now + timedelta(hours=24))
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
    assert len(found) == 2
    ((statement, parameters),) = sent

    async with store.engine.connect() as conn:
        if store.backend == "mysql":
            raw = await conn.exec_driver_sql("ANALYZE FORMAT=JSON " + statement, parameters)
            plan = json.loads(raw.scalar_one())
            read = _rows_read(plan)
            assert read, plan
            # The range holds 2 blocks; a day's worth before it may be read for the lower bound.
            assert max(read) <= 2 + PER_DAY * 2, json.dumps(plan, indent=1)
        else:
            raw = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            detail = " ".join(str(r[-1]) for r in raw.all())
            assert "ix_blocks_user_id_start" in detail, detail
            assert "start>" in detail.replace(" ", ""), detail


@pytest.mark.parametrize("history", [False, True], ids=["no-history", "five-years"])
async def test_the_overlap_probe_sees_the_same_blocks_with_or_without_history(
    store: Store, now: datetime, history: bool
) -> None:
    if history:
        user_id = await _history(store, now)
    else:
        async with store.uow() as uow:
            user = uow.users.add(f.user(now))
            task = uow.tasks.add(f.task(now, user.id))
            await uow.flush()
            uow.blocks.add(f.block(now, user.id, task.id, now + timedelta(hours=2), 60))
            uow.blocks.add(f.block(now, user.id, task.id, now + timedelta(hours=5), 60))
            await uow.commit()
            user_id = user.id
    async with store.uow(readonly=True) as uow:
        # a block that began before the range and runs into it is found; one that ended before is not
        spanning = await uow.blocks.overlapping(
            user_id, now + timedelta(hours=2, minutes=30), now + timedelta(hours=3)
        )
        later = await uow.blocks.overlapping(user_id, now + timedelta(hours=3), now + timedelta(hours=4))
    assert len(spanning) == 1
    assert later == []
