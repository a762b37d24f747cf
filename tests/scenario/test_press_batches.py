"""Presses recorded and finished together (the group writes of one API process under many presses at once):
the same answers as one at a time, each Apply written exactly once, a fixed number of statements for the
whole batch, and a batch that cannot be finished together falls back to one press at a time."""

from __future__ import annotations

import asyncio

from scheduler.services import presses
from scheduler.services.presses import Finished, Press, PressKind
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import Harness, at, buttons
from tests.statements import count_statements

WORKER = "api:batch-test"
# Ceilings for a whole batch, whatever its size (docs/architecture.md, "What the hot paths cost"):
# recording is who owns each preview (one narrow query) plus one multi-row inbox insert; finishing (no
# Feishu busy time here) is 6 reads (previews, users, tasks, fixed events, blocks, calendar connections),
# 5 writes (blocks, outbox, users, previews, change sets), the inbox settle, and 2 reads for the answers'
# cards.
RECORD_BATCH_CEILING = 2
FINISH_BATCH_CEILING = 14


async def _cards(h: Harness, open_ids: list[str]) -> dict[str, tuple[str, dict[str, object]]]:
    """One card per user (urgent task, no time planned); (message id, its first Apply button) each."""
    for open_id in open_ids:
        user_id = await h.add_user(open_id, name=open_id)
        await h.add_task(
            user_id, "实验报告", estimate_minutes=90, deadline=at(20), urgency_threshold_at=at(8, 30)
        )
    await h.run_worker()
    out = {}
    for open_id in open_ids:
        (card,) = h.cards_to(open_id)
        out[open_id] = (card.message_id, next(v for v in buttons(card.card) if v["k"] == "apply"))
    return out


def _press(
    open_id: str, message_id: str, value: dict[str, object], kind: PressKind = PressKind.APPLY
) -> Press:
    return Press(
        key=f"click:{message_id}:{open_id}:{kind.value}:{value['c']}",
        kind=kind,
        preview_id=str(value["p"]),
        operator_open_id=open_id,
        candidate_id=str(value["c"]),
        token="c-token",
    )


async def _record(h: Harness, batch: list[Press], worker: str = WORKER) -> list[presses.Recorded]:
    return await presses.record_many(
        h.store, [(p, h.clock.now) for p in batch], worker_id=worker, lease_seconds=30, default_locale="zh"
    )


async def _finish(h: Harness, batch: list[Press]) -> list[Finished | Exception]:
    return await presses.finish_many(
        h.store, [(p, h.clock.now) for p in batch], worker_id=WORKER, grid_minutes=15
    )


def _users(n: int) -> list[str]:
    return [f"ou_batch{i:02d}" for i in range(n)]


async def test_many_apply_presses_are_finished_together_each_exactly_once(harness: Harness) -> None:
    h = harness
    cards = await _cards(h, _users(4))
    batch = [_press(o, m, v) for o, (m, v) in cards.items()]
    recorded = await _record(h, batch)
    assert [r.status for r in recorded] == ["recorded"] * 4

    finished = await _finish(h, batch)

    assert all(isinstance(f, Finished) and f.status == "applied" for f in finished), finished
    for f, press in zip(finished, batch, strict=True):
        assert isinstance(f, Finished)
        assert f.view is not None
        assert f.view.preview_id == press.preview_id
        assert f.view.status == "applied"
    assert await h.count("change_sets") == 4
    assert await h.count("inbox", kind="click", status="processed") == 4
    # Feishu redelivers them all: answered from the inbox, nothing applied again.
    again = await _record(h, batch, worker="api:other")
    assert [r.status for r in again] == ["repeat"] * 4
    assert all(r.view is not None and r.view.status == "applied" for r in again)
    assert await h.count("change_sets") == 4


async def test_a_batch_costs_the_same_statements_whatever_its_size(harness: Harness) -> None:
    h = harness
    cards = await _cards(h, _users(9))
    items = [_press(o, m, v) for o, (m, v) in cards.items()]
    small, large = items[:3], items[3:]
    counts = []
    for batch in (small, large):
        with count_statements(h.store) as recording:
            await _record(h, batch)
        with count_statements(h.store) as finishing:
            finished = await _finish(h, batch)
        assert all(isinstance(f, Finished) and f.status == "applied" for f in finished)
        assert recording.commits == 1, str(recording)
        assert finishing.commits == 1, str(finishing)
        counts.append((recording.count, finishing.count))
    assert counts[0] == counts[1], counts
    assert counts[0][0] <= RECORD_BATCH_CEILING, counts
    assert counts[0][1] <= FINISH_BATCH_CEILING, counts
    assert await h.count("change_sets") == 9


