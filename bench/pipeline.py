"""Pipeline throughput: triggers/s end to end (due job -> trigger -> preview + outbox row), beside a floor.

    python bench/pipeline.py                                  # SQLite only
    python bench/pipeline.py --mysql-url mysql+aiomysql://root@127.0.0.1:3306/sf_services
        # both backends (DROPS every table of that database)
    python bench/pipeline.py --users 200 --tasks 10 --due 400 --repeat 1   # small, while developing

Data: 1,000 users x 50 tasks (every task with an urgency threshold and a pending job), 2 weekly classes and
3 blocks per user, bulk-inserted through the store. `--due` of the jobs (default 2,000, two per user for the
first users) have a passed threshold; the other 48,000 fire days later and must not be touched. Every due task
is quadrant 2 with no block in the next 24 hours, so each due job yields one trigger, one preview and one
outbox row.

A run ("ours"): W worker processes (like `smartflow serve --mode worker` x W) run the worker's due-scan tick
(`Worker.scan_due`) until no due job is left: `process_due_jobs(limit=50)` (one transaction per batch of 50
jobs) then `Pipeline.run_batch` on the triggers it created (a claim + context transaction, planning, the
deterministic chooser, a write transaction), the next claim overlapping the previous batch's pipeline.
The floor ("raw"): the same writes with the fewest statements, in one process on the store's engine: per
batch of 50, one transaction of six statements (lock the due jobs, promote their tasks, insert the triggers,
the previews and the outbox rows, settle the jobs), the preview rows copied from one the real pipeline made.
No planning, no context reads, no ORM. The state is reset between runs. Timings are wall clock on this
machine; the LLM is not involved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sqlite3
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from llm.api import FallbackChooser
from scheduler.services.jobs import BATCH
from scheduler.services.pipeline import READY_TOPIC, Pipeline
from scheduler.services.triggers import dedupe_key
from scheduler.worker.config import WorkerConfig
from scheduler.worker.worker import Worker
from store import Store, migrate, new_id
from store.engine import sqlite_path
from store.enums import JobStatus, OutboxStatus, TriggerStatus, TriggerType
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
                begins = NOW + timedelta(hours=2 * (t - per_user_due) + 4)
                out[Block].append(
                    {"id": new_id(), "user_id": uid, "task_id": tid, "start": begins}
                    | {
                        "end": begins + timedelta(minutes=60),
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
            .values(status="pending", trigger_id=None, claimed_by=None, claimed_until=None, reason=None)
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


class _NoSender:
    """The due scan sends nothing (delivery is another loop); a Worker needs a Sender all the same."""

    async def send_preview(self, *, notification_id: str, open_id: str, view: Any) -> str:
        raise RuntimeError("the pipeline bench sends nothing")

    async def update_preview(self, *, message_id: str, view: Any) -> None:
        raise RuntimeError("the pipeline bench sends nothing")

    async def send_answer(self, *, notification_id: str, answer: Any) -> str:
        raise RuntimeError("the pipeline bench sends nothing")


async def one_worker(url: str, name: str) -> dict[str, Any]:
    """What one worker process's due-scan ticks do (Worker.scan_due), until no due job is left."""
    store = Store(url)
    config = WorkerConfig(
        due_scan_seconds=5,
        outbox_relay_seconds=2,
        delivery_seconds=2,
        expiry_scan_seconds=30,
        promotion_seconds=60,
        lease_recovery_seconds=15,
        lease_seconds=300,
        feishu_timeout_seconds=10,
        delivery_timeout_seconds=20,
        daily_card_cap=8,
        conflict_scan_seconds=60,
        due_batch=BATCH,
    )
    worker = Worker(config, store, Pipeline(store, FallbackChooser()), _NoSender(), worker_id=name)
    started, cpu = time.time(), time.process_time()
    try:
        while await worker.scan_due(lambda: NOW):
            pass
    finally:
        await store.dispose()
    return {"started": started, "ended": time.time(), "cpu_s": time.process_time() - cpu, "mode": "ours"}


async def _template(store: Store) -> dict[str, Any]:
    """The columns of one preview the real pipeline made: what the floor writes for every trigger."""
    async with store.uow(readonly=True) as uow:
        row = (await uow.session.execute(sa.select(Preview.__table__).limit(1))).mappings().first()
    if row is None:
        raise RuntimeError("run the pipeline before the floor: it copies a real preview")
    return dict(row)


