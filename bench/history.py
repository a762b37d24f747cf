"""Apply cost against years of past blocks: the same apply for users with no history and with five years.

    python bench/history.py  # SQLite only
    python bench/history.py --mysql-url mysql+aiomysql://root@127.0.0.1:3306/sf_history  # both (DROPS)

Each backend: a fresh schema and pairs of bench/apply.py's users (an urgent task without time planned, two
blocks a day for the coming week, a weekly class on a day that varies by user); the second of each pair also
has YEARS years of past blocks (PER_DAY a day, ~5,500 rows each). Previews are made by the real pipeline
(admin trigger, deterministic chooser); then each pair's first option is applied one click at a time,
alternating between the two users of a pair, so drift in the machine's load falls on both alike. Reported
per group: wall ms per apply (p50, p90), this process's CPU ms per apply (the ORM and driver; MariaDB's own
work is in the wall time) and the statements one apply sends. Target (issue 10): the history group within
10% of the other.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.apply import NOW, fresh_mysql
from bench.apply import seed as apply_seed
from llm.api import FallbackChooser
from scheduler.services.apply import apply
from scheduler.services.pipeline import Pipeline
from store import Store, migrate, new_id
from store.enums import TriggerType
from store.models import Block, Preview
from tests.statements import count_statements

YEARS = 5
PER_DAY = 3


async def seed(store: Store, pairs: int) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """((open_id, target task) without history, (open_id, target task) with YEARS of it) per pair: the
    users of bench/apply.py (the same present each), every second one given the history."""
    users = await apply_seed(store, 2 * pairs, 2)
    async with store.uow() as uow:
        owners = await uow.users.by_open_ids([open_id for open_id, _ in users])
        ids = {open_id: user.id for open_id, user in owners.items()}
        history = [
            {
                "id": new_id(),
                "user_id": ids[open_id],
                "task_id": task_id,
                "start": NOW - timedelta(days=day) + timedelta(hours=2 * k),
                "end": NOW - timedelta(days=day) + timedelta(hours=2 * k, minutes=45),
                "created_at": NOW,
                "updated_at": NOW,
            }
            for open_id, task_id in users[1::2]
            for day in range(1, YEARS * 365 + 1)
            for k in range(PER_DAY)
        ]
        table = Block.__table__
        for at in range(0, len(history), 5000):
            await uow.session.execute(table.insert(), history[at : at + 5000])
        await uow.commit()
    return list(zip(users[0::2], users[1::2], strict=True))


async def preview_of(pipeline: Pipeline, store: Store, open_id: str, task_id: str) -> tuple[str, str]:
    result = await pipeline.trigger_and_run(
        user_open_id=open_id, type=TriggerType.ADMIN_TRIGGER, now=NOW, task_id=task_id
    )
    assert result.preview_id is not None, result
    async with store.uow(readonly=True) as uow:
        preview = await uow.session.get(Preview, result.preview_id)
        assert preview is not None
        return preview.id, preview.candidates[0]["id"]


async def one_apply(store: Store, open_id: str, preview_id: str, candidate_id: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = await apply(
        store,
        preview_id=preview_id,
        candidate_id=candidate_id,
        operator_open_id=open_id,
        idempotency_key=f"bench:{preview_id}",
        now=NOW,
    )
    took = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
    if outcome.status != "applied":
        raise RuntimeError(f"apply of {preview_id} for {open_id}: {outcome.status} {outcome.code}")
    return took


def row(label: str, samples: list[tuple[float, float]], statements: int) -> tuple[str, float]:
    walls = sorted(w for w, _ in samples)
    cpus = [c for _, c in samples]
    p50 = statistics.median(walls)
    p90 = walls[min(len(walls) - 1, round(0.9 * (len(walls) - 1)))]
    line = f"| {label} | {len(walls)} | {p50:.2f} | {p90:.2f} | {statistics.mean(cpus):.2f} | {statements} |"
    return line, p50


async def run_backend(label: str, url: str, pairs: int) -> list[str]:
    store = Store(url)
    try:
        started = time.perf_counter()
        seeded = await seed(store, pairs)
        seeding = time.perf_counter() - started
        pipeline = Pipeline(store, FallbackChooser("bench"))
        previews = []
        for plain, history in seeded:
            previews.append(
                (
                    (plain[0], *await preview_of(pipeline, store, *plain)),
                    (history[0], *await preview_of(pipeline, store, *history)),
                )
            )
        # warm-up on the first pair (connections, caches), with the statements each apply sends
        (p_open, p_preview, p_option), (h_open, h_preview, h_option) = previews[0]
        with count_statements(store) as plain_log:
            await one_apply(store, p_open, p_preview, p_option)
        with count_statements(store) as history_log:
            await one_apply(store, h_open, h_preview, h_option)
        plain_samples: list[tuple[float, float]] = []
        history_samples: list[tuple[float, float]] = []
        for n, (plain_one, history_one) in enumerate(previews[1:]):
            first, second = (plain_one, history_one) if n % 2 == 0 else (history_one, plain_one)
            for who in (first, second):
                took = await one_apply(store, *who)
                (plain_samples if who is plain_one else history_samples).append(took)
        plain_line, plain_p50 = row(f"{label}, no history", plain_samples, plain_log.count)
        history_line, history_p50 = row(
            f"{label}, {YEARS} years of past blocks ({YEARS * 365 * PER_DAY} each)",
            history_samples,
            history_log.count,
        )
        ratio = (
            f"{label}: history / none, wall p50 {history_p50 / plain_p50:.3f}x (seeded in {seeding:.0f} s)"
        )
        return [plain_line, history_line, ratio]
    finally:
        await store.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mysql-url", default="")
    parser.add_argument("--pairs", type=int, default=60, help="users with and without history (pairs)")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {args.pairs} pairs of users")
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        lines += await run_backend("SQLite", url, args.pairs)
    if args.mysql_url:
        fresh_mysql(args.mysql_url)
        lines += await run_backend("MariaDB", args.mysql_url, args.pairs)
    print("| group | applies | wall p50 ms | wall p90 ms | CPU ms (mean) | statements |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(line for line in lines if line.startswith("|")))
    print("\n".join(line for line in lines if not line.startswith("|")))


if __name__ == "__main__":
    asyncio.run(main())
