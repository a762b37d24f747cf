"""Feishu busy time: what a free/busy read adds to a pipeline run, and the request rate it keeps to.

    python bench/busy_time.py                      # 1,200 users (the rate part takes a little over a minute)
    python bench/busy_time.py --users 300 --skip-rate   # the cost ratio only, while developing

Data: N users on a fresh SQLite file, each with one urgent task (a due job) and two meetings in the fake
Feishu's calendar (served on loopback, real HTTP through bot.feishu.client.FeishuClient).

1. Cost ratio: the worker's due-scan tick (`process_due_jobs` + `Pipeline.run_batch`, batches of 50) over the
   same `--ratio-users` triggers twice, on two copies of the database: without a calendar, and with one whose
   copies are all stale (so every user is read from Feishu first). Reported: wall time and CPU per trigger,
   and the ratio with / without.
   Two more runs with the wiring's own-calendar reader (`BusyTimes.own` = OwnCalendar, as app.wiring sets it
   when user login is configured): `with_own_unconnected` (no user connected: a connection lookup, then
   free/busy) and `with_own_connected` (every user connected through the fake OAuth, tokens sealed as
   /connect seals them: the primary calendar, then `events/instance_view`, with the user's token).
2. Rate: every user's copy read once (`BusyTimes` with its 8-at-a-time gate) through one client, whose
   throttle keeps free/busy at 1000 requests per minute. Reported: the most requests the fake saw in any
   60-second window, and how long the N reads took.
3. Rate, connected users (`--connected-users`, 0 to skip): the same read for users who are all connected,
   so each costs a primary-calendar call (first read in a process) and an instance_view call, both under
   the user-token calendar client's 1000/min and 50/s limiter. Reported: the busiest 1 s and 60 s.
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
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.feishu.calendar import EVENTS_PER_MINUTE, EVENTS_PER_SECOND, FeishuBusyReader, FeishuUserCalendar
from bot.feishu.client import FREEBUSY_PER_MINUTE, FeishuClient
from bot.feishu.oauth import FeishuOAuthClient
from llm.api import FallbackChooser
from scheduler.services.calendar import BusyTimes
from scheduler.services.calendar_events import OwnCalendar
from scheduler.services.connect import seal_grant
from scheduler.services.jobs import process_due_jobs
from scheduler.services.oauth import AUTHORIZE_PATH, SCOPES, TokenCipher
from scheduler.services.pipeline import Pipeline
from scheduler.services.usertokens import UserTokens
from store import Store, migrate
from store.models import CalendarConnection, Job, Task, User
from tests.fakes.fake_feishu import FakeFeishu, busiest_window, serve_fake_feishu

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
REDIRECT = "https://smartflow.example.com/oauth/feishu/callback"
KEY = Fernet.generate_key().decode()


class Recording(httpx.AsyncBaseTransport):
    """Records the monotonic time every request is sent at."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.times: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.times.append(time.monotonic())
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def connect_all(store: Store, fake: FakeFeishu, url: str) -> int:
    """Connect every user as /connect does: a code from the fake's authorization page exchanged at its
    token endpoint, the grant sealed (Fernet) into calendar_connections; how many."""
    cipher = TokenCipher(KEY)
    query = {"client_id": fake.app_id, "redirect_uri": REDIRECT, "scope": " ".join(SCOPES), "state": "bench"}
    link = f"{url}{AUTHORIZE_PATH}?{urlencode(query)}"
    async with store.uow(readonly=True) as uow:
        users = [(u.id, u.open_id) for u in await uow.users.list_all()]
    oauth = FeishuOAuthClient(fake.app_id, fake.app_secret, url, 10)
    try:
        async with store.uow() as uow:
            for user_id, open_id in users:
                code = parse_qs(urlsplit(fake.oauth.authorize(link, open_id)).query)["code"][0]
                grant = await oauth.exchange_code(code, REDIRECT)
                row = CalendarConnection(user_id=user_id, created_at=NOW, updated_at=NOW)
                seal_grant(row, grant, cipher, NOW)
                uow.session.add(row)
            await uow.commit()
    finally:
        await oauth.aclose()
    return len(users)


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


