"""The Feishu Tasks v2 client: the documented requests with the user's token, items parsed to UTC instants in
whole seconds (an all-day due kept as such, "0" meaning open), paging, and every failure classified: timeouts,
network errors, 5xx, 429 and frequency limits retryable, other refusals final."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from bot.feishu.ratelimit import SlidingWindowLimiter
from bot.feishu.tasks import FeishuTasksClient
from scheduler.services.tasksync import TaskApiError
from tests.fakes.fake_feishu import busiest_window

Handler = Callable[[httpx.Request], httpx.Response]
DUE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def client(handler: Handler) -> FeishuTasksClient:
    return FeishuTasksClient("https://open.example", 5, transport=httpx.MockTransport(handler))


def ok(data: dict[str, object]) -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "msg": "success", "data": data})


async def test_a_page_is_read_with_the_users_token_and_parsed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        items = [
            {"guid": "g1", "summary": "写周报", "due": {"timestamp": str(int(DUE.timestamp() * 1000) + 123),
             "is_all_day": False}, "completed_at": "0"},
            {"guid": "g2", "summary": "全天", "due": {"timestamp": "1764547200000", "is_all_day": True},
             "completed_at": str(int(DUE.timestamp() * 1000))},
            {"summary": "no guid"},
        ]  # fmt: skip
        return ok({"items": items, "has_more": True, "page_token": "next"})

    tasks = client(handler)
    try:
        page = await tasks.list_tasks("u-token", page_token="p1", page_size=50)
    finally:
        await tasks.aclose()

    (request,) = seen
    assert (request.method, request.url.path) == ("GET", "/open-apis/task/v2/tasks")
    assert request.headers["authorization"] == "Bearer u-token"
    params = dict(request.url.params)
    assert (params["type"], params["page_size"], params["page_token"]) == ("my_tasks", "50", "p1")
    first, second = page.items
    assert (first.guid, first.summary, first.due, first.all_day, first.completed_at) == (
        "g1", "写周报", DUE, False, None,
    )  # fmt: skip
    assert (second.all_day, second.completed_at) == (True, DUE)
    assert page.next_token == "next"


async def test_the_last_page_has_no_next_token() -> None:
    tasks = client(lambda _: ok({"items": [], "has_more": False, "page_token": ""}))
    try:
        page = await tasks.list_tasks("u-token", page_token=None, page_size=100)
    finally:
        await tasks.aclose()
    assert (page.items, page.next_token) == ((), None)


async def test_complete_patches_completed_at_only() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok({"task": {"guid": "g1"}})

    tasks = client(handler)
    try:
        await tasks.complete("u-token", "g1", DUE)
    finally:
        await tasks.aclose()
    (request,) = seen
    assert (request.method, request.url.path) == ("PATCH", "/open-apis/task/v2/tasks/g1")
    assert json.loads(request.content) == {
        "task": {"completed_at": str(int(DUE.timestamp() * 1000))},
        "update_fields": ["completed_at"],
    }


def _raise_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


def _raise_network(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.mark.parametrize(
    ("handler", "code", "retryable"),
    [
        (lambda _: httpx.Response(502, text="<html>bad gateway</html>"), "http_502", True),
        (lambda _: httpx.Response(429, json={"code": 99991400, "msg": "limit"}), "99991400", True),
        (lambda _: httpx.Response(400, json={"code": 1470404, "msg": "not found"}), "1470404", False),
        (lambda _: httpx.Response(400, json={"code": 99991668, "msg": "bad token"}), "99991668", False),
        (_raise_timeout, "timeout", True),
        (_raise_network, "network", True),
    ],
)
async def test_failures_are_classified(handler: Handler, code: str, retryable: bool) -> None:
    tasks = client(handler)
    try:
        with pytest.raises(TaskApiError) as info:
            await tasks.complete("u-token", "g1", DUE)
    finally:
        await tasks.aclose()
    assert (info.value.code, info.value.retryable) == (code, retryable)


async def test_calls_wait_for_the_limits_feishu_sets_for_the_app() -> None:
    """Many users' syncs at once: no window of the per-second limit holds more calls than it allows (here
    3 per 0.2 s, so the test runs fast; the client's own defaults are Feishu's 1000/min and 50/s)."""
    arrivals: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(time.monotonic())
        return ok({"items": [], "has_more": False})

    per_second = SlidingWindowLimiter(3, window=0.2)
    tasks = FeishuTasksClient(
        "https://open.example",
        5,
        transport=httpx.MockTransport(handler),
        limiters=(SlidingWindowLimiter(1000, window=60.0), per_second),
    )
    await asyncio.gather(*(tasks.list_tasks(f"u-{n}", page_token=None, page_size=50) for n in range(10)))
    await tasks.aclose()

    assert len(arrivals) == 10
    assert busiest_window(arrivals, 0.2) <= 3
