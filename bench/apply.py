"""Apply latency under 50 concurrent clicks, on SQLite and on MariaDB (p50 / p95 / p99 per click).

    python bench/apply.py                                                    # SQLite only
    python bench/apply.py --mysql-url mysql+aiomysql://root@127.0.0.1:3306/sf_apply   # both (DROPS tables)

Each backend: a fresh schema, USERS users with TASKS tasks, ~2 blocks a day for a week and a weekly class
each; previews made by the real pipeline (admin trigger, deterministic chooser). Two scenarios, ROUNDS rounds
of 50 concurrent `apply` calls each, timed per call from the caller's side:

- hot: 50 clicks on ONE preview (three options, 50 different idempotency keys): one wins, 49 are answered
  already_applied. Measures contention on one card.
- spread: 50 clicks on 50 different users' previews at once: every click is a full apply (checks,
  base_version recompute, slot re-check, writes, commit). Measures the write path under concurrency.
- serial: 50 full applies one after another (the baseline cost of one click; "round wall" = their sum).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from llm.api import FallbackChooser
from scheduler.services.actions import apply
from scheduler.services.pipeline import Pipeline
from store import Store, migrate
from store.enums import TriggerType
from store.models import Block, FixedEvent, Preview, Task, User

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
CLICKS = 50


def fresh_mysql(url: str) -> None:
    engine = sa.create_engine(make_url(url).set(drivername="mysql+pymysql"))
    with engine.begin() as conn:
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
        for table in sa.inspect(conn).get_table_names():
            conn.execute(sa.text(f"DROP TABLE `{table}`"))
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
    engine.dispose()
    migrate.upgrade(url)


async def seed(store: Store, users: int, tasks: int) -> list[tuple[str, str]]:
    """(open_id, target task id) per user; every user has an urgent task without a block today."""
    out: list[tuple[str, str]] = []
    async with store.uow() as uow:
        for u in range(users):
            user = uow.users.add(
                User(
                    open_id=f"ou_apply{u}",
                    name=f"U{u}",
                    timezone="Asia/Shanghai",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            rows = [
                Task(
                    user_id=user.id,
                    key=f"t{i}",
                    title=f"任务 {i}",
                    quadrant=1 if i == 0 else 2,
                    estimate_minutes=60 if i == 0 else 30 + i % 60,
                    deadline=NOW + timedelta(hours=10 if i == 0 else 48 + i),
                    created_at=NOW,
                    updated_at=NOW,
                )
                for i in range(tasks)
            ]
            uow.tasks.add_all(rows)
            for day in range(1, 8):  # blocks from tomorrow on: today stays open for the target
                for k, hour in enumerate((1, 6)):  # 09:00 and 14:00 local
                    start = NOW + timedelta(days=day, hours=hour - 1)
                    uow.blocks.add(
                        Block(
                            user_id=user.id,
                            task_id=rows[1 + (day * 2 + k) % (tasks - 1)].id,
                            start=start,
                            end=start + timedelta(minutes=45),
                            created_at=NOW,
                            updated_at=NOW,
                        )
                    )
            uow.events.add(
                FixedEvent(
                    user_id=user.id,
                    title="课程",
                    weekday=1 + u % 7,
                    local_start="10:00",
                    local_end="11:30",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            out.append((user.open_id, rows[0].id))
        await uow.commit()
    return out


async def make_previews(store: Store, targets: Sequence[tuple[str, str]]) -> list[tuple[str, str, list[str]]]:
    """(preview id, open_id, candidate ids) for each (open_id, task) via the real pipeline."""
    pipeline = Pipeline(store, FallbackChooser("bench"))
    out = []
    for open_id, task_id in targets:
        result = await pipeline.trigger_and_run(
            user_open_id=open_id, type=TriggerType.ADMIN_TRIGGER, now=NOW, task_id=task_id
        )
        assert result.preview_id is not None, result
        async with store.uow(readonly=True) as uow:
            p = await uow.session.get(Preview, result.preview_id)
            assert p is not None
            out.append((p.id, open_id, [c["id"] for c in p.candidates]))
    return out


async def timed_apply(
    store: Store, preview_id: str, open_id: str, candidate: str, key: str
) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = await apply(
        store,
        preview_id=preview_id,
        candidate_id=candidate,
        operator_open_id=open_id,
        idempotency_key=key,
        now=NOW + timedelta(minutes=1),
    )
    return (time.perf_counter() - t0) * 1000, out.status


def summary(name: str, samples: list[tuple[float, str]], walls: list[float]) -> str:
    ms = sorted(s for s, _ in samples)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    counts = Counter(status for _, status in samples)
    return (
        f"| {name} | {len(ms)} | {q[49]:.1f} | {q[94]:.1f} | {q[98]:.1f} | {ms[-1]:.1f} | "
        f"{statistics.median(walls):.0f} | {dict(sorted(counts.items()))} |"
    )


async def run_backend(label: str, url: str, users: int, tasks: int, rounds: int) -> list[str]:
    store = Store(url)
    try:
        targets = await seed(store, users, tasks)
        lines = []
        # hot: one preview per round, 50 clicks on it
        hot = await make_previews(store, targets[:rounds])
        samples: list[tuple[float, str]] = []
        walls: list[float] = []
        for preview_id, open_id, options in hot:
            t0 = time.perf_counter()
            samples += await asyncio.gather(
                *(
                    timed_apply(store, preview_id, open_id, options[i % len(options)], f"{preview_id}:{i}")
                    for i in range(CLICKS)
                )
            )
            walls.append((time.perf_counter() - t0) * 1000)
        lines.append(summary(f"{label} hot (1 preview x 50 clicks)", samples, walls))
        # spread: 50 users' previews per round, one click each
        spread = await make_previews(store, targets[rounds : rounds + rounds * CLICKS])
        samples, walls = [], []
        for r in range(rounds):
            batch = spread[r * CLICKS : (r + 1) * CLICKS]
            t0 = time.perf_counter()
            samples += await asyncio.gather(
                *(timed_apply(store, pid, oid, options[0], f"{pid}:0") for pid, oid, options in batch)
            )
            walls.append((time.perf_counter() - t0) * 1000)
        lines.append(summary(f"{label} spread (50 previews x 1 click)", samples, walls))
        # serial baseline: the same full apply with no concurrency at all
        serial = await make_previews(store, targets[rounds + rounds * CLICKS :])
        samples = [await timed_apply(store, pid, oid, options[0], f"{pid}:0") for pid, oid, options in serial]
        lines.append(summary(f"{label} serial (1 click at a time)", samples, [sum(s for s, _ in samples)]))
        return lines
    finally:
        await store.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mysql-url", default="")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=50)
    args = parser.parse_args()
    users = args.rounds + args.rounds * CLICKS + CLICKS
    print(f"python {platform.python_version()} on {platform.machine()}, {users} users x {args.tasks} tasks")
    print("| scenario | clicks | p50 ms | p95 ms | p99 ms | max ms | round wall ms (median) | outcomes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        for line in await run_backend("SQLite", url, users, args.tasks, args.rounds):
            print(line, flush=True)
    if args.mysql_url:
        fresh_mysql(args.mysql_url)
        for line in await run_backend("MariaDB", args.mysql_url, users, args.tasks, args.rounds):
            print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
