"""Feishu Tasks sync: what one sync interval costs for N connected users, against Feishu's rate limits.

    python bench/task_sync.py          # 1,000 users, a SQLite file in a temp dir
    python bench/task_sync.py --db mysql+aiomysql://root@127.0.0.1:3306/sf_bench_sync   # EMPTY, upgraded

Data: N users, each connected as /connect connects them (a code exchanged at the fake OAuth, the grant
sealed with Fernet into calendar_connections, task scopes included), each with 5-20 tasks in the fake
Feishu's Tasks (a tenth of them completed); `--big-share` of the users hold 120-300 tasks, so their list
takes 2-3 pages of 100. `--refresh-share` of the users have an access token that expires within the
five-minute margin, so the sync refreshes it first (steady state: a 2 h token and a 5 min interval refresh
about 1/24 of the users per interval).

Two intervals run through the real worker step (`Worker.sync_tasks`, built by app.wiring as `smartflow
worker` builds it) against the fake Feishu on loopback (real HTTP): the first sync (every task new here),
then one interval later with 10% of the users having completed one task and renamed another in Feishu.
Reported per interval: list and refresh requests, the busiest 1 s and 60 s request counts (request times
recorded by the bench's transport for the list calls, by the fake for the token calls), wall time, process
CPU (the fake's handling on its own thread included) and SQL statements.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import sqlalchemy as sa
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.settings import load_settings
from app.wiring import api_limiters, build_components, make_worker
from bench.busy_time import Recording
from bot.feishu.oauth import FeishuOAuthClient
from bot.feishu.tasks import TASKS_PER_MINUTE, TASKS_PER_SECOND, FeishuTasksClient
from scheduler.services.connect import seal_grant
from scheduler.services.oauth import AUTHORIZE_PATH, SCOPES, TokenCipher
from store import Store, migrate
from store.models import CalendarConnection, User
from tests.fakes.fake_feishu import FakeFeishu, busiest_window, serve_fake_feishu

REDIRECT = "https://smartflow.example.com/oauth/feishu/callback"
# Feishu's limits: the general tier "1000 per minute and 50 per second" (per API, app and tenant; either one
# triggers 429, open.feishu.cn/document/server-docs/api-call-guide/frequency-control). The task v2 list page's
# own tier was not found in the reference material; the bench compares with this common one.
PER_MINUTE, PER_SECOND = 1000, 50


async def seed(  # noqa: PLR0917 - the bench's inputs
    store: Store, fake: FakeFeishu, url: str, users: int, big_share: float, key: str, now: datetime
) -> tuple[list[str], dict[str, list[str]]]:
    """The users' ids and each open_id's fake task guids; every user connected with a sealed grant."""
    rng = random.Random(12)
    cipher = TokenCipher(key)
    oauth = FeishuOAuthClient(fake.app_id, fake.app_secret, url, 10)
    query = {"client_id": fake.app_id, "redirect_uri": REDIRECT, "scope": " ".join(SCOPES), "state": "bench"}
    link = f"{url}{AUTHORIZE_PATH}?{urlencode(query)}"
    ids: list[str] = []
    guids: dict[str, list[str]] = {}
    try:
        for start in range(0, users, 100):
            async with store.uow() as uow:
                for i in range(start, min(start + 100, users)):
                    open_id = f"ou_sync{i:06d}"
                    user = uow.users.add(
                        User(open_id=open_id, name=f"u{i}", timezone="Asia/Shanghai",
                             created_at=now, updated_at=now)
                    )  # fmt: skip
                    await uow.flush()
                    back = fake.oauth.authorize(link, open_id)
                    code = parse_qs(urlsplit(back).query)["code"][0]
                    grant = await oauth.exchange_code(code, REDIRECT)
                    row = CalendarConnection(user_id=user.id, created_at=now, updated_at=now)
                    seal_grant(row, grant, cipher, now)
                    uow.session.add(row)
                    ids.append(user.id)
                    count = rng.randint(120, 300) if rng.random() < big_share else rng.randint(5, 20)
                    mine = []
                    for k in range(count):
                        due = now + timedelta(hours=rng.randint(2, 24 * 14)) if rng.random() < 0.8 else None
                        done = now - timedelta(days=1) if rng.random() < 0.1 else None
                        mine.append(fake.tasks.add(open_id, f"任务 {i}-{k}", due=due, completed_at=done))
                    guids[open_id] = mine
                await uow.commit()
    finally:
        await oauth.aclose()
    return ids, guids


async def expire_some(store: Store, user_ids: list[str], share: float, now: datetime, seed_: int) -> int:
    """Make `share` of the users' access tokens expire within the refresh margin; how many."""
    chosen = random.Random(seed_).sample(user_ids, round(len(user_ids) * share))
    async with store.uow() as uow:
        for start in range(0, len(chosen), 500):
            await uow.session.execute(
                sa.update(CalendarConnection)
                .where(CalendarConnection.user_id.in_(chosen[start : start + 500]))
                .values(access_expires_at=now + timedelta(minutes=1))
            )
        await uow.commit()
    return len(chosen)


