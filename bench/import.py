"""Import throughput: rows per second for a generated file of 10,000 tasks, on SQLite and on MariaDB.

    python bench/import.py                                   # SQLite only
    python bench/import.py --mysql-url mysql+aiomysql://root@127.0.0.1:3306/sf_me   # both (DROPS its tables)

Each backend: a fresh schema, then three imports of the same users/tasks: `create` (empty database),
`unchanged` (same file again: nothing written) and `update` (every task title edited). Stages: parse (YAML
load + schema), check (load stored rows + cross-record checks), write (upsert + commit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from app.importer import Defaults, read_file
from app.importer.checks import build_plan
from app.importer.persist import load_snapshot, write_plan
from store import Store, migrate

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def generate(tasks: int, users: int, title_suffix: str = "") -> dict[str, Any]:
    base = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    return {
        "users": [{"open_id": f"ou_bench{u}", "name": f"Bench {u}"} for u in range(users)],
        "tasks": [
            {
                "user": f"ou_bench{i % users}",
                "key": f"task-{i}",
                "title": f"任务 {i}{title_suffix}",
                "quadrant": 1 + i % 4,
                "estimate_minutes": 15 + i % 120,
                "deadline": (base + timedelta(hours=i % 500)).isoformat(),
                "urgency_threshold_at": (base + timedelta(hours=i % 500 - 24)).isoformat(),
            }
            for i in range(tasks)
        ],
    }


def write_file(path: Path, doc: dict[str, Any]) -> None:
    if path.suffix == ".json":
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


async def import_once(store: Store, path: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    doc, lines = read_file(path)
    t1 = time.perf_counter()
    async with store.uow() as uow:
        snap = await load_snapshot(uow, doc)
        plan = build_plan(doc, lines, snap.existing, Defaults(), NOW)
        t2 = time.perf_counter()
        await write_plan(uow, plan, snap, NOW)
        await uow.commit()
    t3 = time.perf_counter()
    return {"parse": t1 - t0, "check": t2 - t1, "write": t3 - t2, "total": t3 - t0}


def reset_mysql(url: str) -> None:
    engine = sa.create_engine(make_url(url).set(drivername="mysql+pymysql"))
    with engine.begin() as conn:
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
        for table in sa.inspect(conn).get_table_names():
            conn.execute(sa.text(f"DROP TABLE `{table}`"))
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
    engine.dispose()
    migrate.upgrade(url)


async def bench(url: str, files: dict[str, Path]) -> list[tuple[str, dict[str, float]]]:
    store = Store(url)
    try:
        await store.ensure_schema()
        return [(name, await import_once(store, path)) for name, path in files.items()]
    finally:
        await store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml")
    parser.add_argument("--mysql-url", default="", help="MariaDB/MySQL URL; its tables are dropped first")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = {}
        for name, suffix in (("create", ""), ("unchanged", ""), ("update", " v2")):
            path = work / f"{name}.{args.format}"
            write_file(path, generate(args.tasks, args.users, suffix))
            files[name] = path
        rows = args.tasks + args.users
        backends = [("sqlite", f"sqlite+aiosqlite:///{work / 'bench.db'}")]
        if args.mysql_url:
            reset_mysql(args.mysql_url)
            backends.append(("mariadb", args.mysql_url))
        py = platform.python_version()
        print(f"# {rows} rows ({args.tasks} tasks, {args.users} users), {args.format}, Python {py}")
        head = ("parse s", "check s", "write s", "total s", "rows/s")
        print(f"{'backend':<8} {'run':<10} " + " ".join(f"{h:>8}" for h in head))
        for backend, url in backends:
            for run, t in asyncio.run(bench(url, files)):
                print(
                    f"{backend:<8} {run:<10} {t['parse']:8.2f} {t['check']:8.2f} {t['write']:8.2f} "
                    f"{t['total']:8.2f} {rows / t['total']:8.0f}"
                )


if __name__ == "__main__":
    main()
