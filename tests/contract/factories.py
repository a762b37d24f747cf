"""Row builders for the store contract tests (every required column filled, times passed in)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from store.enums import TriggerType
from store.models import Block, Preview, Task, Trigger, User
from store.types import new_id


def user(now: datetime, open_id: str | None = None, **kw: Any) -> User:
    return User(
        open_id=open_id or f"ou_{new_id()[:12]}",
        name=kw.pop("name", "Alice"),
        timezone=kw.pop("timezone", "Asia/Shanghai"),
        created_at=now,
        updated_at=now,
        **kw,
    )


def task(now: datetime, user_id: str, **kw: Any) -> Task:
    return Task(
        user_id=user_id,
        title=kw.pop("title", "实验报告"),
        quadrant=kw.pop("quadrant", 2),
        estimate_minutes=kw.pop("estimate_minutes", 90),
        created_at=now,
        updated_at=now,
        **kw,
    )


def block(now: datetime, user_id: str, task_id: str, start: datetime, minutes: int, **kw: Any) -> Block:
    return Block(
        user_id=user_id,
        task_id=task_id,
        start=start,
        end=start + timedelta(minutes=minutes),
        created_at=now,
        updated_at=now,
        **kw,
    )


def trigger(now: datetime, user_id: str, **kw: Any) -> Trigger:
    return Trigger(
        user_id=user_id,
        type=kw.pop("type", TriggerType.WORKER_DUE_JOB),
        effective_now=now,
        created_at=now,
        updated_at=now,
        **kw,
    )


def preview(now: datetime, user_id: str, trigger_id: str, **kw: Any) -> Preview:
    return Preview(
        trigger_id=trigger_id,
        user_id=user_id,
        decision=kw.pop("decision", "insert_block"),
        candidates=kw.pop("candidates", [{"id": "c1", "kind": "insert"}]),
        metrics=kw.pop("metrics", {"free_minutes": 120}),
        issues=kw.pop("issues", []),
        base_version=kw.pop("base_version", "v1"),
        expires_at=kw.pop("expires_at", now + timedelta(hours=1)),
        created_at=now,
        updated_at=now,
        **kw,
    )
