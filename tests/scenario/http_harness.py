"""The real HTTP app wired from real settings, the fake Feishu on loopback, signed callbacks, a real worker.

Import the fixtures into a test module with `from tests.scenario.http_harness import *  # noqa: F403`.
Business time is the harness clock (`h.clock`, a fixed instant the seeds are relative to); the request
timestamps Feishu signs are wall-clock time, as on the real platform.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from app.settings import load_settings
from app.wiring import Components, build_components, make_worker
from bot.app import create_app
from bot.texts import t
from scheduler.services.jobs import sync_job
from scheduler.worker.worker import Worker
from store import Store
from store.models import Block, Task, User
from tests.fakes.fake_feishu import FakeFeishu, FakeMessage, serve_fake_feishu
from tests.fakes.feishu_callbacks import CallbackBuilder, SignedRequest

__all__ = [
    "ADMIN",
    "ALICE",
    "BOB",
    "NOW",
    "TZ",
    "Clock",
    "Harness",
    "at",
    "buttons",
    "card_of",
    "fake_server",
    "harness",
    "is_welcome",
    "is_welcome_message",
    "open_harness",
    "sqlite_harness",
]

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=TZ)  # a Monday
ALICE = "ou_alice"
BOB = "ou_bob"
ADMIN = "ou_admin"
ENCRYPT_KEY = "test-encrypt-key"
TOKEN = "test-verification-token"


WELCOME_STARTS = ("你好！我是 SmartFlow", "Hi! I am SmartFlow")


WELCOME_TITLES = ("欢迎使用 SmartFlow", "Welcome to SmartFlow")


def is_welcome(text: str) -> bool:
    return text.startswith(WELCOME_STARTS)


def is_welcome_card(message: FakeMessage) -> bool:
    if message.msg_type != "interactive":
        return False
    return message.card.get("header", {}).get("title", {}).get("content") in WELCOME_TITLES


def welcome_card_text(message: FakeMessage) -> str:
    """The welcome a welcome card says (its first markdown element)."""
    return str(message.card["body"]["elements"][0]["content"])


TASK_CARD_TITLES = {t("capture.form.header", "zh"), t("capture.form.header", "en")}


def is_task_card(message: FakeMessage) -> bool:
    """A reply about one task sent as a card with its Edit button (/add in the user's own chat)."""
    if message.msg_type != "interactive":
        return False
    card = message.card
    if card.get("header", {}).get("title", {}).get("content") not in TASK_CARD_TITLES:
        return False
    return not any(e.get("tag") == "form" for e in card.get("body", {}).get("elements", []))


def task_card_text(message: FakeMessage) -> str:
    """What a task card says (its first markdown element, unescaped)."""
    return html.unescape(str(message.card["body"]["elements"][0]["content"]))


def is_welcome_message(message: FakeMessage) -> bool:
    """The welcome a first message gets: the card, or its text when the card could not be sent."""
    return is_welcome_card(message) or (message.msg_type == "text" and is_welcome(message.text))


def at(hour: int, minute: int = 0, day: int = 30) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


class Clock:
    """The bot's and the worker's `now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every callback value on a card, in document order."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "button":
                for behavior in node.get("behaviors") or []:
                    if isinstance(behavior, dict) and isinstance(behavior.get("value"), dict):
                        found.append(behavior["value"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


@dataclass
class Harness:
    client: httpx.AsyncClient
    app: Any
    fake: FakeFeishu
    components: Components
    worker: Worker
    clock: Clock
    cb: CallbackBuilder = field(default_factory=CallbackBuilder)

    @property
    def store(self) -> Store:
        return self.components.store

    async def post(self, request: SignedRequest, path: str = "/feishu/events") -> httpx.Response:
        return await self.client.post(path, content=request.body, headers=request.headers)

    async def settle(self) -> None:
        """Wait for the work the app started after answering (replies, pipeline runs)."""
        await self.app.state.deps.background.drain(30)

    async def run_worker(self) -> None:
        await self.settle()
        await self.worker.run_once(self.clock.now)

    def cards_to(self, open_id: str) -> list[FakeMessage]:
        """The cards sent to `open_id`, without the welcome card a first message gets (welcome_cards_to)."""
        return [
            m
            for m in self.fake.messages_to(open_id)
            if m.msg_type == "interactive" and not is_welcome_card(m) and not is_task_card(m)
        ]

    def task_cards_to(self, open_id: str) -> list[FakeMessage]:
        """The replies about one task sent as cards with an Edit button (counted as text by texts_to)."""
        return [m for m in self.fake.messages_to(open_id) if is_task_card(m)]

    def welcome_cards_to(self, open_id: str) -> list[FakeMessage]:
        return [m for m in self.fake.messages_to(open_id) if is_welcome_card(m)]

    def texts_to(self, open_id: str) -> list[str]:
        """The text messages sent to `open_id`, without the welcome a first message gets (welcomes_to)."""
        return [x for x in self.all_texts_to(open_id) if not is_welcome(x)]

    def welcomes_to(self, open_id: str) -> list[str]:
        return [x for x in self.all_texts_to(open_id) if is_welcome(x)]

    def all_texts_to(self, open_id: str) -> list[str]:
        """Every text sent to `open_id` in order, a welcome card counted as the welcome it says."""
        out = []
        for m in self.fake.messages_to(open_id):
            if m.msg_type == "text":
                out.append(m.text)
            elif is_welcome_card(m):
                out.append(welcome_card_text(m))
            elif is_task_card(m):
                out.append(task_card_text(m))
        return out

    async def count(self, table: str, **where: Any) -> int:
        clause = " AND ".join(f"{k} = :{k}" for k in where)
        sql = f"SELECT COUNT(*) FROM {table}" + (f" WHERE {clause}" if clause else "")
        async with self.store.uow(readonly=True) as uow:
            return int((await uow.session.execute(sa.text(sql), where)).scalar_one())

    async def snapshot(self) -> dict[str, int]:
        """Row counts of every table (a request that must change nothing leaves them equal)."""
        tables = [
            "users",
            "tasks",
            "blocks",
            "jobs",
            "triggers",
            "previews",
            "change_sets",
            "notifications",
            "outbox",
            "inbox",
            "audit_log",
        ]
        return {t: await self.count(t) for t in tables}

    async def add_user(self, open_id: str, *, locale: str = "zh", name: str = "Alice") -> str:
        async with self.store.uow() as uow:
            row = User(
                open_id=open_id, name=name, timezone="Asia/Shanghai", locale=locale,
                created_at=self.clock.now, updated_at=self.clock.now,
            )  # fmt: skip
            uow.users.add(row)
            await uow.commit()
        return row.id

    async def add_task(self, user_id: str, title: str, **kw: Any) -> str:
        async with self.store.uow() as uow:
            task = Task(
                user_id=user_id, title=title, quadrant=kw.pop("quadrant", 2),
                estimate_minutes=kw.pop("estimate_minutes", 90), created_at=self.clock.now,
                updated_at=self.clock.now, **kw,
            )  # fmt: skip
            uow.tasks.add(task)
            await sync_job(uow, task, self.clock.now)
            await uow.commit()
        return task.id

    async def add_block(self, user_id: str, task_id: str, start: datetime, minutes: int) -> str:
        async with self.store.uow() as uow:
            block = Block(
                user_id=user_id, task_id=task_id, start=start, end=start + timedelta(minutes=minutes),
                created_at=self.clock.now, updated_at=self.clock.now,
            )  # fmt: skip
            uow.blocks.add(block)
            await uow.commit()
        return block.id

    async def message(self, open_id: str, text: str, **kw: Any) -> httpx.Response:
        return await self.post(self.cb.message(open_id, text, **kw))

    async def click(self, open_id: str, value: dict[str, Any], message_id: str, **kw: Any) -> httpx.Response:
        return await self.post(
            self.cb.card_action(open_id, value, open_message_id=message_id, **kw), "/feishu/card"
        )


def card_of(response: httpx.Response) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.content)["card"]["data"]
    return data


@pytest.fixture(scope="session")
def fake_server() -> Iterator[tuple[FakeFeishu, str]]:
    with serve_fake_feishu() as served:
        yield served


@contextlib.asynccontextmanager
async def open_harness(
    db_url: str, fake_server: tuple[FakeFeishu, str], **overrides: Any
) -> AsyncIterator[Harness]:
    fake, url = fake_server
    fake.reset()
    settings = load_settings(
        database_url=db_url,
        feishu_app_id=fake.app_id,
        feishu_app_secret=fake.app_secret,
        feishu_verification_token=TOKEN,
        feishu_encrypt_key=ENCRYPT_KEY,
        feishu_domain=url,
        admins=ADMIN,
        timezone="Asia/Shanghai",
        feishu_timeout_seconds=5,
        click_answer_seconds=2.5,  # presses answered with their final card: tests assert on it
        **overrides,
    )
    components = build_components(settings)
    clock = Clock(NOW)
    worker = make_worker(components, clock)
    app = create_app(components, clock=clock)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            yield Harness(client, app, fake, components, worker, clock)
    finally:
        await app.state.deps.background.close()
        await components.aclose()


@pytest.fixture
async def harness(db_url: str, fake_server: tuple[FakeFeishu, str]) -> AsyncIterator[Harness]:
    """The harness on SQLite and (when configured) MariaDB."""
    async with open_harness(db_url, fake_server) as h:
        yield h


@pytest.fixture
async def sqlite_harness(sqlite_url: str, fake_server: tuple[FakeFeishu, str]) -> AsyncIterator[Harness]:
    async with open_harness(sqlite_url, fake_server) as h:
        yield h
