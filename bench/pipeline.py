"""Pipeline throughput: triggers per second end to end (due job -> trigger -> preview + outbox row).

    python bench/pipeline.py                                  # SQLite only
    python bench/pipeline.py --mysql-url mysql+aiomysql://root@127.0.0.1:3306/sf_services   # both (DROPS its tables)

Data: 1,000 users x 50 tasks (every task with an urgency threshold and a pending job), 2 weekly classes and
3 blocks per user, bulk-inserted through the store. `--due` of the jobs (default 2,000, two per user for the
first users) have a passed threshold; the other 48,000 fire days later and must not be touched. Every due task
is quadrant 2 with no block in the next 24 hours, so each due job yields one trigger, one preview and one
outbox row. A run: W workers (each with its own engine, like separate processes) loop `process_due_jobs`
(lease claim, SPEC 3.1 rules, one transaction per job) and `Pipeline.run` on each created trigger (context,
planning, the deterministic chooser, one transaction for preview + outbox), until no due job is left. The
state is reset between runs. Timings are wall clock on this machine; the LLM is not involved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from llm.api import FallbackChooser
from scheduler.services.jobs import process_due_jobs
from scheduler.services.pipeline import Pipeline
from store import Store, migrate, new_id
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
            sa.update(Job).values(status="pending", trigger_id=None, claimed_by=None, claimed_until=None)
        )
        await s.execute(sa.delete(Trigger))
        await s.execute(
            sa.update(Task)
            .where(Task.urgency_threshold_at <= NOW)
            .values(quadrant=2, version=1, updated_at=NOW)
        )
        await uow.commit()


async def one_worker(store: Store, name: str, latencies: list[float], scans: list[float]) -> int:
    pipeline = Pipeline(store, FallbackChooser())
    done = 0
    while True:
        t0 = time.perf_counter()
        created = await process_due_jobs(store, now=NOW, worker_id=name, lease_seconds=300, limit=50)
        scans.append(time.perf_counter() - t0)
        if not created:
            return done
        for trigger_id in created:
            t1 = time.perf_counter()
            outcome = await pipeline.run(trigger_id, NOW)
            latencies.append(time.perf_counter() - t1)
            if outcome.preview_id is None:
                raise RuntimeError(f"trigger {trigger_id} produced no preview: {outcome}")
            done += 1


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


async def run(url: str, workers: int) -> dict[str, Any]:
    stores = [
        Store(url, pool_size=4, max_overflow=0) if "mysql" in url else Store(url) for _ in range(workers)
    ]
    try:
        await reset(stores[0])
        latencies: list[float] = []
        scans: list[float] = []
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(one_worker(s, f"w{i}", latencies, scans) for i, s in enumerate(stores))
        )
        elapsed = time.perf_counter() - started
        async with stores[0].uow(readonly=True) as uow:
            n = {
                m.__tablename__: int(
                    (await uow.session.execute(sa.select(sa.func.count()).select_from(m))).scalar_one()
                )
                for m in (Trigger, Preview, OutboxMessage)
            }
            pending = int(
                (
                    await uow.session.execute(
                        sa.select(sa.func.count())
                        .select_from(Job)
                        .where(Job.status == JobStatus.PENDING, Job.trigger_at <= NOW)
                    )
                ).scalar_one()
            )
        total = sum(counts)
        assert n == {"triggers": total, "previews": total, "outbox": total}, n
        assert pending == 0, pending
        return {
            "workers": workers,
            "triggers": total,
            "elapsed_s": round(elapsed, 2),
            "triggers_per_s": round(total / elapsed, 1),
            "run_ms_p50": round(_pct(latencies, 0.5), 1),
            "run_ms_p99": round(_pct(latencies, 0.99), 1),
            "run_ms_mean": round(statistics.fmean(latencies) * 1000, 1),
            "scan_batch_ms_p50": round(_pct(scans, 0.5), 1),
            "per_worker": counts,
        }
    finally:
        for s in stores:
            await s.dispose()


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
    runs = [await run(url, w) for w in args.workers]
    return {"backend": make_url(url).get_backend_name(), "load": loaded, "runs": runs}


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
            results.append(asyncio.run(bench(url, args)))
    if args.mysql_url:
        fresh_mysql(args.mysql_url)
        results.append(asyncio.run(bench(args.mysql_url, args)))
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
        print("| workers | triggers | elapsed s | triggers/s | run p50 ms | run p99 ms | scan batch p50 ms |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for x in r["runs"]:
            print(
                f"| {x['workers']} | {x['triggers']} | {x['elapsed_s']} | {x['triggers_per_s']} | "
                f"{x['run_ms_p50']} | {x['run_ms_p99']} | {x['scan_batch_ms_p50']} |"
            )


if __name__ == "__main__":
    main()
