"""Long-connection mode against a fake Feishu WebSocket gateway: the real lark.ws.Client on its own thread."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import sqlalchemy as sa
import websockets
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from app.settings import load_settings
from app.wiring import build_components
from bot.app import create_app
from bot.feishu.client import FeishuClient
from tests.fakes.fake_feishu import FakeFeishu, FakeMessage
from tests.fakes.feishu_callbacks import CallbackBuilder
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, NOW, Clock, is_welcome_message


@dataclass
class FakeGateway:
    """Endpoint discovery over HTTP and a WebSocket that pushes event frames and collects the acks."""

    ws_port: int = 0
    connections: int = 0
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    pings: int = 0
    loop: asyncio.AbstractEventLoop | None = None
    sockets: list[Any] = field(default_factory=list)

    async def _serve(self, conn: Any) -> None:
        self.connections += 1
        self.sockets.append(conn)
        async for raw in conn:
            frame = Frame()
            frame.ParseFromString(raw)
            headers = {h.key: h.value for h in frame.headers}
            if frame.method == 0 and headers.get("type") == "ping":
                self.pings += 1
                pong = Frame(service=frame.service, method=0, SeqID=0, LogID=0)
                pong.headers.add(key="type", value="pong")
                await conn.send(pong.SerializeToString())
            elif frame.method == 1:
                self.acks[headers["message_id"]] = json.loads(frame.payload)

    def push(self, payload: dict[str, Any], message_id: str) -> None:
        frame = Frame(service=1, method=1, SeqID=1, LogID=1, payload=json.dumps(payload).encode())
        for key, value in (("type", "event"), ("message_id", message_id), ("trace_id", "t"), ("sum", "1")):
            frame.headers.add(key=key, value=value)
        frame.headers.add(key="seq", value="0")
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(self.sockets[-1].send(frame.SerializeToString()), self.loop).result(
            5
        )


@contextmanager
def fake_gateway() -> Iterator[tuple[FakeGateway, str]]:
    gateway = FakeGateway()
    started = threading.Event()
    stop: list[asyncio.Event] = []

    def run_ws() -> None:
        async def main() -> None:
            gateway.loop = asyncio.get_running_loop()
            async with websockets.serve(gateway._serve, "127.0.0.1", 0) as server:
                gateway.ws_port = server.sockets[0].getsockname()[1]
                stop.append(asyncio.Event())
                started.set()
                await stop[0].wait()

        asyncio.run(main())

    thread = threading.Thread(target=run_ws, daemon=True)
    thread.start()
    started.wait(5)

    class Endpoint(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            url = f"ws://127.0.0.1:{gateway.ws_port}/ws?device_id=d1&service_id=1"
            config = {"ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0, "PingInterval": 120}
            body = json.dumps({"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": config}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield gateway, f"http://127.0.0.1:{http.server_address[1]}"
    finally:
        http.shutdown()
        assert gateway.loop is not None
        gateway.loop.call_soon_threadsafe(stop[0].set)
        thread.join(5)


def _replies(fake: FakeFeishu) -> list[FakeMessage]:
    """What the bot sent Alice, without the welcome her first message gets."""
    return [m for m in fake.messages_to(ALICE) if not is_welcome_message(m)]


async def _until(predicate: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def ws_app(sqlite_url: str, fake_server: tuple[FakeFeishu, str], domain: str) -> AsyncIterator[Any]:
    fake, url = fake_server
    fake.reset()
    settings = load_settings(
        database_url=sqlite_url, feishu_app_id="cli_ws", feishu_app_secret="s", feishu_domain=domain
    )
    components = build_components(settings)
    outbound = FeishuClient(fake.app_id, fake.app_secret, url, timeout_seconds=5)
    app = create_app(components, feishu_mode="ws", clock=Clock(NOW), outbound=outbound)
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        await outbound.aclose()
        await components.aclose()


async def test_long_connection_handles_messages_and_clicks_and_answers_in_the_ack(
    sqlite_url: str, fake_server: tuple[FakeFeishu, str]
) -> None:
    fake, _ = fake_server
    cb = CallbackBuilder()
    with fake_gateway() as (gateway, domain):
        async with ws_app(sqlite_url, fake_server, domain) as app:
            await _until(lambda: gateway.connections == 1 and gateway.sockets)

            gateway.push(cb.message_event(ALICE, "/help"), "m1")
            gateway.push(
                cb.card_action_event(ALICE, {"v": 1, "k": "ignore", "p": "nope"}, open_message_id="om_1"),
                "m2",
            )
            await _until(lambda: {"m1", "m2"} <= set(gateway.acks))
            await _until(lambda: len(_replies(fake)) == 1)
            await app.state.deps.background.drain(5)

            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bot"
            ) as client:
                ready = await client.get("/readyz")

    assert gateway.acks["m1"]["code"] == 200
    click = json.loads(base64.b64decode(gateway.acks["m2"]["data"]))
    assert click["toast"]["type"] == "error"  # no such preview: answered in words, in the ack
    assert "我可以帮你" in _replies(fake)[0].text
    assert json.loads(ready.content)["long_connection"] == "ok"


async def test_a_message_the_database_refuses_is_not_acknowledged_and_its_repush_is_handled_once(
    sqlite_url: str, fake_server: tuple[FakeFeishu, str]
) -> None:
    fake, _ = fake_server
    event = CallbackBuilder().message_event(ALICE, "/help")
    path = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    with fake_gateway() as (gateway, domain):
        async with ws_app(sqlite_url, fake_server, domain) as app:
            await _until(lambda: gateway.connections == 1 and gateway.sockets)
            with sqlite3.connect(path) as db:  # the inbox cannot be written: the database is unwell
                db.execute("ALTER TABLE inbox RENAME TO inbox_away")
            gateway.push(event, "m1")
            await _until(lambda: "m1" in gateway.acks)
            refused = gateway.acks["m1"]
            with sqlite3.connect(path) as db:
                db.execute("ALTER TABLE inbox_away RENAME TO inbox")
            gateway.push(event, "m2")  # Feishu pushes the unacknowledged event again
            gateway.push(event, "m3")  # and once more: the inbox dedupes it
            await _until(lambda: {"m2", "m3"} <= set(gateway.acks))
            await _until(lambda: len(_replies(fake)) >= 1)
            await app.state.deps.background.drain(5)

    assert refused["code"] == 500
    assert gateway.acks["m2"]["code"] == gateway.acks["m3"]["code"] == 200
    assert len(_replies(fake)) == 1
    assert "我可以帮你" in _replies(fake)[0].text


async def test_an_unknown_event_type_is_acknowledged_not_failed(
    sqlite_url: str, fake_server: tuple[FakeFeishu, str]
) -> None:
    event = CallbackBuilder().message_event(ALICE, "/help")
    event["header"]["event_type"] = "im.brand_new.event_v1"
    with fake_gateway() as (gateway, domain):
        async with ws_app(sqlite_url, fake_server, domain):
            await _until(lambda: gateway.connections == 1 and gateway.sockets)
            gateway.push(event, "m1")
            await _until(lambda: "m1" in gateway.acks)

    assert gateway.acks["m1"]["code"] == 200


async def test_the_watchdog_reconnects_a_silent_connection(
    sqlite_url: str, fake_server: tuple[FakeFeishu, str]
) -> None:
    with fake_gateway() as (gateway, domain):
        async with ws_app(sqlite_url, fake_server, domain) as app:
            await _until(lambda: gateway.connections == 1 and gateway.sockets)
            ws = app.state.long_connection["ws"]
            ws.tune(silence_seconds=0.3, check_every=0.05)  # no frame after the first ping's pong
            await _until(lambda: gateway.connections >= 2, seconds=15)

    assert ws.restarts >= 1


async def test_a_bot_menu_press_over_the_long_connection_is_answered_in_chat(
    sqlite_url: str, fake_server: tuple[FakeFeishu, str]
) -> None:
    fake, _ = fake_server
    with fake_gateway() as (gateway, domain):
        async with ws_app(sqlite_url, fake_server, domain) as app:
            await _until(lambda: gateway.connections == 1 and gateway.sockets)
            gateway.push(CallbackBuilder().bot_menu_event(ALICE, "tasks"), "m1")
            await _until(lambda: "m1" in gateway.acks)
            await _until(lambda: len(_replies(fake)) == 1)
            await app.state.deps.background.drain(5)

    assert gateway.acks["m1"]["code"] == 200
    assert "任务" in _replies(fake)[0].text


async def test_a_calendar_change_over_the_long_connection_is_recorded_once(
    sqlite_url: str, fake_server: tuple[FakeFeishu, str]
) -> None:
    event = CallbackBuilder().calendar_event_changed_event(
        [ALICE], "feishu.cn_alice@group.calendar.feishu.cn"
    )
    with fake_gateway() as (gateway, domain):
        async with ws_app(sqlite_url, fake_server, domain) as app:
            await _until(lambda: gateway.connections == 1 and gateway.sockets)
            gateway.push(event, "m1")
            gateway.push(event, "m2")  # pushed again
            await _until(lambda: "m1" in gateway.acks and "m2" in gateway.acks)
            await app.state.deps.background.drain(5)
            async with app.state.deps.store.uow(readonly=True) as uow:
                rows = await uow.session.execute(
                    sa.text("SELECT event_type, status FROM inbox WHERE kind = 'event'")
                )
                recorded = rows.all()

    assert (gateway.acks["m1"]["code"], gateway.acks["m2"]["code"]) == (200, 200)
    assert [tuple(r) for r in recorded] == [("calendar.calendar.event.changed_v4", "processed")]
