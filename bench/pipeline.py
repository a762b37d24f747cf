"""Pipeline throughput: triggers per second end to end (due job -> trigger -> preview + outbox row).

    python bench/pipeline.py                                  # SQLite only
    python bench/pipeline.py --mysql-url mysql+aiomysql://root@127.0.0.1:3306/sf_services
        # both backends (DROPS every table of that database)

Data: 1,000 users x 50 tasks (every task with an urgency threshold and a pending job), 2 weekly classes and
3 blocks per user, bulk-inserted through the store. `--due` of the jobs (default 2,000, two per user for the
first users) have a passed threshold; the other 48,000 fire days later and must not be touched. Every due task
is quadrant 2 with no block in the next 24 hours, so each due job yields one trigger, one preview and one
outbox row. A run: W worker processes (like `smartflow serve --mode worker` x W) loop `process_due_jobs`
(lease claim, SPEC 3.1 rules, one transaction per job) and `Pipeline.run` on each created trigger (context,
planning, the deterministic chooser, one transaction for preview + outbox), until no due job is left. The
state is reset between runs. Timings are wall clock on this machine; the LLM is not involved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from llm.api import FallbackChooser
from scheduler.services.jobs import process_due_jobs
from scheduler.services.pipeline import Pipeline
from store import Store, migrate, new_id
from store.engine import sqlite_path
from store.enums import JobStatus
from store.models import Block, FixedEvent, Job, OutboxMessage, Preview, Task, Trigger, User

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
CHUNK = 5000


def _rows(users: int, tasks: int, due: int) -> dict[type[Any], list[dict[str, Any]]]:
    out: dict[type[Any], list[dict[str, Any]]] = {m: [] for m in (User, FixedEvent, Task, Job, Block)}
    stamp = {"created_at": NOW, "updated_at": NOW}
    due_left = due
    per_user_due = -(-due // users)  # ceil
    for u in range(users):
        uid = new_id()
        out[User].append(
            {"id": uid, "open_id": f"ou_bench{u}", "name": f"Bench {u}", "timezone": "Asia/Shanghai"}
            | {"locale": "zh" if u % 3 else "en", "day_start": "08:00", "day_end": "22:30"}
            | {"daily_card_cap": 8, "role": "user"}
            | stamp
        )
        for k, (weekday, start, end) in enumerate(((1, "10:00", "11:35"), (2, "14:00", "15:35"))):
            out[FixedEvent].append(
                {"id": new_id(), "user_id": uid, "key": f"class{k}", "title": f"课程 {k}", "weekday": weekday}
                | {"local_start": start, "local_end": end}
                | stamp
            )
        for t in range(tasks):
            tid = new_id()
            is_due = t < per_user_due and due_left > 0
            due_left -= is_due
            threshold = NOW - timedelta(minutes=1 + t) if is_due else NOW + timedelta(days=2 + t % 30)
            out[Task].append(
                {
                    "id": tid,
                    "user_id": uid,
                    "key": f"t{t}",
                    "title": f"任务 {u}-{t}",
                    "quadrant": 2 if is_due else 2 + 2 * (t % 2),
                }
                | {"estimate_minutes": 30 + 15 * (t % 7), "deadline": NOW + timedelta(hours=6 + t % 40)}
                | {"urgency_threshold_at": threshold, "status": "open", "version": 1}
                | stamp
            )
            out[Job].append(
                {"id": new_id(), "task_id": tid, "user_id": uid, "trigger_at": threshold}
                | {"status": JobStatus.PENDING, "attempts": 0}
                | stamp
            )
            if per_user_due <= t < per_user_due + 3:  # blocks of non-due tasks fill part of the day
                start = NOW + timedelta(hours=2 * (t - per_user_due) + 4)
                out[Block].append(
                    {"id": new_id(), "user_id": uid, "task_id": tid, "start": start}
                    | {
                        "end": start + timedelta(minutes=60),
                        "source": "import",
                        "locked": False,
                        "version": 1,
                    }
                    | stamp
                )
    return out


async def load(store: Store, users: int, tasks: int, due: int) -> dict[str, float]:
    started = time.perf_counter()
    data = _rows(users, tasks, due)
    generated = time.perf_counter()
    async with store.uow() as uow:
        for model, rows in data.items():
            for i in range(0, len(rows), CHUNK):
                await uow.session.execute(sa.insert(model), rows[i : i + CHUNK])
        await uow.commit()
    return {
        "generate_s": generated - started,
        "insert_s": time.perf_counter() - generated,
        "rows": float(sum(len(r) for r in data.values())),
    }


async def reset(store: Store) -> None:
    """Back to the state before a run: due jobs pending again, their tasks unpromoted, outputs gone."""
    async with store.uow() as uow:
        s = uow.session
        await s.execute(sa.delete(OutboxMessage))
        await s.execute(sa.delete(Preview))
        await s.execute(
            sa.update(Job)
            .where(Job.trigger_at <= NOW)
            .values(status="pending", trigger_id=None, claimed_by=None, claimed_until=None)
        )
        await s.execute(sa.delete(Trigger))
        await s.execute(
            sa.update(Task)
            .where(Task.urgency_threshold_at <= NOW)
            .values(quadrant=2, version=1, updated_at=NOW)
        )
        await uow.commit()
    if store.backend == "sqlite":
        # Start every run from a folded-in WAL, as a long-running deployment would be (the bulk load and
        # the reset otherwise leave megabytes for the first timed commit to checkpoint).
        conn = sqlite3.connect(str(sqlite_path(store.url)))
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()


async def one_worker(url: str, name: str) -> dict[str, Any]:
    store = Store(url)
    pipeline = Pipeline(store, FallbackChooser())
    runs: list[float] = []
    scans: list[float] = []
    started = time.time()
    try:
        while True:
            t0 = time.perf_counter()
            created = await process_due_jobs(store, now=NOW, worker_id=name, lease_seconds=300, limit=50)
            scans.append(time.perf_counter() - t0)
            if not created:
                break
            for trigger_id in created:
                t1 = time.perf_counter()
                outcome = await pipeline.run(trigger_id, NOW)
                runs.append(time.perf_counter() - t1)
                if outcome.preview_id is None:
                    raise RuntimeError(f"trigger {trigger_id} produced no preview: {outcome}")
    finally:
        await store.dispose()
    return {"started": started, "ended": time.time(), "runs": runs, "scans": scans}


def _worker_process(url: str, name: str, start_at: float) -> dict[str, Any]:
    # Separate processes, like `smartflow serve --mode worker` x N; all start together once imported.
    time.sleep(max(0.0, start_at - time.time()))
    return asyncio.run(one_worker(url, name))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


async def _counts(url: str) -> tuple[dict[str, int], int]:
    store = Store(url)
    try:
        async with store.uow(readonly=True) as uow:
            s = uow.session
            n = {
                m.__tablename__: int(
                    (await s.execute(sa.select(sa.func.count()).select_from(m))).scalar_one()
                )
                for m in (Trigger, Preview, OutboxMessage)
            }
            due = sa.select(sa.func.count()).select_from(Job)
            due = due.where(Job.status == JobStatus.PENDING, Job.trigger_at <= NOW)
            pending = int((await s.execute(due)).scalar_one())
        return n, pending
    finally:
        await store.dispose()


def run(url: str, workers: int) -> dict[str, Any]:
    asyncio.run(_reset(url))
    start_at = time.time() + 3.0
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_worker_process, url, f"w{i}", start_at) for i in range(workers)]
        parts = [f.result() for f in futures]
    elapsed = max(p["ended"] for p in parts) - min(p["started"] for p in parts)
    runs = [x for p in parts for x in p["runs"]]
    scans = [x for p in parts for x in p["scans"]]
    n, pending = asyncio.run(_counts(url))
    total = len(runs)
    assert n == {"triggers": total, "previews": total, "outbox": total}, n
    assert pending == 0, pending
    return {
        "workers": workers,
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "triggers": total,
        "elapsed_s": round(elapsed, 2),
        "triggers_per_s": round(total / elapsed, 1),
        "run_ms_p50": round(_pct(runs, 0.5), 1),
        "run_ms_p99": round(_pct(runs, 0.99), 1),
        "run_ms_mean": round(statistics.fmean(runs) * 1000, 1),
        "scan_batch_ms_p50": round(_pct(scans, 0.5), 1),
        "per_worker": [len(p["runs"]) for p in parts],
    }


async def _reset(url: str) -> None:
    store = Store(url)
    try:
        await reset(store)
    finally:
        await store.dispose()


def fresh_mysql(url: str) -> None:
    sync = sa.create_engine(make_url(url).set(drivername="mysql+pymysql"))
    with sync.begin() as conn:
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
        for table in sa.inspect(conn).get_table_names():
            conn.execute(sa.text(f"DROP TABLE `{table}`"))
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
    sync.dispose()
    migrate.upgrade(url)


async def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    store = Store(url)
    try:
        loaded = await load(store, args.users, args.tasks, args.due)
    finally:
        await store.dispose()
    return {"backend": make_url(url).get_backend_name(), "load": loaded}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=50, help="tasks (and jobs) per user")
    parser.add_argument("--due", type=int, default=2000, help="due jobs processed per run")
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4])
    parser.add_argument(
        "--mysql-url", help="also run on this MariaDB/MySQL database (its tables are DROPPED)"
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            migrate.upgrade(url)
            result = asyncio.run(bench(url, args))
            result["runs"] = [run(url, w) for w in args.workers]
            results.append(result)
    if args.mysql_url:
        fresh_mysql(args.mysql_url)
        result = asyncio.run(bench(args.mysql_url, args))
        result["runs"] = [run(args.mysql_url, w) for w in args.workers]
        results.append(result)
    print(
        json.dumps(
            {"machine": platform.platform(), "python": platform.python_version(), "results": results},
            indent=2,
        )
    )
    for r in results:
        load_ = r["load"]
        print(
            f"\n{r['backend']}: loaded {int(load_['rows'])} rows in {load_['insert_s']:.1f} s "
            f"(generated in {load_['generate_s']:.1f} s)"
        )
        print(
            "| workers | triggers | elapsed s | triggers/s | run p50 ms | run p99 ms | scan batch p50 ms "
            "| load 1m |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for x in r["runs"]:
            print(
                f"| {x['workers']} | {x['triggers']} | {x['elapsed_s']} | {x['triggers_per_s']} | "
                f"{x['run_ms_p50']} | {x['run_ms_p99']} | {x['scan_batch_ms_p50']} | "
                f"{x['load_avg_1m_after']} |"
            )


if __name__ == "__main__":
    main()
