"""Worker benchmarks: due-scan cost against the number of pending future jobs, and card delivery rate
against the fake Feishu's enforced limits (5 messages/s per user, 50/s per app).

    python bench/worker.py --mysql-url mysql+aiomysql://root@127.0.0.1:3306/sf_worker   # DROPS its tables
    python bench/worker.py --sizes 1000,100000                                          # SQLite only

Scan: one user, N pending jobs whose trigger_at lies 1 h .. 25 h ahead (bulk INSERT ... SELECT from a
sequence), then `process_due_jobs` with nothing due (the steady state of every tick) and the lease claim of
100 due jobs among the N (claimed, then rolled back, so each repetition sees the same rows). Both must stay
flat as N grows: the claim is an index range scan on (status, trigger_at). Delivery: pending card
notifications for ready previews, drained by `Worker.deliver` (lease claim, per-row send through
FeishuSender -> FeishuClient with its client-side throttle, record) with a real clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.settings import builtin_settings
from bot.feishu.client import FeishuClient
from bot.sender import FeishuSender
from llm.api import FallbackChooser
from scheduler.services.jobs import process_due_jobs
from scheduler.services.pipeline import Pipeline
from scheduler.worker.worker import Worker
from store import Store, migrate, new_id
from store.models import Job, Notification, Preview, Task, Trigger, User
from tests.fakes.fake_feishu import FakeFeishu, serve_fake_feishu

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
REPEAT = 30
DUE = 100
TABLES = (
    "notifications",
    "outbox",
    "change_sets",
    "previews",
    "jobs",
    "triggers",
    "blocks",
    "tasks",
    "users",
)


def reset_mysql(url: str) -> None:
    sync = sa.create_engine(make_url(url).set(drivername="mysql+pymysql"))
    with sync.begin() as conn:
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
        for table in sa.inspect(conn).get_table_names():
            conn.execute(sa.text(f"DROP TABLE `{table}`"))
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
    sync.dispose()
    migrate.upgrade(url)


async def wipe(store: Store) -> None:
    async with store.engine.begin() as conn:
        if store.backend == "mysql":
            await conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
            for table in TABLES:
                await conn.execute(sa.text(f"TRUNCATE TABLE `{table}`"))
            await conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
        else:
            for table in TABLES:
                await conn.execute(sa.text(f"DELETE FROM {table}"))


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def add_future_jobs(store: Store, user_id: str, first: int, last: int) -> None:
    """Tasks and pending jobs numbered first..last, each firing 1 h .. 25 h after NOW."""
    now = _ts(NOW)
    async with store.engine.begin() as conn:
        if store.backend == "mysql":
            source = f"(SELECT seq AS n FROM seq_{first}_to_{last}) s"
            ids = "MD5(CONCAT('{p}', s.n))"
            trigger_at = f"TIMESTAMPADD(SECOND, 3600 + s.n % 86400, '{now}')"
            prefix = ""
        else:
            source = "s"
            prefix = (
                f"WITH RECURSIVE s(n) AS (SELECT {first} UNION ALL SELECT n + 1 FROM s WHERE n < {last}) "
            )
            ids = "printf('{p}%031d', s.n)"
            trigger_at = f"strftime('%Y-%m-%d %H:%M:%f', '{now}', '+' || (3600 + s.n % 86400) || ' seconds')"
        await conn.execute(
            sa.text(
                f"{prefix}INSERT INTO tasks (id, user_id, title, quadrant, estimate_minutes, status, "
                "version, urgency_threshold_at, created_at, updated_at) "
                f"SELECT {ids.format(p='t')}, :u, 'bench', 2, 30, 'open', 1, {trigger_at}, :now, :now "
                f"FROM {source}"
            ),
            {"u": user_id, "now": now},
        )
        await conn.execute(
            sa.text(
                f"{prefix}INSERT INTO jobs (id, task_id, user_id, trigger_at, status, attempts, "
                "created_at, updated_at) "
                f"SELECT {ids.format(p='j')}, {ids.format(p='t')}, :u, {trigger_at}, 'pending', 0, "
                f":now, :now FROM {source}"
            ),
            {"u": user_id, "now": now},
        )
        await conn.execute(sa.text("ANALYZE TABLE jobs" if store.backend == "mysql" else "ANALYZE jobs"))


async def add_due_jobs(store: Store, user_id: str) -> list[str]:
    async with store.uow() as uow:
        ids = []
        for i in range(DUE):
            task = uow.tasks.add(
                Task(
                    user_id=user_id,
                    title="due",
                    quadrant=1,
                    estimate_minutes=30,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            job = uow.jobs.add(
                Job(
                    task_id=task.id,
                    user_id=user_id,
                    trigger_at=NOW - timedelta(seconds=i + 1),
                    status="pending",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            ids.append(job.id)
        await uow.commit()
        return ids


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int = REPEAT) -> tuple[float, float]:
    """(median ms, p95 ms) over `repeat` runs after one warm-up."""
    await fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def claim_plan(store: Store) -> str:
    async with store.engine.connect() as conn:
        if store.backend == "mysql":
            row = (
                (
                    await conn.execute(
                        sa.text(
                            "EXPLAIN SELECT * FROM jobs WHERE (claimed_until IS NULL "
                            "OR claimed_until <= :n) AND status = 'pending' AND trigger_at <= :n "
                            "ORDER BY trigger_at, id LIMIT 100 FOR UPDATE SKIP LOCKED"
                        ),
                        {"n": _ts(NOW)},
                    )
                )
                .mappings()
                .first()
            )
            return f"{row['type']} on {row['key']}, rows~{row['rows']}" if row else "?"
        rows = await conn.execute(
            sa.text(
                "EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE (claimed_until IS NULL OR claimed_until <= :n) "
                "AND status = 'pending' AND trigger_at <= :n ORDER BY trigger_at, id LIMIT 100"
            ),
            {"n": _ts(NOW)},
        )
        return "; ".join(str(r[-1]) for r in rows)


async def bench_scan(store: Store, sizes: list[int]) -> list[dict[str, Any]]:
    await wipe(store)
    async with store.uow() as uow:
        user = uow.users.add(
            User(open_id="ou_bench", name="bench", timezone="Asia/Shanghai", created_at=NOW, updated_at=NOW)
        )
        await uow.commit()
    results = []
    have = 0
    for size in sizes:
        started = time.perf_counter()
        await add_future_jobs(store, user.id, have + 1, size)
        insert_s = time.perf_counter() - started
        have = size

        async def empty_scan() -> None:
            created = await process_due_jobs(store, now=NOW, worker_id="bench", lease_seconds=60, limit=100)
            assert created == []

        empty = await timed(empty_scan)
        due_ids = await add_due_jobs(store, user.id)

        async def claim_due() -> None:
            async with store.uow() as uow:
                rows = await uow.jobs.claim_due("bench", NOW, 60, 100)
                assert len(rows) == DUE
                await uow.rollback()

        claim = await timed(claim_due)
        plan = await claim_plan(store)
        async with store.engine.begin() as conn:
            await conn.execute(sa.delete(Job).where(Job.id.in_(due_ids)))
            await conn.execute(sa.delete(Task).where(Task.title == "due"))
        row = {
            "backend": store.backend,
            "pending_future_jobs": size,
            "insert_s": round(insert_s, 1),
            "empty_scan_ms_median": round(empty[0], 2),
            "empty_scan_ms_p95": round(empty[1], 2),
            "claim_100_due_ms_median": round(claim[0], 2),
            "claim_100_due_ms_p95": round(claim[1], 2),
            "plan": plan,
        }
        print(json.dumps(row), flush=True)
        results.append(row)
    return results


async def seed_cards(store: Store, users: int, per_user: int) -> None:
    """Ready previews with pending card notifications, stamped with the real clock (delivery runs on it)."""
    at = datetime.now(UTC)
    candidate = {
        "id": "c1",
        "type": "place_task",
        "risk_level": "low",
        "texts": {
            "label": "下午补上",
            "summary": "加入 报告 14:00–15:00",
            "before": "14:00–15:00 空闲",
            "after": "14:00–15:00 报告",
        },
    }
    async with store.uow() as uow:
        for u in range(users):
            user = uow.users.add(
                User(
                    open_id=f"ou_rate{u:05d}",
                    name=f"u{u}",
                    timezone="Asia/Shanghai",
                    daily_card_cap=1000,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            for k in range(per_user):
                task = uow.tasks.add(
                    Task(
                        user_id=user.id,
                        title=f"报告 {k}",
                        quadrant=1,
                        estimate_minutes=60,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
                trigger = uow.triggers.add(
                    Trigger(
                        user_id=user.id,
                        type="worker_due_job",
                        task_id=task.id,
                        status="preview_generated",
                        effective_now=at,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
                preview = uow.previews.add(
                    Preview(
                        trigger_id=trigger.id,
                        user_id=user.id,
                        task_id=task.id,
                        decision="propose",
                        candidates=[candidate],
                        chosen_candidate_id="c1",
                        metrics={},
                        issues=[],
                        explanation="下午有空。",
                        base_version="v1",
                        expires_at=datetime.now(UTC) + timedelta(hours=2),
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
                uow.notifications.add(
                    Notification(
                        id=new_id(),
                        user_id=user.id,
                        preview_id=preview.id,
                        kind="card",
                        dedupe_key=f"rate:{preview.id}",
                        status="pending",
                        attempts=0,
                        next_attempt_at=at,
                        payload={"preview_id": preview.id},
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
        await uow.commit()


async def bench_delivery(
    store: Store, fake: FakeFeishu, url: str, users: int, per_user: int
) -> dict[str, Any]:
    await wipe(store)
    fake.reset()
    fake.enforce_limits = True
    await seed_cards(store, users, per_user)
    total = users * per_user
    client = FeishuClient(fake.app_id, fake.app_secret, domain=url, timeout_seconds=5)
    config = builtin_settings(
        lease_seconds=60, feishu_timeout_seconds=5, delivery_timeout_seconds=20
    ).worker_config(delivery_batch=100, delivery_concurrency=32)
    worker = Worker(
        config, store, Pipeline(store, FallbackChooser()), FeishuSender(client), worker_id="bench"
    )
    await client._tokens.get()  # warm the token: the first send is not timed with it
    started = time.perf_counter()
    outcomes: dict[str, int] = {}
    while len(fake.messages) < total and time.perf_counter() - started < 300:
        for name, n in (await worker.deliver(lambda: datetime.now(UTC))).items():
            outcomes[name] = outcomes.get(name, 0) + n
    elapsed = time.perf_counter() - started
    await client.aclose()
    limit = min(5 * users, 50)
    sent = len(fake.messages)
    rate = sent / elapsed
    # A sliding 1-second window lets the first `limit` go at once, so the fastest legal drain of n cards
    # takes ceil(n / limit) - 1 seconds; the share is that ideal over the time it took.
    ideal = max(-(-sent // limit) - 1, 0)
    row = {
        "backend": store.backend,
        "users": users,
        "cards": total,
        "seconds": round(elapsed, 2),
        "cards_per_s": round(rate, 1),
        "limit_per_s": limit,
        "ideal_seconds": ideal,
        "share_of_limit": round(ideal / elapsed, 3) if ideal else None,
        "throttled_by_fake": fake.throttled,
        "outcomes": outcomes,
    }
    print(json.dumps(row), flush=True)
    return row


async def run(url: str, sizes: list[int], delivery: list[tuple[int, int]]) -> dict[str, Any]:
    store = Store(url)
    try:
        scan = await bench_scan(store, sizes)
        rates = []
        with serve_fake_feishu(FakeFeishu(enforce_limits=True)) as (fake, feishu_url):
            for users, per_user in delivery:
                rates.append(await bench_delivery(store, fake, feishu_url, users, per_user))
        await wipe(store)
        return {"scan": scan, "delivery": rates}
    finally:
        await store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mysql-url", help="MariaDB database to use (all its tables are dropped)")
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--delivery", default="1x40,20x15,200x3", help="USERSxCARDS_PER_USER,...")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    delivery = [tuple(int(x) for x in d.split("x")) for d in args.delivery.split(",")]
    if args.mysql_url:
        reset_mysql(args.mysql_url)
        url = args.mysql_url
    else:
        path = Path(tempfile.mkdtemp()) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        migrate.upgrade(url)
    result = asyncio.run(run(url, sizes, delivery))  # type: ignore[arg-type]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