def change_some(fake: FakeFeishu, guids: dict[str, list[str]], now: datetime) -> int:
    """A tenth of the users complete one open task and rename another in Feishu; how many users."""
    rng = random.Random(7)
    changed = 0
    for open_id in rng.sample(sorted(guids), len(guids) // 10):
        open_tasks = [g for g in guids[open_id] if not fake.tasks.task(g).completed]
        if len(open_tasks) < 2:
            continue
        fake.tasks.complete(open_tasks[0], now)
        fake.tasks.edit(open_tasks[1], summary=fake.tasks.task(open_tasks[1]).summary + " (改)")
        changed += 1
    return changed


async def interval(
    worker: Any, fake: FakeFeishu, rec: Recording, store: Store, now: datetime
) -> dict[str, Any]:
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    engine = store.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", count)
    lists_before, times_before = len(fake.tasks.lists), len(rec.times)
    refresh_before = len(fake.oauth.calls_of("refresh_token"))
    started_mono = time.monotonic()
    wall, cpu = time.perf_counter(), time.process_time()
    ran = await worker.sync_tasks(now, when_due=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sa.event.remove(engine, "before_cursor_execute", count)
    assert ran
    lists = rec.times[times_before:]
    refreshes = fake.oauth.calls_of("refresh_token")[refresh_before:]
    assert all(c.at >= started_mono for c in refreshes)
    both = lists + [c.at for c in refreshes]
    return {
        "task_list_requests": len(lists),
        "task_list_answered_by_fake": len(fake.tasks.lists) - lists_before,
        "token_refreshes": len(refreshes),
        "token_refresh_failures": sum(1 for c in refreshes if c.code != 0),
        "task_list_busiest_1s": busiest_window(lists, 1.0),
        "task_list_busiest_60s": busiest_window(lists, 60.0),
        "token_refresh_busiest_1s": busiest_window([c.at for c in refreshes], 1.0),
        "all_requests_busiest_1s": busiest_window(both, 1.0),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "sql_statements": statements[0],
        "mean_list_rate_per_s": round(len(lists) / wall, 1) if wall else None,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    key = Fernet.generate_key().decode()
    with serve_fake_feishu() as (fake, url), tempfile.TemporaryDirectory() as tmp:
        db = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'sync.db'}"
        if db.startswith("sqlite"):
            migrate.upgrade(db)
        settings = load_settings(
            database_url=db, feishu_app_id=fake.app_id, feishu_app_secret=fake.app_secret,
            feishu_domain=url, timezone="Asia/Shanghai", feishu_timeout_seconds=10,
            public_url="https://smartflow.example.com", secret_key=key,
        )  # fmt: skip
        components = build_components(settings)
        try:
            store = components.store
            async with store.uow(readonly=True) as uow:
                existing = (await uow.session.execute(sa.text("SELECT COUNT(*) FROM users"))).scalar_one()
            if existing:
                raise SystemExit(f"{db} holds {existing} users: give the bench an empty, upgraded database")
            now = datetime.now(UTC).replace(microsecond=0)  # the fake's tokens live in real time
            seeded = time.perf_counter()
            user_ids, guids = await seed(store, fake, url, args.users, args.big_share, key, now)
            seed_s = time.perf_counter() - seeded
            # the worker's own step, on the sync the wiring built; its client records request times
            sync = components.task_sync
            assert sync is not None
            rec = Recording()
            # with the limits the wiring gives it (counted in the database on MariaDB)
            limits = api_limiters(settings, store, "tasks", TASKS_PER_MINUTE, TASKS_PER_SECOND)
            tasks_client = FeishuTasksClient(url, 10, transport=rec, limiters=limits)
            sync.api = tasks_client
            worker = make_worker(components)
            out: dict[str, Any] = {
                "command": " ".join(["python", *sys.argv]),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
                "database": db.split("://")[0],
                "load_average_before": [round(x, 2) for x in os.getloadavg()],
                "users": args.users,
                "fake_tasks": sum(len(g) for g in guids.values()),
                "users_over_100_tasks": sum(1 for g in guids.values() if len(g) > 100),
                "seed_s": round(seed_s, 1),
            }
            first_expired = await expire_some(store, user_ids, args.refresh_share, now, 1)
            first = await interval(worker, fake, rec, store, now)
            first["tokens_made_to_expire"] = first_expired
            out["first_sync"] = first
            later = now + timedelta(seconds=sync.interval_seconds)
            changed = change_some(fake, guids, now)
            second_expired = await expire_some(store, user_ids, args.refresh_share, later, 2)
            second = await interval(worker, fake, rec, store, later)
            second["users_changed_in_feishu"] = changed
            second["tokens_made_to_expire"] = second_expired
            out["next_interval"] = second
            async with store.uow(readonly=True) as uow:
                synced = (
                    await uow.session.execute(
                        sa.text("SELECT COUNT(*) FROM tasks WHERE feishu_task_guid IS NOT NULL")
                    )
                ).scalar_one()
            out["synced_tasks_in_db"] = synced
            out["limits"] = {"per_minute": PER_MINUTE, "per_second": PER_SECOND}
            out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            await tasks_client.aclose()
        finally:
            await components.aclose()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--db", default="", help="an empty, upgraded database (default: a temp SQLite file)")
    parser.add_argument("--big-share", type=float, default=0.05, help="users with 120-300 tasks")
    parser.add_argument("--refresh-share", type=float, default=0.05, help="users whose token is refreshed")
    print(json.dumps(asyncio.run(bench(parser.parse_args())), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