async def test_a_mixed_batch_gives_each_press_the_answer_it_gets_alone(harness: Harness) -> None:
    h = harness
    a, b, c, d = _users(4)
    cards = await _cards(h, [a, b, c, d])
    applied_first = _press(b, *cards[b])
    await _record(h, [applied_first])
    await _finish(h, [applied_first])
    _m_b, v_b = cards[b]
    batch = [
        _press(a, *cards[a]),  # applied
        Press(  # the same card pressed again with another key: already applied
            key="click:other-copy",
            kind=PressKind.APPLY,
            preview_id=str(v_b["p"]),
            operator_open_id=b,
            candidate_id=str(v_b["c"]),
        ),
        _press(c, *cards[c], kind=PressKind.IGNORE),  # not an apply: finished on its own
        _press(a, *cards[d]),  # someone else's card: refused at record time, never finished
        _press(d, *cards[d]),  # applied
    ]
    recorded = await _record(h, batch)
    assert [r.status for r in recorded] == ["recorded", "recorded", "recorded", "not_owner", "recorded"]
    to_finish = [p for p, r in zip(batch, recorded, strict=True) if r.status == "recorded"]

    finished = await _finish(h, to_finish)

    got = [(f.status, f.code.value if f.code else None) for f in finished if isinstance(f, Finished)]
    assert got == [
        ("applied", None),
        ("already_applied", "already_applied"),
        ("ignored", None),
        ("applied", None),
    ]
    assert await h.count("change_sets") == 3  # b (before), a, d: none twice
    assert await h.count("inbox", kind="click", status="processed") == 5


async def test_first_presses_and_repeats_recorded_together_get_the_answers_they_get_alone(
    harness: Harness,
) -> None:
    """A first press is recorded from who owns its preview (and its task's title, for a "working" card); a
    repeat in the same batch is answered with its card, drawn from the preview read for it alone."""
    h = harness
    a, b = _users(2)
    cards = await _cards(h, [a, b])
    done = _press(a, *cards[a])
    await _record(h, [done])
    await _finish(h, [done])
    unknown = Press(key="click:nothing", kind=PressKind.APPLY, preview_id="pv_none", operator_open_id=a)

    again, first, missing = await _record(h, [done, _press(b, *cards[b]), unknown])

    assert (again.status, first.status, missing.status) == ("repeat", "recorded", "not_found")
    assert again.view is not None
    assert again.view.status == "applied"
    assert first.view is None
    assert first.title == "实验报告"
    assert (first.operator_locale, missing.operator_locale) == ("zh", "zh")
    assert await h.count("inbox", kind="click") == 2


async def test_two_copies_of_one_press_in_a_batch_record_it_once(harness: Harness) -> None:
    h = harness
    (who,) = _users(1)
    cards = await _cards(h, [who])
    press = _press(who, *cards[who])

    first, second = await _record(h, [press, press])

    assert (first.status, second.status) == ("recorded", "in_progress")
    assert await h.count("inbox", kind="click") == 1


async def test_two_copies_recorded_by_two_transactions_at_once_record_it_once(harness: Harness) -> None:
    """Two record transactions at once (two api processes): one records the press; the other's insert
    waits for it and, reading committed rows (READ COMMITTED on MariaDB), sees it in progress."""
    h = harness
    (who,) = _users(1)
    cards = await _cards(h, [who])
    press = _press(who, *cards[who])

    results = await asyncio.gather(_record(h, [press]), _record(h, [press]))

    assert sorted(r.status for (r,) in results) == ["in_progress", "recorded"]
    assert await h.count("inbox", kind="click") == 1


async def test_a_batch_with_a_press_settled_elsewhere_is_finished_one_at_a_time(harness: Harness) -> None:
    h = harness
    x, y, z = _users(3)
    cards = await _cards(h, [x, y, z])
    batch = [_press(o, *cards[o]) for o in (x, y, z)]
    await _record(h, batch)
    # Another process took the middle press over and finished it (its lease had expired meanwhile).
    async with h.store.uow() as uow:
        assert await uow.presses.settle_many([batch[1].key], h.clock.now, worker_id=WORKER) == 1
        await uow.commit()

    finished = await _finish(h, batch)

    statuses = [f.status for f in finished if isinstance(f, Finished)]
    assert statuses[0] == "applied", finished
    assert statuses[2] == "applied", finished
    # The middle one was not ours to settle: nothing of it is written here.
    assert await h.count("change_sets") == 2
    assert await h.count("inbox", kind="click", status="processed") == 3


async def test_presses_taken_over_after_a_crash_are_finished_together(harness: Harness) -> None:
    h = harness
    cards = await _cards(h, _users(3))
    batch = [_press(o, m, v) for o, (m, v) in cards.items()]
    await _record(h, batch, worker="api:killed:1:dead")
    h.clock.advance(seconds=31)

    finished = await presses.finish_unfinished(
        h.store, worker_id="worker:1", now=h.clock.now, lease_seconds=30, grid_minutes=15
    )

    assert sorted(f.status for f in finished) == ["applied"] * 3
    assert await h.count("change_sets") == 3
