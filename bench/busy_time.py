"""Feishu busy time: what a free/busy read adds to a pipeline run, and the request rate it keeps to.

    python bench/busy_time.py                      # 1,200 users (the rate part takes a little over a minute)
    python bench/busy_time.py --users 300 --skip-rate   # the cost ratio only, while developing

Data: N users on a fresh SQLite file, each with one urgent task (a due job) and two meetings in the fake
Feishu's calendar (served on loopback, real HTTP through bot.feishu.client.FeishuClient).

1. Cost ratio: the worker's due-scan tick (`process_due_jobs` + `Pipeline.run_batch`, batches of 50) over the
   same `--ratio-users` triggers twice, on two copies of the database: without a calendar, and with one whose
   copies are all stale (so every user is read from Feishu first). Reported: wall time and CPU per trigger,
   and the ratio with / without.
2. Rate: every user's copy read once (`BusyTimes` with its 8-at-a-time gate) through one client, whose
   throttle keeps free/busy at 1000 requests per minute. Reported: the most requests the fake saw in any
   60-second window, and how long the N reads took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.feishu.calendar import FeishuBusyReader
from bot.feishu.client import FREEBUSY_PER_MINUTE, FeishuClient
from llm.api import FallbackChooser
from scheduler.services.calendar import BusyTimes
from scheduler.services.jobs import process_due_jobs
from scheduler.services.pipeline import Pipeline
from store import Store, migrate
from store.models import Job, Task, User
from tests.fakes.fake_feishu import FakeFeishu, serve_fake_feishu

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai


async def seed(store: Store, fake: FakeFeishu, users: int) -> list[str]:
    """The users' ids (each with a due job, and two meetings in the fake's calendar)."""
    open_ids, user_ids = [], []
    async with store.uow() as uow:
        for i in range(users):
            open_id = f"ou_bench{i:06d}"
            user = uow.users.add(
                User(open_id=open_id, name=f"u{i}", timezone="Asia/Shanghai", created_at=NOW, updated_at=NOW)
            )
            await uow.flush()
            task = uow.tasks.add(
                Task(
                    user_id=user.id, title=f"报告 {i}", quadrant=2, estimate_minutes=60,
                    deadline=NOW + timedelta(hours=20), urgency_threshold_at=NOW - timedelta(minutes=1),
                    created_at=NOW, updated_at=NOW,
                )
            )  # fmt: skip
            await uow.flush()
            uow.jobs.add(
                Job(
                    task_id=task.id, user_id=user.id, trigger_at=NOW - timedelta(minutes=1),
                    status="pending", created_at=NOW, updated_at=NOW,
                )
            )  # fmt: skip
            open_ids.append(open_id)
            user_ids.append(user.id)
        await uow.commit()
    for open_id in open_ids:
        fake.calendars.add_event(open_id, NOW + timedelta(hours=2), NOW + timedelta(hours=3), "周会")
        fake.calendars.add_event(open_id, NOW + timedelta(hours=6), NOW + timedelta(hours=7))
    return user_ids


async def scan_all(store: Store, busy: BusyTimes | None) -> tuple[int, float, float]:
    """Run the due-scan tick until no due job is left: (triggers, wall s, CPU s)."""
    pipeline = Pipeline(store, FallbackChooser(), busy=busy)
    done = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while True:
        created = await process_due_jobs(store, now=NOW, worker_id="bench", lease_seconds=60, limit=50)
        if not created:
            break
        await pipeline.run_batch(created, NOW)
        done += len(created)
    return done, time.perf_counter() - wall, time.process_time() - cpu


async def ratio(fake: FakeFeishu, url: str, users: int, work: Path) -> dict[str, Any]:
    template = work / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{template}")
    seeder = Store(f"sqlite+aiosqlite:///{template}")
    await seed(seeder, fake, users)
    await seeder.dispose()
    out: dict[str, Any] = {}
    for name in ("without", "with"):
        path = work / f"{name}.db"
        shutil.copy(template, path)
        store = Store(f"sqlite+aiosqlite:///{path}")
        async with FeishuClient(fake.app_id, fake.app_secret, domain=url) as client:
            busy = BusyTimes(store, FeishuBusyReader(client)) if name == "with" else None
            before = len(fake.calendars.queries)
            n, wall, cpu = await scan_all(store, busy)
            reads = len(fake.calendars.queries) - before
        await store.dispose()
        out[name] = {
            "triggers": n,
            "free_busy_reads": reads,
            "wall_ms_per_trigger": round(wall / n * 1000, 2),
            "cpu_ms_per_trigger": round(cpu / n * 1000, 2),
        }
    out["ratio_wall"] = round(out["with"]["wall_ms_per_trigger"] / out["without"]["wall_ms_per_trigger"], 2)
    out["ratio_cpu"] = round(out["with"]["cpu_ms_per_trigger"] / out["without"]["cpu_ms_per_trigger"], 2)
    return out


async def rate(fake: FakeFeishu, url: str, users: int, work: Path) -> dict[str, Any]:
    path = work / "rate.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    store = Store(f"sqlite+aiosqlite:///{path}")
    user_ids = await seed(store, fake, users)
    async with store.uow(readonly=True) as uow:
        states = await uow.calendar.states(user_ids)
    fake.calendars.reset()
    async with FeishuClient(fake.app_id, fake.app_secret, domain=url) as client:
        busy = BusyTimes(store, FeishuBusyReader(client))
        started = time.perf_counter()
        # In batches of 50 users, as the pipeline reads them.
        for i in range(0, len(states), 50):
            await busy.refresh_states(states[i : i + 50], NOW)
        took = time.perf_counter() - started
    await store.dispose()
    stamps = sorted(q.at for q in fake.calendars.queries)
    most, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - 60.0:
            j += 1
        most = max(most, i - j + 1)
    return {
        "users": users,
        "requests": len(stamps),
        "max_in_any_60s": most,
        "limit_per_minute": FREEBUSY_PER_MINUTE,
        "seconds": round(took, 1),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with serve_fake_feishu() as (fake, url), tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result: dict[str, Any] = {
            "command": " ".join(["python", *sys.argv]),
            "machine": f"{platform.machine()}, Python {platform.python_version()}",
            "ratio": await ratio(fake, url, args.ratio_users, work),
        }
        if not args.skip_rate:
            fake.calendars.reset()
            result["rate"] = await rate(fake, url, args.users, work)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1200, help="users read in the rate part")
    parser.add_argument("--ratio-users", type=int, default=300, help="triggers in the cost-ratio part")
    parser.add_argument("--skip-rate", action="store_true")
    print(json.dumps(asyncio.run(bench(parser.parse_args())), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
