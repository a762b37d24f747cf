"""Which block an "unfinished" report means: started blocks only, word-order-free names, honest misses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduler.services.feedback import Found, match_feedback_tasks, resolve_feedback, resolve_unfinished
from store import Store
from store.models import Task
from tests.contract import factories as f
from tests.contract.services.builders import Seeded, at, seed


@dataclass(frozen=True)
class Seen:
    """A Resolution read inside its unit of work (rows are not used after it ends)."""

    found: Found
    block_id: str | None
    choices: tuple[str, ...]
    remaining: int | None
    upcoming: str | None
    titles: tuple[str, ...]
    recent: tuple[str, ...]


async def _resolve(
    store: Store, seeded: Seeded, now: datetime, ref: str | None, minutes: int | None = None
) -> Seen:
    async with store.uow(readonly=True) as uow:
        user = await uow.users.get_by_open_id(seeded.open_id)
        assert user is not None
        r = await resolve_feedback(uow, user, now, ref, minutes)
        legacy = await resolve_unfinished(uow, user, now, ref, minutes)
        assert legacy == r.target  # the Target-only entry point (demo, pipeline) agrees
        return Seen(
            r.found,
            r.target.block_id,
            r.target.choices,
            r.target.remaining_minutes,
            r.upcoming.id if r.upcoming else None,
            tuple(t.title for t in r.tasks),
            tuple(b.id for b in r.recent),
        )


async def test_a_block_that_has_not_started_is_not_unfinished(store: Store, now: datetime) -> None:
    # 09:00; the only block of 六级单词 is 21:30-22:00 tonight: a make-up would book the task twice
    seeded = await seed(
        store,
        now,
        tasks={"cet": {"title": "六级单词", "estimate_minutes": 30}},
        blocks={"tonight": ("cet", at(21, 30), at(22, 0))},
    )

    resolution = await _resolve(store, seeded, now, "六级单词", 30)

    assert resolution.found is Found.NOT_STARTED
    assert resolution.upcoming == seeded.blocks["tonight"]
    assert resolution.block_id is None
    assert resolution.choices == ()


async def test_a_running_or_ended_block_of_the_named_task_is_still_the_target(
    store: Store, now: datetime
) -> None:
    seeded = await seed(
        store,
        now,
        tasks={"ppt": {"title": "组会 PPT"}, "cet": {"title": "六级单词"}},
        blocks={
            "running": ("ppt", at(8, 30), at(9, 30)),
            "yesterday": ("cet", at(21, 30, day=29), at(22, 0, day=29)),
            "tonight": ("cet", at(21, 30), at(22, 0)),
        },
    )

    running = await _resolve(store, seeded, now, "组会PPT")
    ended = await _resolve(store, seeded, now, "六级单词")

    assert (running.found, running.block_id) == (Found.BLOCK, seeded.blocks["running"])
    assert (ended.found, ended.block_id) == (Found.BLOCK, seeded.blocks["yesterday"])


async def test_a_task_without_blocks_is_named_not_missing(store: Store, now: datetime) -> None:
    seeded = await seed(store, now, tasks={"ds": {"title": "数据结构作业"}})

    resolution = await _resolve(store, seeded, now, "数据结构作业")

    assert resolution.found is Found.NO_BLOCK
    assert resolution.titles == ("数据结构作业",)


async def test_a_name_matches_by_its_words_in_any_order(store: Store, now: datetime) -> None:
    seeded = await seed(
        store,
        now,
        tasks={"k1": {"title": "Review PR #482"}, "k2": {"title": "Q1 planning doc"}},
        blocks={"pr": ("k1", at(8, 0), at(8, 45))},
    )

    resolution = await _resolve(store, seeded, now, "PR review", 20)

    assert resolution.found is Found.BLOCK
    assert resolution.block_id == seeded.blocks["pr"]
    assert resolution.remaining == 20


async def test_an_unknown_name_reports_the_block_that_just_ended(store: Store, now: datetime) -> None:
    seeded = await seed(
        store,
        now,
        tasks={"k1": {"title": "Review PR #482"}},
        blocks={"pr": ("k1", at(8, 0), at(8, 45))},
    )

    missing = await _resolve(store, seeded, now, "budget review")
    later = await _resolve(store, seeded, at(14), "budget review")
    nothing = await _resolve(store, seeded, at(14), None)

    assert missing.found is Found.NO_TASK
    assert missing.recent == (seeded.blocks["pr"],)
    assert missing.block_id is None  # no guess: the user named something else
    assert (later.found, later.recent) == (Found.NO_TASK, ())
    assert nothing.found is Found.NOTHING


def _task(title: str, key: str | None = None) -> Task:
    return f.task(at(8), "u1", title=title, key=key)


def test_word_matching_is_a_fallback_after_exact_and_substring_matches() -> None:
    review = _task("Review PR #482")
    reviews = _task("Code reviews for PR #17")
    report = _task("物理实验报告")
    tasks = [review, reviews, report]

    assert match_feedback_tasks(tasks, "PR review") == [review, reviews]  # plural folds to singular
    assert match_feedback_tasks(tasks, "review pr #482") == [review]  # substring first
    assert match_feedback_tasks(tasks, "the review of PR 482") == [review]
    assert match_feedback_tasks(tasks, "实验报告") == [report]
    assert match_feedback_tasks(tasks, "报告 物理") == [report]
    assert match_feedback_tasks(tasks, "budget review") == []  # every word must be there
    assert match_feedback_tasks(tasks, "pr x") == []
