"""Triggers are scoped by the acting user: another user's task or block id is not_found, changes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from llm.api import FallbackChooser
from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.pipeline import Pipeline
from scheduler.services.triggers import create_trigger
from store import Store
from store.enums import TriggerStatus, TriggerType
from store.models import Preview, Trigger
from tests.contract.services.builders import Seeded, at, rows, seed, snapshot


async def two_users(store: Store, now: datetime) -> tuple[Seeded, Seeded]:
    """Alice and Bob, each with an urgent task and a block that ended at 08:30."""
    cols = {"quadrant": 1, "estimate_minutes": 60, "deadline": at(20)}
    alice = await seed(store, now, tasks={"report": cols}, blocks={"A": ("report", at(8), at(8, 30))})
    bob = await seed(store, now, tasks={"essay": cols}, blocks={"B": ("essay", at(8), at(8, 30))})
    return alice, bob


async def _create(store: Store, actor: Seeded, now: datetime, **kw: Any) -> None:
    async with store.uow() as uow:
        user = await uow.users.get(actor.user_id)
        assert user is not None
        await create_trigger(uow, user=user, now=now, **kw)
        await uow.commit()


@pytest.mark.parametrize(
    "request_kw",
    [
        {"type": TriggerType.ADMIN_TRIGGER, "task": "essay"},
        {"type": TriggerType.WORKER_DUE_JOB, "task": "essay"},
        {"type": TriggerType.USER_FEEDBACK, "block": "B", "source_message_id": "om_1"},
        {"type": TriggerType.USER_FEEDBACK, "task": "essay", "source_message_id": "om_2"},
        {"type": TriggerType.USER_FEEDBACK, "choices": ["A", "B"], "source_message_id": "om_3"},
    ],
    ids=["admin_task", "due_task", "feedback_block", "feedback_task", "feedback_choices"],
)
async def test_another_users_task_or_block_is_not_found_and_changes_nothing(
    store: Store, now: datetime, request_kw: dict[str, Any]
) -> None:
    alice, bob = await two_users(store, now)
    kw: dict[str, Any] = {"type": request_kw["type"]}
    if "task" in request_kw:
        kw["task_id"] = bob.tasks[request_kw["task"]]
    if "block" in request_kw:
        kw["block_id"] = bob.blocks[request_kw["block"]]
    if "choices" in request_kw:
        kw["choices"] = [(alice.blocks | bob.blocks)[name] for name in request_kw["choices"]]
    if "source_message_id" in request_kw:
        kw["source_message_id"] = request_kw["source_message_id"]
    before = await snapshot(store)

    with pytest.raises(ServiceError) as info:
        await _create(store, alice, now, **kw)
    assert info.value.code == ErrorCode.NOT_FOUND

    # The same through the pipeline entry point (admin and feedback use it): nothing is proposed to anyone.
    with pytest.raises(ServiceError) as info:
        await Pipeline(store, FallbackChooser()).trigger_and_run(user_open_id=alice.open_id, now=now, **kw)
    assert info.value.code == ErrorCode.NOT_FOUND
    assert await snapshot(store) == before


async def test_a_missing_task_id_is_not_found(store: Store, now: datetime) -> None:
    alice, _ = await two_users(store, now)
    with pytest.raises(ServiceError) as info:
        await _create(store, alice, now, type=TriggerType.ADMIN_TRIGGER, task_id="0" * 32)
    assert info.value.code == ErrorCode.NOT_FOUND
    assert await rows(store, Trigger) == []


async def test_the_users_own_task_and_block_are_proposed_to_that_user(store: Store, now: datetime) -> None:
    alice, bob = await two_users(store, now)
    pipeline = Pipeline(store, FallbackChooser())
    admin = await pipeline.trigger_and_run(
        user_open_id=bob.open_id, type=TriggerType.ADMIN_TRIGGER, now=now, task_id=bob.tasks["essay"]
    )
    feedback = await pipeline.trigger_and_run(
        user_open_id=alice.open_id,
        type=TriggerType.USER_FEEDBACK,
        now=now,
        block_id=alice.blocks["A"],
        remaining_minutes=30,
        source_message_id="om_own",
    )
    assert admin.status == feedback.status == TriggerStatus.PREVIEW_GENERATED
    owners = {p.id: p.user_id for p in await rows(store, Preview)}
    assert owners == {admin.preview_id: bob.user_id, feedback.preview_id: alice.user_id}
