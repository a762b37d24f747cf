"""Worker processes on one MariaDB database: 1,000 due jobs become exactly 1,000 cards at the fake Feishu
with two workers; a worker killed mid-send is recovered after its lease without a duplicate message."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from store import Store
from store.models import Job, Notification, Preview, Task, Trigger, User
from store.types import new_id
from tests.fakes.fake_feishu import FakeFeishu, Fault, busiest_window, serve_fake_feishu

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
USERS = 200
TASKS_PER_USER = 5
LEASE_SECONDS = 5


@pytest.fixture
def mysql_url(_mysql_session: tuple[str, Callable[[], None]]) -> str:
    url, wipe = _mysql_session
    wipe()
    return url


@pytest.fixture
def fake_feishu() -> Iterator[tuple[FakeFeishu, str]]:
    with serve_fake_feishu() as served:
        yield served


def worker_env(db_url: str, feishu_url: str, fake: FakeFeishu) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTFLOW_")}
    env.update(
        SMARTFLOW_DATABASE_URL=db_url,
        SMARTFLOW_FEISHU_APP_ID=fake.app_id,
        SMARTFLOW_FEISHU_APP_SECRET=fake.app_secret,
        SMARTFLOW_FEISHU_DOMAIN=feishu_url,
        SMARTFLOW_DUE_SCAN_SECONDS="0.5",
        SMARTFLOW_OUTBOX_RELAY_SECONDS="0.3",
        SMARTFLOW_DELIVERY_SECONDS="0.3",
        SMARTFLOW_EXPIRY_SCAN_SECONDS="5",
        SMARTFLOW_LEASE_RECOVERY_SECONDS="0.5",
        SMARTFLOW_LEASE_SECONDS=str(LEASE_SECONDS),
        SMARTFLOW_FEISHU_TIMEOUT_SECONDS="2",
        SMARTFLOW_DELIVERY_TIMEOUT_SECONDS="3",
        SMARTFLOW_LOG_LEVEL="WARNING",
    )
    return env


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    # The installed console script, exactly as an operator runs it.
    smartflow = Path(sys.executable).with_name("smartflow")
    command = [str(smartflow)] if smartflow.exists() else [sys.executable, "-m", "app.cli"]
    return subprocess.Popen(
        [*command, "serve", "--mode", "worker"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


async def seed_due_jobs(url: str, now: datetime) -> None:
    """USERS x TASKS_PER_USER important tasks whose urgency threshold has just passed, each with its job."""
    users: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    for u in range(USERS):
        uid = new_id()
        users.append(
            {
                "id": uid,
                "open_id": f"ou_load{u:05d}",
                "name": f"user {u}",
                "timezone": "Asia/Shanghai",
                "locale": "zh",
                "day_start": "00:00",
                "day_end": "24:00",
                "daily_card_cap": 100,
                "role": "user",
                "created_at": now,
                "updated_at": now,
            }
        )
        for t in range(TASKS_PER_USER):
            tid = new_id()
            tasks.append(
                {
                    "id": tid,
                    "user_id": uid,
                    "key": f"t{t}",
                    "title": f"任务 {t}",
                    "quadrant": 2,
                    "estimate_minutes": 30,
                    "deadline": now + timedelta(hours=20),
                    "urgency_threshold_at": now - timedelta(minutes=1),
                    "status": "open",
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            jobs.append(
                {
                    "id": new_id(),
                    "task_id": tid,
                    "user_id": uid,
                    "trigger_at": now - timedelta(minutes=1),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    store = Store(url)
    try:
        async with store.engine.begin() as conn:
            await conn.execute(sa.insert(User.__table__), users)
            await conn.execute(sa.insert(Task.__table__), tasks)
            await conn.execute(sa.insert(Job.__table__), jobs)
    finally:
        await store.dispose()


async def counts(url: str) -> dict[str, Any]:
    store = Store(url)
    try:
        async with store.engine.connect() as conn:

            async def grouped(model: Any) -> dict[str, int]:
                rows = await conn.execute(sa.select(model.status, sa.func.count()).group_by(model.status))
                return {str(s): int(n) for s, n in rows.all()}

            per_task = await conn.execute(
                sa.select(sa.func.count(), sa.func.count(sa.distinct(Trigger.task_id)))
            )
            triggers, distinct_tasks = per_task.one()
            return {
                "jobs": await grouped(Job),
                "triggers": await grouped(Trigger),
                "previews": await grouped(Preview),
                "notifications": await grouped(Notification),
                "trigger_rows": int(triggers),
                "triggered_tasks": int(distinct_tasks),
            }
    finally:
        await store.dispose()


def wait_until(predicate: Callable[[], bool], timeout: float, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for proc in procs:
            assert proc.poll() is None, f"worker exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.2)


def diagnosis(url: str, fake: FakeFeishu, logs: Path, total: int) -> str:
    """What a timed-out run reached: the rows by status and the errors the workers logged."""
    errors = [
        line
        for log in sorted(logs.glob("worker*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if " ERROR " in line or " WARNING " in line or "Error:" in line
    ]
    return f"{len(fake.messages)} of {total} cards sent; rows: {asyncio.run(counts(url))}\n" + "\n".join(
        errors[-40:]
    )


def test_two_workers_trigger_every_job_once_and_send_every_card_once(
    mysql_url: str, fake_feishu: tuple[FakeFeishu, str], tmp_path: Path
) -> None:
    fake, feishu_url = fake_feishu
    now = datetime.now(UTC)
    asyncio.run(seed_due_jobs(mysql_url, now))
    total = USERS * TASKS_PER_USER
    env = worker_env(mysql_url, feishu_url, fake)
    procs = [start_worker(env, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        # ~40 s on two idle cores; the generous limit absorbs a loaded shared machine.
        try:
            wait_until(lambda: len(fake.messages) >= total, timeout=180, procs=procs)
        except AssertionError as exc:
            raise AssertionError(diagnosis(mysql_url, fake, tmp_path, total)) from exc
        # Let any straggler (a duplicate, if there were one) arrive before counting.
        time.sleep(1.0)
    finally:
        codes = [stop_worker(p) for p in procs]
    logs = "\n".join((tmp_path / f"worker{i}.log").read_text(errors="replace") for i in range(2))
    assert codes == [0, 0], logs[-3000:]
    state = asyncio.run(counts(mysql_url))
    assert state["jobs"] == {"triggered": total}
    assert (state["trigger_rows"], state["triggered_tasks"]) == (total, total)
    assert state["previews"] == {"ready": total}
    assert state["notifications"] == {"sent": total}
    messages = fake.messages
    assert len(messages) == total
    assert len({m.uuid for m in messages}) == total
    assert fake.requests("create") == total  # not even a duplicate request was made
    assert len({m.receive_id for m in messages}) == USERS


def test_a_worker_killed_mid_send_is_recovered_after_its_lease_without_a_duplicate(
    mysql_url: str, fake_feishu: tuple[FakeFeishu, str], tmp_path: Path
) -> None:
    fake, feishu_url = fake_feishu
    now = datetime.now(UTC)
    asyncio.run(_seed_one_card(mysql_url, now))
    hang = 9.0
    fake.inject("create", Fault.slow(hang))  # the first send hangs at the platform
    env = worker_env(mysql_url, feishu_url, fake)
    first = start_worker(env, tmp_path / "first.log")
    try:
        wait_until(lambda: fake.requests("create") >= 1, timeout=30, procs=[first])
        hung_at = time.monotonic()
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    state = asyncio.run(counts(mysql_url))
    assert state["notifications"] == {"sending": 1}
    second = start_worker(env, tmp_path / "second.log")
    try:
        wait_until(lambda: len(fake.messages) >= 1, timeout=30, procs=[second])
        # Wait until the hung first request has completed at the fake as well.
        time.sleep(max(0.0, hang + 0.5 - (time.monotonic() - hung_at)))
        wait_until(lambda: asyncio.run(counts(mysql_url))["notifications"] == {"sent": 1}, 10, [second])
    finally:
        code = stop_worker(second)
    assert code == 0
    assert fake.requests("create") == 2
    [message] = fake.messages
    assert message.receive_id == "ou_killed"


async def _seed_one_card(url: str, now: datetime) -> None:
    from tests.contract import factories as f
    from tests.contract.worker.conftest import candidate

    store = Store(url)
    try:
        async with store.uow() as uow:
            user = uow.users.add(f.user(now, "ou_killed"))
            task = uow.tasks.add(f.task(now, user.id))
            trigger = uow.triggers.add(f.trigger(now, user.id, task_id=task.id, status="preview_generated"))
            preview = uow.previews.add(
                f.preview(
                    now,
                    user.id,
                    trigger.id,
                    task_id=task.id,
                    decision="propose",
                    candidates=[candidate()],
                    chosen_candidate_id="c1",
                    expires_at=now + timedelta(hours=1),
                )
            )
            uow.outbox.put("preview.ready", {"preview_id": preview.id}, now)
            await uow.commit()
    finally:
        await store.dispose()


def test_sigterm_lets_the_send_in_flight_finish_and_exits_cleanly(
    mysql_url: str, fake_feishu: tuple[FakeFeishu, str], tmp_path: Path
) -> None:
    fake, feishu_url = fake_feishu
    asyncio.run(_seed_one_card(mysql_url, datetime.now(UTC)))
    fake.inject("create", Fault.slow(1.5))  # within the 2 s call timeout
    worker = start_worker(worker_env(mysql_url, feishu_url, fake), tmp_path / "worker.log")
    try:
        wait_until(lambda: fake.requests("create") >= 1, timeout=30, procs=[worker])
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code == 0, (tmp_path / "worker.log").read_text(errors="replace")[-2000:]
    state = asyncio.run(counts(mysql_url))
    assert state["notifications"] == {"sent": 1}
    assert len(fake.messages) == 1


CARD_USERS = 200
CARDS_PER_USER = 3


async def _seed_ready_cards(url: str, now: datetime) -> None:
    """CARD_USERS x CARDS_PER_USER ready previews, each announced on the outbox like the pipeline does."""
    from tests.contract import factories as f
    from tests.contract.worker.conftest import candidate

    store = Store(url)
    try:
        async with store.uow() as uow:
            for u in range(CARD_USERS):
                user = uow.users.add(
                    f.user(now, f"ou_rate{u:05d}", day_start="00:00", day_end="24:00", daily_card_cap=100)
                )
                for k in range(CARDS_PER_USER):
                    task = uow.tasks.add(f.task(now, user.id, key=f"t{k}"))
                    trigger = uow.triggers.add(
                        f.trigger(now, user.id, task_id=task.id, status="preview_generated")
                    )
                    preview = uow.previews.add(
                        f.preview(
                            now,
                            user.id,
                            trigger.id,
                            task_id=task.id,
                            decision="propose",
                            candidates=[candidate()],
                            chosen_candidate_id="c1",
                            expires_at=now + timedelta(hours=1),
                        )
                    )
                    uow.outbox.put("preview.ready", {"preview_id": preview.id}, now)
            await uow.commit()
    finally:
        await store.dispose()


def test_three_workers_together_stay_within_feishus_send_limits(
    mysql_url: str, fake_feishu: tuple[FakeFeishu, str], tmp_path: Path
) -> None:
    fake, feishu_url = fake_feishu
    asyncio.run(_seed_ready_cards(mysql_url, datetime.now(UTC)))
    total = CARD_USERS * CARDS_PER_USER
    fake.enforce_limits = True  # the fake answers 99991400 / 230020 to a send over Feishu's limits
    env = worker_env(mysql_url, feishu_url, fake)
    procs = [start_worker(env, tmp_path / f"worker{i}.log") for i in range(3)]
    try:
        try:
            wait_until(lambda: len(fake.messages) >= total, timeout=180, procs=procs)
        except AssertionError as exc:
            raise AssertionError(diagnosis(mysql_url, fake, tmp_path, total)) from exc
        time.sleep(1.0)
    finally:
        codes = [stop_worker(p) for p in procs]
    assert codes == [0, 0, 0]
    messages = fake.messages
    assert len(messages) == total
    assert len({m.uuid for m in messages}) == total
    # Each worker alone would stay inside the limits; together they did too, so Feishu refused nothing.
    assert fake.throttled == 0
    assert busiest_window([m.created_at for m in messages]) <= 50
    by_user: dict[str, list[float]] = {}
    for m in messages:
        by_user.setdefault(m.receive_id, []).append(m.created_at)
    assert len(by_user) == CARD_USERS
    assert max(busiest_window(times) for times in by_user.values()) <= 5
    assert asyncio.run(counts(mysql_url))["notifications"] == {"sent": total}