def own_reader(store: Store, fake: FakeFeishu, url: str, rec: Recording) -> tuple[OwnCalendar, Any]:
    """The own-calendar reader as app.wiring builds it (its calendar client records request times); and a
    closer for its two clients."""
    oauth = FeishuOAuthClient(fake.app_id, fake.app_secret, url, 10)
    calendar = FeishuUserCalendar(url, 10, transport=rec)
    own = OwnCalendar(UserTokens(store, oauth, TokenCipher(KEY)), calendar)

    async def close() -> None:
        await calendar.aclose()
        await oauth.aclose()

    return own, close


async def ratio(fake: FakeFeishu, url: str, users: int, work: Path) -> dict[str, Any]:
    template = work / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{template}")
    seeder = Store(f"sqlite+aiosqlite:///{template}")
    await seed(seeder, fake, users)
    await seeder.dispose()
    connected = work / "connected.db"
    shutil.copy(template, connected)
    seeder = Store(f"sqlite+aiosqlite:///{connected}")
    await connect_all(seeder, fake, url)
    await seeder.dispose()
    out: dict[str, Any] = {}
    for name in ("without", "with", "with_own_unconnected", "with_own_connected"):
        path = work / f"{name}.db"
        shutil.copy(connected if name == "with_own_connected" else template, path)
        store = Store(f"sqlite+aiosqlite:///{path}")
        rec = Recording()
        close = None
        async with FeishuClient(fake.app_id, fake.app_secret, domain=url) as client:
            busy = BusyTimes(store, FeishuBusyReader(client)) if name != "without" else None
            if busy is not None and name.startswith("with_own"):
                busy.own, close = own_reader(store, fake, url, rec)
            before = len(fake.calendars.queries)
            n, wall, cpu = await scan_all(store, busy)
            reads = len(fake.calendars.queries) - before
            if close is not None:
                await close()
        await store.dispose()
        out[name] = {
            "triggers": n,
            "free_busy_reads": reads,
            "user_calendar_requests": len(rec.times),
            "wall_ms_per_trigger": round(wall / n * 1000, 2),
            "cpu_ms_per_trigger": round(cpu / n * 1000, 2),
        }
    base = out["without"]
    for name in ("with", "with_own_unconnected", "with_own_connected"):
        suffix = "" if name == "with" else "_" + name.removeprefix("with_")
        out["ratio_wall" + suffix] = round(out[name]["wall_ms_per_trigger"] / base["wall_ms_per_trigger"], 2)
        out["ratio_cpu" + suffix] = round(out[name]["cpu_ms_per_trigger"] / base["cpu_ms_per_trigger"], 2)
    return out


async def rate_connected(fake: FakeFeishu, url: str, users: int, work: Path) -> dict[str, Any]:
    """Every connected user's copy read once, in batches of 50, through the own-calendar reader."""
    path = work / "rate_connected.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    store = Store(f"sqlite+aiosqlite:///{path}")
    user_ids = await seed(store, fake, users)
    await connect_all(store, fake, url)
    async with store.uow(readonly=True) as uow:
        states = await uow.calendar.states(user_ids)
    fake.calendars.reset()
    rec = Recording()
    async with FeishuClient(fake.app_id, fake.app_secret, domain=url) as client:
        busy = BusyTimes(store, FeishuBusyReader(client))
        busy.own, close = own_reader(store, fake, url, rec)
        started = time.perf_counter()
        for i in range(0, len(states), 50):
            await busy.refresh_states(states[i : i + 50], NOW)
        took = time.perf_counter() - started
        await close()
    await store.dispose()
    return {
        "users": users,
        "user_calendar_requests": len(rec.times),
        "free_busy_requests": len(fake.calendars.queries),
        "max_in_any_60s": busiest_window(rec.times, 60.0),
        "max_in_any_1s": busiest_window(rec.times, 1.0),
        "limits": f"{EVENTS_PER_MINUTE}/min, {EVENTS_PER_SECOND}/s",
        "seconds": round(took, 1),
    }


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
        if args.connected_users:
            fake.calendars.reset()
            result["rate_connected"] = await rate_connected(fake, url, args.connected_users, work)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1200, help="users read in the rate part")
    parser.add_argument("--ratio-users", type=int, default=300, help="triggers in the cost-ratio part")
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--connected-users", type=int, default=1000, help="connected users read (0: skip)")
    print(json.dumps(asyncio.run(bench(parser.parse_args())), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
