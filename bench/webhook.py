"""Webhook answer latency: card clicks and message events through the real app, against the bare SDK floor.

Run: python bench/webhook.py [--db URL] [--users 100] [--message-rounds 3]

Both servers are uvicorn on loopback in this process; the load comes from a second process (a bare
HTTP/1.1 client, one connection per request, every request of a batch in flight at once):
- ours: bot.app.create_app wired from real settings (SQLite file by default; --db mysql+aiomysql://...),
  with previews made by the real pipeline and worker (cards delivered to the fake Feishu on loopback, run
  in a process of its own);
- floor: a Starlette app whose handler is the bare lark-oapi EventDispatcherHandler (decrypt, verify,
  unmarshal, a no-op handler) run in a thread, the least any lark-oapi webhook must do.
Each request is signed and encrypted as Feishu does (tests/fakes/feishu_callbacks.py). Latency is the time
from sending the request to reading the answer, per request, with all of a batch in flight at once; the rows
"one at a time" send 30 presses one after another, as Feishu redelivers a press (each on its own, 15 s and
more after the first).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import lark_oapi as lark
import uvicorn
from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.settings import load_settings
from app.wiring import build_components, make_worker, serving_loop, settle_heap
from bot.app import create_app
from bot.feishu.gateway import CANONICAL_HEADERS
from bot.texts import t
from scheduler.services.jobs import sync_job
from store import Store
from store.models import Task, User
from tests.fakes.fake_feishu import FakeCardUpdate, FakeMessage, FakePatch
from tests.fakes.feishu_callbacks import CallbackBuilder, SignedRequest

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=TZ)
KEY, TOKEN = "bench-encrypt-key", "bench-verification-token"
ALONE = 30  # presses sent one at a time
WORKING_TITLES = {t("working.title", "zh"), t("working.title", "en")}


class RemoteFake:
    """The fake Feishu in a process of its own (as Feishu is not in ours: its work must not land on the
    app's event loop or hold the GIL), read back through its admin endpoint."""

    app_id, app_secret = "cli_fake", "fake-secret"

    def __init__(self, url: str) -> None:
        self.url = url

    async def _state(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url) as client:
            state: dict[str, Any] = (await client.get("/_admin/state")).json()
            return state

    async def messages(self) -> list[FakeMessage]:
        return [FakeMessage(**m) for m in (await self._state())["messages"]]

    async def card_updates(self) -> list[FakeCardUpdate]:
        return [FakeCardUpdate(**u) for u in (await self._state())["card_updates"]]

    async def patches(self) -> list[FakePatch]:
        return [FakePatch(**p) for p in (await self._state())["patches"]]


@contextlib.contextmanager
def fake_feishu_process() -> Iterator[RemoteFake]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fake_feishu", "--port", "0"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "fake-feishu listening on http://127.0.0.1:PORT"
        if "listening on " not in line:
            raise RuntimeError(f"the fake Feishu did not start: {line!r}")
        url = line.rsplit(" ", 1)[1].strip()
        deadline = time.monotonic() + 10
        while True:  # listening already; wait until it answers
            try:
                httpx.get(url + "/_admin/state", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield RemoteFake(url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: Sequence[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50": statistics.median(ms), "p99": percentile(ms, 0.99), "max": max(ms)}


def floor_app() -> Starlette:
    dispatcher = (
        lark.EventDispatcherHandler.builder(KEY, TOKEN, lark.LogLevel.CRITICAL)
        .register_p2_im_message_receive_v1(lambda data: None)
        .register_p2_card_action_trigger(lambda data: P2CardActionTriggerResponse({}))
        .build()
    )

    async def handle(request: Request) -> Response:
        raw = lark.RawRequest()
        raw.uri, raw.body = request.url.path, await request.body()
        raw.headers = {k: request.headers.get(k, "") for k in CANONICAL_HEADERS}
        resp = await asyncio.to_thread(dispatcher.do, raw)
        return Response(resp.content, status_code=resp.status_code, media_type="application/json")

    return Starlette(routes=[Route("/feishu/events", handle, methods=["POST"]),
                             Route("/feishu/card", handle, methods=["POST"])])  # fmt: skip


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", backlog=2048)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for "started"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[float, int, float, bool]:
    """One request on its own connection, HTTP/1.1 by hand: the load generator's cost stays negligible.
    (latency, status, when it was sent (perf_counter: one clock for every process), whether the answer
    carried a card)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    answer = await reader.read()
    elapsed = time.perf_counter() - started
    writer.close()
    return elapsed, int(answer.split(b" ", 2)[1]), started, _final_card(answer)


def _final_card(answer: bytes) -> bool:
    """Whether the answer carried the press's final card (not the "working" card of a slow press)."""
    try:
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        title = body["card"]["data"]["header"]["title"]["content"]
    except (IndexError, KeyError, TypeError, ValueError):
        return False
    return not any(title.startswith(w) for w in WORKING_TITLES)


def _fire_batch(
    port: int, path: str, requests: list[tuple[bytes, dict[str, str]]]
) -> list[tuple[float, int, float, bool]]:
    async def all_at_once() -> list[tuple[float, int, float, bool]]:
        return list(await asyncio.gather(*(_post(port, path, b, h) for b, h in requests)))

    return asyncio.run(all_at_once())


async def fire_detailed(
    pool: ProcessPoolExecutor, base: str, path: str, requests: Sequence[SignedRequest]
) -> list[tuple[float, int, float, bool]]:
    """All requests at once from another process; (latency, status, sent at, answered with a card) each.
    A non-200 answer aborts the run."""
    port = int(base.rsplit(":", 1)[1])
    batch = [(r.body, r.headers) for r in requests]
    results = await asyncio.get_running_loop().run_in_executor(pool, _fire_batch, port, path, batch)
    bad = [status for _, status, _, _ in results if status != 200]
    if bad:
        raise RuntimeError(f"{path}: {len(bad)} answers were not 200: {sorted(set(bad))}")
    return results


async def fire(
    pool: ProcessPoolExecutor, base: str, path: str, requests: Sequence[SignedRequest]
) -> list[float]:
    """All requests at once from another process; each one's latency."""
    return [elapsed for elapsed, _, _, _ in await fire_detailed(pool, base, path, requests)]


async def seed(store: Store, users: int) -> list[str]:
    open_ids = [f"ou_bench{i:04d}" for i in range(users)]
    async with store.uow() as uow:
        for open_id in open_ids:
            user = User(
                open_id=open_id, name=open_id, timezone="Asia/Shanghai", created_at=NOW, updated_at=NOW
            )
            uow.users.add(user)
            task = Task(
                user_id=user.id, title="实验报告", quadrant=2, estimate_minutes=90,
                deadline=NOW.replace(hour=20), urgency_threshold_at=NOW - timedelta(minutes=30),
                created_at=NOW, updated_at=NOW,
            )  # fmt: skip
            uow.tasks.add(task)
            await sync_job(uow, task, NOW)
        await uow.commit()
    return open_ids


def first_apply(card: dict[str, Any]) -> dict[str, Any]:
    stack: list[Any] = [card]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            for behavior in node.get("behaviors") or []:
                value = behavior.get("value") if isinstance(behavior, dict) else None
                if isinstance(value, dict) and value.get("k") == "apply":
                    return value
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise LookupError("no Apply button on the card")


async def run(db_url: str, users: int, message_rounds: int, wipe: bool) -> dict[str, dict[str, float]]:
    cb = CallbackBuilder(encrypt_key=KEY, verification_token=TOKEN)
    results: dict[str, dict[str, float]] = {}
    with fake_feishu_process() as fake:
        feishu_url = fake.url
        settings = load_settings(
            database_url=db_url, feishu_app_id=fake.app_id, feishu_app_secret=fake.app_secret,
            feishu_verification_token=TOKEN, feishu_encrypt_key=KEY, feishu_domain=feishu_url,
        )  # fmt: skip
        components = build_components(settings)
        await components.store.ensure_schema()
        if wipe:
            await _wipe(components.store)
        worker = make_worker(components, lambda: NOW)
        open_ids = await seed(components.store, users)
        await worker.run_once(NOW)  # triggers -> previews -> cards at the fake
        cards = {m.receive_id: m for m in await fake.messages() if m.msg_type == "interactive"}
        if len(cards) != users:
            raise RuntimeError(f"expected {users} cards, the fake got {len(cards)}")
        clicks = [
            cb.card_action(o, first_apply(cards[o].card), open_message_id=cards[o].message_id)
            for o in open_ids
        ]
        messages = [[cb.message(o, "/tasks") for o in open_ids] for _ in range(message_rounds)]
        # a task in plain words: read by the parser, answered with the prefilled form (issue 12's capture)
        captures = [
            [cb.message(o, f"明天下午3点前交实验报告{n}，大概2小时") for o in open_ids]
            for n in range(message_rounds)
        ]
        app = create_app(components, clock=lambda: NOW)
        settle_heap()  # as `smartflow serve` does before it serves
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as client:
            async with serving(app) as base:
                await fire(client, base, "/feishu/events", [cb.message(open_ids[0], "/help")])  # warm-up
                clicked_at = time.perf_counter()
                detailed = await fire_detailed(client, base, "/feishu/card", clicks)
                results["ours: card click (apply, first press)"] = summary([d[0] for d in detailed])
                await app.state.deps.background.drain(60)  # clicks answered early finish, then update
                # a card answered with "working" is updated later by delayed update (token) or PATCH
                updated = {u.token: u.at for u in await fake.card_updates()}
                patched: dict[str, float] = {}
                for p in await fake.patches():
                    if p.at >= clicked_at:
                        patched.setdefault(p.message_id, p.at)
                final = []
                for request, (elapsed, _, sent, carded) in zip(clicks, detailed, strict=True):
                    if carded:
                        final.append(elapsed)
                    else:
                        event = request.payload["event"]
                        at = updated.get(event["token"]) or patched[event["context"]["open_message_id"]]
                        final.append(at - sent)
                results["ours: card final (answer's card, or the delayed update)"] = summary(final)
                again = await fire_detailed(client, base, "/feishu/card", clicks)
                results["ours: card click (same press again)"] = summary([d[0] for d in again])
                repeats_late = sum(1 for *_, carded in again if not carded)
                # Feishu redelivers a press on its own (15 s, 5 min, ... later): one at a time
                alone: list[float] = []
                # their background (repeats answered "working" beyond the budget are updated after) is long
                # done when Feishu redelivers: let it end first
                await app.state.deps.background.drain(60)
                for request in clicks[:ALONE]:
                    alone += await fire(client, base, "/feishu/card", [request])
                results["ours: card click (same press again, one at a time)"] = summary(alone)
                latencies: list[float] = []
                for batch in messages:
                    latencies += await fire(client, base, "/feishu/events", batch)
                    await app.state.deps.background.drain(60)  # the replies, sent after answering
                if latencies:  # none with --message-rounds 0
                    results["ours: message event (/tasks)"] = summary(latencies)
                latencies = []
                for batch in captures:
                    latencies += await fire(client, base, "/feishu/events", batch)
                    await app.state.deps.background.drain(60)  # the form cards, sent after answering
                if latencies:
                    results["ours: message event (capture in plain words)"] = summary(latencies)
                await app.state.deps.background.drain(60)
            async with serving(floor_app()) as base:
                await fire(client, base, "/feishu/events", [cb.message(open_ids[0], "/help")])
                results["floor: card click"] = summary(await fire(client, base, "/feishu/card", clicks))
                alone = []
                for request in clicks[:ALONE]:
                    alone += await fire(client, base, "/feishu/card", [request])
                results["floor: card click (one at a time)"] = summary(alone)
                latencies = []
                for batch in messages:
                    latencies += await fire(client, base, "/feishu/events", batch)
                if latencies:
                    results["floor: message event"] = summary(latencies)
        applied = await _count(components.store, "change_sets")
        late = sum(1 for *_, carded in detailed if not carded)  # first presses, not their repeats
        await components.aclose()
    if applied != users:
        raise RuntimeError(f"expected {users} applies, found {applied}")
    print(f"{late} of {users} clicks were answered with a toast first and their card updated later")
    print(f"{repeats_late} of {users} repeats (all at once) were answered with a toast, updated later")
    return results


async def _wipe(store: Store) -> None:
    import sqlalchemy as sa

    from store.models import Base

    async with store.uow() as uow:
        if uow.dialect == "mysql":
            await uow.session.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
        for table in reversed(Base.metadata.sorted_tables):
            await uow.session.execute(table.delete())
        if uow.dialect == "mysql":
            await uow.session.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
        await uow.commit()


async def _count(store: Store, table: str) -> int:
    import sqlalchemy as sa

    async with store.uow(readonly=True) as uow:
        return int((await uow.session.execute(sa.text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--users", type=int, default=100, help="concurrent clicks / messages per batch")
    parser.add_argument("--message-rounds", type=int, default=3)
    parser.add_argument(
        "--wipe", action="store_true", help="delete every row of --db first (a bench database!)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or f"sqlite+aiosqlite:///{tmp}/bench.db"
        with asyncio.Runner(loop_factory=serving_loop()) as runner:  # the loop `smartflow serve` runs on
            results = runner.run(run(db, args.users, args.message_rounds, args.wipe))
    backend = db.split(":", 1)[0]
    print(f"# webhook answer latency ({backend}, {args.users} concurrent, {platform.python_version()}, "
          f"{platform.machine()}, {sys.platform})")  # fmt: skip
    print("| path | n | p50 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- |")
    for name, s in results.items():
        print(f"| {name} | {s['n']:.0f} | {s['p50']:.1f} | {s['p99']:.1f} | {s['max']:.1f} |")
    for ours, floor in (
        ("ours: card click (apply, first press)", "floor: card click"),
        ("ours: card click (same press again, one at a time)", "floor: card click (one at a time)"),
        ("ours: message event (/tasks)", "floor: message event"),
    ):
        if ours not in results or floor not in results:
            continue
        o, f = results[ours], results[floor]
        print(f"ratio {ours} / {floor}: p50 {o['p50'] / f['p50']:.1f}x, p99 {o['p99'] / f['p99']:.1f}x")


if __name__ == "__main__":
    main()
