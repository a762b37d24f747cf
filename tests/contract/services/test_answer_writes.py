"""The chat answers' writes shared by the messages of one moment: one transaction for many messages, the
same results as one message at a time, and an item that fails alone fails only itself."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from scheduler.services.answers import AnswerWrites
from scheduler.services.group import GroupWrite
from store import Store
from store.enums import NotificationStatus
from tests.contract.services.builders import seed
from tests.statements import count_statements


def _answer(uuid: str) -> dict[str, str]:
    return {"uuid": uuid, "receive_id": "oc_chat", "text": "ok"}


async def test_answers_to_many_messages_at_once_are_stored_and_recorded_in_one_write_each(
    store: Store, now: datetime
) -> None:
    for i in range(5):
        await seed(store, now, tasks={}, open_id=f"ou_w{i}", name=f"W{i}")
    writes = AnswerWrites(store)
    with count_statements(store) as log:
        stored = await asyncio.gather(
            *(writes.queue(f"ou_w{i}", [_answer(f"u{i}a"), _answer(f"u{i}b")], now) for i in range(5)),
            writes.queue("ou_nobody", [_answer("lost")], now),
        )
    assert log.commits == 1, str(log)
    assert log.count <= 2, str(log)  # the senders, the notifications: the same for any number of messages
    assert stored[5] is None  # no such user: nothing stored
    ids = [s for s in stored[:5] if s is not None]
    assert [sorted(s) for s in ids] == [[f"u{i}a", f"u{i}b"] for i in range(5)]
    again = await writes.queue("ou_w0", [_answer("u0a")], now)  # the same answer finds the first
    assert again == {"u0a": ids[0]["u0a"]}

    with count_statements(store) as log:
        await asyncio.gather(
            *(writes.sent([(row, f"om_{uuid}")], now) for s in ids for uuid, row in s.items())
        )
    assert log.commits == 1, str(log)
    async with store.uow(readonly=True) as uow:
        rows = await uow.notifications.list_by_ids([row for s in ids for row in s.values()])
        assert {(r.status, r.message_id) for r in rows} == {
            (NotificationStatus.SENT, f"om_{uuid}") for s in ids for uuid in s
        }


async def test_an_answer_already_queued_or_sent_is_found_not_stored_again(
    store: Store, now: datetime
) -> None:
    await seed(store, now, tasks={}, open_id="ou_w0", name="W0")
    writes = AnswerWrites(store)
    first = await writes.queue("ou_w0", [_answer("sent"), _answer("dead"), _answer("due")], now)
    assert first is not None
    await writes.sent([(first["sent"], "om_sent")], now)
    async with store.uow() as uow:
        await uow.delivery.settle_unclaimed(first["dead"], {"status": NotificationStatus.DEAD})
        await uow.commit()

    with count_statements(store) as log:
        again, twice = await asyncio.gather(
            writes.queue("ou_w0", [_answer("sent"), _answer("dead"), _answer("due"), _answer("new")], now),
            writes.queue("ou_w0", [_answer("new")], now),  # the same answer twice in one write
        )

    assert log.count <= 3, str(log)  # one more: the rows already there are read back
    assert again is not None
    assert set(again) == {"due", "new"}  # the sent and the dead answers are not sent again
    assert again["due"] == first["due"]
    assert twice == {"new": again["new"]}  # both copies found the one row
    async with store.uow(readonly=True) as uow:
        assert await uow.notifications.find_by_dedupe("answer:new") is not None


async def test_an_item_that_fails_alone_fails_only_its_caller() -> None:
    writes: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        writes.append(items)
        if 3 in items:
            raise ValueError("three is refused")
        return [i * 10 for i in items]

    group: GroupWrite[int, int] = GroupWrite(write)
    results = await asyncio.gather(*(group.submit(i) for i in range(5)), return_exceptions=True)
    assert results[:3] == [0, 10, 20]
    assert results[4] == 40
    assert isinstance(results[3], ValueError)
    assert writes[0] == [0, 1, 2, 3, 4]  # one write for all, then each alone
    assert sorted(map(tuple, writes[1:])) == [(0,), (1,), (2,), (3,), (4,)]


async def test_a_lone_caller_waits_for_no_one() -> None:
    group: GroupWrite[str, str] = GroupWrite(lambda items: asyncio.sleep(0, [i.upper() for i in items]))
    assert await group.submit("a") == "A"
    assert await group.submit("b") == "B"


@pytest.mark.parametrize("most", [2])
async def test_a_write_takes_at_most_its_share(most: int) -> None:
    sizes: list[int] = []

    async def write(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    group: GroupWrite[int, int] = GroupWrite(write, most=most)
    assert await asyncio.gather(*(group.submit(i) for i in range(5))) == list(range(5))
    assert sizes == [2, 2, 1]


@pytest.mark.parametrize("turns", [1, 2, 3])
async def test_callers_are_not_left_waiting_when_the_writer_is_cancelled(turns: int) -> None:
    """At shutdown the writer is cancelled wherever it is (before its write, or during it): its callers and
    those queued behind it are cancelled too, not left waiting for ever."""

    async def write(items: list[int]) -> list[int]:
        await asyncio.sleep(30)
        return items

    group: GroupWrite[int, int] = GroupWrite(write)
    first = asyncio.create_task(group.submit(1))
    for _ in range(turns):
        await asyncio.sleep(0)
    second = asyncio.create_task(group.submit(2))
    await asyncio.sleep(0)
    assert group._writer is not None
    group._writer.cancel()
    for caller in (first, second):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(caller, 5)


async def test_a_group_gives_way_to_another_until_it_is_quiet() -> None:
    """Presses are recorded before they are finished: a group of finishes waits (bounded) until the records
    queued or under way are written."""
    order: list[tuple[str, list[int]]] = []
    gate = asyncio.Event()

    async def record(items: list[int]) -> list[int]:
        order.append(("record", items))
        await gate.wait()
        return items

    async def finish(items: list[int]) -> list[int]:
        order.append(("finish", items))
        return items

    records: GroupWrite[int, int] = GroupWrite(record)
    finishes: GroupWrite[int, int] = GroupWrite(finish, before=lambda: records.quiet(30))
    recorded = asyncio.create_task(records.submit(1))
    await asyncio.sleep(0.01)
    finished = asyncio.create_task(finishes.submit(1))
    await asyncio.sleep(0.01)
    assert order == [("record", [1])]  # the finish waits for the record under way
    assert records.pending
    assert finishes.pending  # queued, not yet written (the order above: no finish write yet)
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(recorded, finished), 5) == [1, 1]
    assert order == [("record", [1]), ("finish", [1])]
    assert not records.pending
    assert not finishes.pending


async def test_giving_way_is_bounded() -> None:
    never = asyncio.Event()

    async def stuck(items: list[int]) -> list[int]:
        await never.wait()
        return items

    records: GroupWrite[int, int] = GroupWrite(stuck)
    finishes: GroupWrite[int, int] = GroupWrite(
        lambda items: asyncio.sleep(0, items), before=lambda: records.quiet(0.05)
    )
    stalled = asyncio.create_task(records.submit(1))
    await asyncio.sleep(0)
    assert await asyncio.wait_for(finishes.submit(7), 5) == 7  # written once the wait ran out
    stalled.cancel()


async def test_quiet_can_wait_for_a_burst_to_be_over() -> None:
    """Finishing presses waits for the burst of presses to end: nothing queued and nothing submitted for a
    moment (each submit starts the moment again), within the bound."""
    loop = asyncio.get_running_loop()
    group: GroupWrite[int, int] = GroupWrite(lambda items: asyncio.sleep(0, items))
    assert await group.submit(1) == 1
    submitted = loop.time()
    await group.quiet(5, for_seconds=0.05)
    assert loop.time() - submitted >= 0.05
    assert await group.submit(2) == 2
    again = loop.time()
    started = loop.time()
    await group.quiet(0.02, for_seconds=5)  # the bound wins
    assert loop.time() - started < 5
    assert loop.time() - again >= 0.02
