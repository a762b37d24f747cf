"""Send limits across processes: W `smartflow serve --mode worker` processes on one MariaDB drain C cards
to U users through the fake Feishu, which enforces Feishu's limits (sending a message, like each Open API
method, 50 a second and 1000 a minute for the app; 5 a second per user) and refuses what exceeds them.
Reports the busiest one-second (and one-minute) windows of message sends the fake saw, how many sends it
refused, and the drain time against the ideal one.

    python bench/send_limits.py --mysql-url mysql+aiomysql://root@127.0.0.1:3306/sf_limits  # DROPS its tables
    python bench/send_limits.py --mysql-url ... --workers 3 --users 200 --per-user 3 --unshared

Drain: from the first card's arrival at the fake to the last one's. A sliding one-second window lets the
first 50 go at once, so the fastest legal drain of C cards (C <= 1000) takes ceil(C / 50) - 1 seconds (the
ideal); above 1000 each further thousand waits for the minute of the thousand before it.
`--unshared` runs the workers with SMARTFLOW_SHARED_SEND_LIMITS=false (each process counts its own).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.worker import reset_mysql, seed_cards  # noqa: E402
from store import Store  # noqa: E402
from store.models import User  # noqa: E402
from tests.fakes.fake_feishu import FakeFeishu, busiest_window, serve_fake_feishu  # noqa: E402

APP_LIMIT = 50  # message sends a second for the app
APP_PER_MINUTE = 1000  # and a minute
USER_LIMIT = 5


def ideal_seconds(total: int) -> int:
    """The fastest legal drain of `total` sends: send k goes at most 50 a second and 1000 a minute after the
    first, i.e. at 60 * (k // 1000) + (k % 1000) // 50 seconds."""
    if total <= 0:
        return 0
    last = total - 1
    return 60 * (last // APP_PER_MINUTE) + (last % APP_PER_MINUTE) // APP_LIMIT


async def seed(url: str, users: int, per_user: int) -> None:
    store = Store(url)
    try:
        await seed_cards(store, users, per_user)
        async with store.engine.begin() as conn:  # cards may go out whatever the hour of the run
            await conn.execute(sa.update(User.__table__).values(day_start="00:00", day_end="24:00"))
    finally:
        await store.dispose()


def run(url: str, workers: int, users: int, per_user: int, *, shared: bool) -> dict[str, Any]:
    reset_mysql(url)
    asyncio.run(seed(url, users, per_user))
    total = users * per_user
    logs = Path(tempfile.mkdtemp())
    with serve_fake_feishu(FakeFeishu(enforce_limits=True)) as (fake, feishu_url):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTFLOW_")}
        env.update(
            SMARTFLOW_DATABASE_URL=url,
            SMARTFLOW_FEISHU_APP_ID=fake.app_id,
            SMARTFLOW_FEISHU_APP_SECRET=fake.app_secret,
            SMARTFLOW_FEISHU_DOMAIN=feishu_url,
            SMARTFLOW_OUTBOX_RELAY_SECONDS="0.3",
            SMARTFLOW_DELIVERY_SECONDS="0.3",
            SMARTFLOW_LOG_LEVEL="WARNING",
            SMARTFLOW_SHARED_SEND_LIMITS="true" if shared else "false",
        )
        smartflow = Path(sys.executable).with_name("smartflow")
        procs = [
            subprocess.Popen(
                [str(smartflow), "serve", "--mode", "worker"],
                env=env,
                stdout=(logs / f"worker{i}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            for i in range(workers)
        ]
        started = time.time()
        try:
            while len(fake.messages) < total and time.time() - started < 300:
                time.sleep(0.1)
            time.sleep(1.0)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=30)
        messages = fake.messages
        arrivals = sorted(m.created_at for m in messages)
        by_user: dict[str, list[float]] = {}
        for m in messages:
            by_user.setdefault(m.receive_id, []).append(m.created_at)
        ideal = ideal_seconds(total)
        drain = arrivals[-1] - arrivals[0] if arrivals else 0.0
        return {
            "workers": workers,
            "shared": shared,
            "users": users,
            "cards": total,
            "sent": len(messages),
            "distinct_uuids": len({m.uuid for m in messages}),
            "refused_by_fake": fake.throttled,
            "busiest_second_app": busiest_window(arrivals),  # message sends (the only method used here)
            "busiest_minute_app": busiest_window(arrivals, 60.0),
            "busiest_second_user": max((busiest_window(t) for t in by_user.values()), default=0),
            "drain_seconds": round(drain, 2),
            "ideal_seconds": ideal,
            "drain_over_ideal": round(drain / ideal, 3) if ideal else None,
            "first_card_after_start_s": round(arrivals[0] - started, 2) if arrivals else None,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mysql-url", required=True, help="MariaDB database to use (all its tables are dropped)"
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--per-user", type=int, default=3)
    parser.add_argument("--unshared", action="store_true", help="each process counts its own limits")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.repeat):
        row = run(args.mysql_url, args.workers, args.users, args.per_user, shared=not args.unshared)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