async def raw_floor(url: str, template: dict[str, Any]) -> dict[str, Any]:
    """The same writes as a run, with the fewest statements: one transaction of six per batch."""
    store = Store(url)
    jobs_t: Any = Job.__table__
    tasks_t: Any = Task.__table__
    triggers_t: Any = Trigger.__table__
    previews_t: Any = Preview.__table__
    outbox_t: Any = OutboxMessage.__table__
    started, cpu = time.time(), time.process_time()
    try:
        while True:
            async with store.engine.begin() as conn:
                claim = (
                    sa.select(jobs_t.c.id, jobs_t.c.task_id, jobs_t.c.user_id)
                    .where(
                        jobs_t.c.status == JobStatus.PENDING,
                        jobs_t.c.trigger_at <= NOW,
                        sa.or_(jobs_t.c.claimed_until.is_(None), jobs_t.c.claimed_until <= NOW),
                    )
                    .order_by(jobs_t.c.trigger_at, jobs_t.c.id)
                    .limit(BATCH)
                )
                if store.backend == "mysql":
                    claim = claim.with_for_update(skip_locked=True)
                due = (await conn.execute(claim)).all()
                if not due:
                    break
                trigger_ids = {j.id: new_id() for j in due}
                await conn.execute(
                    sa.update(tasks_t)
                    .where(tasks_t.c.id.in_([j.task_id for j in due]))
                    .values(quadrant=1, version=tasks_t.c.version + 1, updated_at=NOW)
                )
                await conn.execute(
                    sa.insert(triggers_t).values(
                        [
                            {
                                "id": trigger_ids[j.id],
                                "user_id": j.user_id,
                                "type": TriggerType.WORKER_DUE_JOB,
                            }
                            | {"task_id": j.task_id, "status": TriggerStatus.PREVIEW_GENERATED}
                            | {
                                "dedupe_key": dedupe_key(
                                    j.user_id, TriggerType.WORKER_DUE_JOB, j.task_id, NOW
                                )
                            }
                            | {"effective_now": NOW, "trace_id": new_id()[:16]}
                            | {"created_at": NOW, "updated_at": NOW}
                            for j in due
                        ]
                    )
                )
                preview_ids = {j.id: new_id() for j in due}
                await conn.execute(
                    sa.insert(previews_t).values(
                        [
                            template
                            | {"id": preview_ids[j.id], "trigger_id": trigger_ids[j.id]}
                            | {"user_id": j.user_id, "task_id": j.task_id}
                            for j in due
                        ]
                    )
                )
                await conn.execute(
                    sa.insert(outbox_t).values(
                        [
                            {
                                "id": new_id(),
                                "topic": READY_TOPIC,
                                "payload": {"preview_id": preview_ids[j.id]},
                            }
                            | {"status": OutboxStatus.PENDING, "attempts": 0, "available_at": NOW}
                            | {"created_at": NOW, "updated_at": NOW}
                            for j in due
                        ]
                    )
                )
                await conn.execute(
                    sa.update(jobs_t)
                    .where(jobs_t.c.id.in_(list(trigger_ids)))
                    .values(
                        status=JobStatus.TRIGGERED,
                        trigger_id=sa.case(
                            *((jobs_t.c.id == j, sa.literal(t)) for j, t in trigger_ids.items())
                        ),
                        claimed_until=None,
                        updated_at=NOW,
                    )
                )
    finally:
        await store.dispose()
    return {"started": started, "ended": time.time(), "cpu_s": time.process_time() - cpu, "mode": "raw"}


def _worker_process(url: str, name: str, start_at: float) -> dict[str, Any]:
    # Separate processes, like `smartflow serve --mode worker` x N; all start together once imported.
    time.sleep(max(0.0, start_at - time.time()))
    return asyncio.run(one_worker(url, name))


def _floor_process(url: str, template: dict[str, Any], start_at: float) -> dict[str, Any]:
    time.sleep(max(0.0, start_at - time.time()))
    return asyncio.run(raw_floor(url, template))


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


def run(url: str, workers: int, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run of ours (W worker processes) or, given a template preview, of the raw floor (one process)."""
    asyncio.run(_reset(url))
    start_at = time.time() + 3.0
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        if template is None:
            futures = [pool.submit(_worker_process, url, f"w{i}", start_at) for i in range(workers)]
        else:
            futures = [pool.submit(_floor_process, url, template, start_at)]
        parts = [f.result() for f in futures]
    elapsed = max(p["ended"] for p in parts) - min(p["started"] for p in parts)
    n, pending = asyncio.run(_counts(url))
    total = n["triggers"]
    assert n == {"triggers": total, "previews": total, "outbox": total}, n
    assert pending == 0, pending
    return {
        "mode": parts[0]["mode"],
        "workers": workers if template is None else 1,
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "triggers": total,
        "elapsed_s": round(elapsed, 2),
        "triggers_per_s": round(total / elapsed, 1),
        # this process's CPU (not the database server's): steadier than wall time on a shared machine
        "cpu_ms_per_trigger": round(sum(p["cpu_s"] for p in parts) / total * 1000, 2),
    }


def runs(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Ours then the floor, `--repeat` times, each pair back to back so both see the same machine."""
    out = []
    for _ in range(args.repeat):
        for w in args.workers:
            ours = run(url, w)
            floor = run(url, 1, asyncio.run(_template_of(url)))
            ours["floor_triggers_per_s"] = floor["triggers_per_s"]
            ours["floor_over_ours"] = round(floor["triggers_per_s"] / ours["triggers_per_s"], 2)
            ours["cpu_over_floor"] = round(ours["cpu_ms_per_trigger"] / floor["cpu_ms_per_trigger"], 2)
            out += [ours, floor]
    return out


async def _template_of(url: str) -> dict[str, Any]:
    store = Store(url)
    try:
        return await _template(store)
    finally:
        await store.dispose()


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
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1])
    parser.add_argument("--repeat", type=int, default=2, help="pairs of (ours, floor) runs")
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
            result["runs"] = runs(url, args)
            results.append(result)
    if args.mysql_url:
        fresh_mysql(args.mysql_url)
        result = asyncio.run(bench(args.mysql_url, args))
        result["runs"] = runs(args.mysql_url, args)
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
            "| run | workers | triggers | elapsed s | **triggers/s** | floor triggers/s | floor / ours "
            "| CPU ms/trigger | CPU / floor's | load 1m |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for x in r["runs"]:
            print(
                f"| {x['mode']} | {x['workers']} | {x['triggers']} | {x['elapsed_s']} | "
                f"**{x['triggers_per_s']}** | {x.get('floor_triggers_per_s', '')} | "
                f"{x.get('floor_over_ours', '')} | {x['cpu_ms_per_trigger']} | "
                f"{x.get('cpu_over_floor', '')} | {x['load_avg_1m_after']} |"
            )


if __name__ == "__main__":
    main()
