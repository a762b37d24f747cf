"""Concurrent clicks on one preview (several stores = several connection pools): exactly one apply wins."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from scheduler.services.actions import apply, expire_due, ignore
from scheduler.services.errors import ErrorCode
from scheduler.services.outcomes import retrying
from store import Store
from store.models import Block, ChangeSet, OutboxMessage, Preview
from tests.contract.services.builders import at, place_scenario, push_scenario, rows

CLICKS = 50


async def test_fifty_concurrent_applies_write_one_change_set(db_url: str, store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    others = [Store(db_url) for _ in range(2)]
    stores = [store, *others]
    options = ready.candidates
    # 25 keys, each sent twice (a redelivered click), spread over three options and three pools.
    clicks = [(f"key-{i // 2}", options[(i // 2) % len(options)]) for i in range(CLICKS)]
    try:
        outcomes = await asyncio.gather(
            *(
                apply(
                    stores[i % len(stores)],
                    preview_id=ready.preview_id,
                    candidate_id=option.id,
                    operator_open_id=seeded.open_id,
                    idempotency_key=key,
                    now=now + timedelta(seconds=i),
                )
                for i, (key, option) in enumerate(clicks)
            )
        )
    finally:
        for extra in others:
            await extra.dispose()

    winners = [o for o in outcomes if o.status == "applied" and not o.replayed]
    assert len(winners) == 1
    (winner,) = winners
    (p,) = await rows(store, Preview, id=ready.preview_id)
    win_key = p.apply_idempotency_key
    for (key, _), out in zip(clicks, outcomes, strict=True):
        assert out.change_set_id == winner.change_set_id
        if key == win_key:
            assert out.status == "applied"  # the winner, or its redelivery answered with the stored result
        else:
            assert (out.status, out.code) == ("already_applied", ErrorCode.ALREADY_APPLIED)
    assert Counter(o.status for o in outcomes)["applied"] == 2  # the winning key was clicked twice
    (cs,) = await rows(store, ChangeSet)
    assert cs.id == winner.change_set_id
    added = [b for b in await rows(store, Block, user_id=seeded.user_id) if b.source == "assistant"]
    chosen = next(c for c in options if c.id == cs.candidate_id)
    assert [(b.start, b.end) for b in added] == [(c.start, c.end) for c in chosen.changes]
    assert len(await rows(store, OutboxMessage, topic="preview.updated")) == 1


async def test_concurrent_apply_ignore_and_expiry_leave_one_final_state(db_url: str, store: Store) -> None:
    now = at(10)
    seeded, ready = await push_scenario(store, now)
    other = Store(db_url)
    option = ready.candidates[0]
    try:
        results = await asyncio.gather(
            apply(
                store,
                preview_id=ready.preview_id,
                candidate_id=option.id,
                operator_open_id=seeded.open_id,
                idempotency_key="a",
                now=now,
            ),
            ignore(other, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now),
            apply(
                other,
                preview_id=ready.preview_id,
                candidate_id=option.id,
                operator_open_id=seeded.open_id,
                idempotency_key="b",
                now=now,
            ),
            expire_due(store, now=now + timedelta(hours=2)),
        )
    finally:
        await other.dispose()
    (p,) = await rows(store, Preview, id=ready.preview_id)
    change_sets = await rows(store, ChangeSet)
    updates = await rows(store, OutboxMessage, topic="preview.updated")
    assert len(updates) == 1
    assert updates[0].payload["state"] == p.status
    if p.status == "applied":
        assert len(change_sets) == 1
        assert sum(1 for r in results[:3] if getattr(r, "status", None) in ("applied", "ignored")) == 1
    else:
        assert change_sets == []
        assert len(await rows(store, Block, user_id=seeded.user_id)) == 3  # nothing moved or added
        (b,) = await rows(store, Block, id=seeded.blocks["B"])
        assert b.version == 1


@pytest.mark.mysql
async def test_a_real_deadlock_is_retried(db_url: str, store: Store) -> None:
    """Two transactions lock two rows in opposite orders: MariaDB kills one with a deadlock (1213), and the
    retry runs it again to success instead of surfacing the error."""
    if store.backend != "mysql":
        pytest.skip("SQLite writers never interleave (BEGIN IMMEDIATE)")
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    seeded2, ready2 = await place_scenario(store, now)
    other = Store(db_url)
    both_locked_first = asyncio.Barrier(2)
    attempts: Counter[str] = Counter()

    def txn(s: Store, name: str, first: str, second: str):
        async def run() -> str:
            attempts[name] += 1
            async with s.uow() as uow:
                await uow.previews.get_for_update(first)
                if attempts[name] == 1:
                    await both_locked_first.wait()
                await uow.previews.get_for_update(second)
                row = await uow.previews.get(first)
                assert row is not None
                row.version += 1
                await uow.commit()
            return name

        return run

    try:
        done = await asyncio.gather(
            retrying(txn(store, "ab", ready.preview_id, ready2.preview_id), what="test"),
            retrying(txn(other, "ba", ready2.preview_id, ready.preview_id), what="test"),
        )
    finally:
        await other.dispose()
    assert sorted(done) == ["ab", "ba"]
    assert sum(attempts.values()) == 3  # exactly one of them lost the deadlock and ran again
    async with store.uow(readonly=True) as uow:
        versions = (await uow.session.execute(sa.select(Preview.version))).scalars().all()
    assert sorted(versions) == [2, 2]
    del seeded, seeded2
