"""Inbound rules at the HTTP edge: verification, freshness, size, unknown events, health and metrics."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from app.settings import load_settings
from app.wiring import build_components
from bot.app import create_app
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ADMIN, ALICE, Harness, at


@pytest.mark.parametrize("path", ["/feishu/events", "/feishu/card"])
async def test_url_verification_is_answered_on_both_endpoints(harness: Harness, path: str) -> None:
    response = await harness.post(harness.cb.challenge("abc123"), path)

    assert response.status_code == 200
    assert json.loads(response.content) == {"challenge": "abc123"}


ODD_CHALLENGES = ['a"b', "back\\slash", "new\nline", "tab\t", "</script>", "挑战🙂", '{"x":1}', "\u0000z", ""]


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plain"])
@pytest.mark.parametrize("challenge", ODD_CHALLENGES)
async def test_any_challenge_is_echoed_as_valid_json(
    harness: Harness, challenge: str, encrypted: bool
) -> None:
    request = harness.cb.challenge(challenge, encrypted=encrypted)

    response = await harness.post(request, "/feishu/events")

    assert response.status_code == 200
    assert json.loads(response.content) == {"challenge": challenge}


async def test_a_forged_signature_is_rejected_and_nothing_recorded(harness: Harness) -> None:
    h = harness
    before = await h.snapshot()

    response = await h.post(h.cb.message(ALICE, "/help", forge_signature=True))

    assert response.status_code == 401
    await h.settle()
    assert await h.snapshot() == before
    assert h.fake.messages == []


async def test_a_stale_timestamp_is_rejected(harness: Harness) -> None:
    h = harness
    before = await h.snapshot()
    ten_minutes_ago = int(time.time()) - 600

    response = await h.post(h.cb.message(ALICE, "/help", timestamp=ten_minutes_ago))

    assert response.status_code == 401
    assert await h.snapshot() == before


async def test_a_timestamp_far_ahead_is_rejected(harness: Harness) -> None:
    response = await harness.post(harness.cb.message(ALICE, "/help", timestamp=int(time.time()) + 900))

    assert response.status_code == 401


async def test_a_wrong_verification_token_is_rejected(harness: Harness) -> None:
    h = harness
    before = await h.snapshot()

    message = await h.post(h.cb.message(ALICE, "/help", token="not-the-token"))
    challenge = await h.post(h.cb.challenge("x", token="not-the-token"))

    assert message.status_code == 401
    assert challenge.status_code == 401
    assert await h.snapshot() == before


async def test_a_body_over_the_cap_is_rejected(harness: Harness) -> None:
    h = harness
    cap = h.app.state.deps.config.max_body_bytes
    big = h.cb.message(ALICE, "x" * cap)
    assert len(big.body) > cap

    response = await h.post(big)
    chunked = await h.client.post("/feishu/events", content=_chunks(big.body), headers=big.headers)

    assert response.status_code == 413
    assert chunked.status_code == 413
    assert await h.count("inbox") == 0


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(body), 4096):
        yield body[i : i + 4096]


async def test_an_unknown_event_type_is_acknowledged_with_no_effect(harness: Harness) -> None:
    h = harness
    event = h.cb.message_event(ALICE, "/help")
    event["header"]["event_type"] = "im.something.new_v9"
    before = await h.snapshot()

    response = await h.post(h.cb.sign(event))

    assert response.status_code == 200
    await h.settle()
    assert await h.snapshot() == before
    assert h.fake.messages == []


async def test_a_subscribed_event_the_bot_ignores_is_recorded_once(harness: Harness) -> None:
    h = harness
    event = h.cb.message_event(ALICE, "/help", event_id="evt-read-1")
    event["header"]["event_type"] = "im.message.message_read_v1"
    event["event"] = {"reader": {"reader_id": {"open_id": ALICE}, "read_time": "1"}, "message_id_list": []}

    first = await h.post(h.cb.sign(event))
    again = await h.post(h.cb.sign(event))

    assert (first.status_code, again.status_code) == (200, 200)
    assert await h.count("inbox", kind="event", status="ignored") == 1
    assert h.fake.messages == []


async def test_lower_case_header_names_are_accepted(harness: Harness) -> None:
    h = harness
    request = h.cb.message(ALICE, "/help")
    lowered = {k.lower(): v for k, v in request.headers.items()}

    response = await h.client.post("/feishu/events", content=request.body, headers=lowered)

    assert response.status_code == 200
    await h.settle()
    assert len(h.texts_to(ALICE)) == 1


async def test_a_request_without_signature_headers_is_rejected(harness: Harness) -> None:
    h = harness
    request = h.cb.message(ALICE, "/help")

    response = await h.client.post("/feishu/events", content=request.body)

    assert response.status_code == 401
    assert await h.count("inbox") == 0


async def test_a_click_with_a_foreign_button_value_changes_nothing(harness: Harness) -> None:
    h = harness
    before = await h.snapshot()

    response = await h.click(ALICE, {"act": "apply", "preview_id": "42"}, "om_x")

    assert response.status_code == 200
    assert json.loads(response.content)["toast"]["type"] == "error"
    assert await h.snapshot() == before


async def test_health_readiness_and_metrics(harness: Harness) -> None:
    h = harness
    await h.post(h.cb.message(ALICE, "/help"))

    health = await h.client.get("/healthz")
    ready = await h.client.get("/readyz")
    metrics = await h.client.get("/metrics")

    assert health.status_code == 200
    assert ready.status_code == 200
    assert json.loads(ready.content)["database"] == "ok"
    assert metrics.status_code == 200
    text = metrics.text
    assert 'smartflow_feishu_callbacks_total{endpoint="events",kind="message",outcome="ok"} 1.0' in text
    assert "smartflow_jobs" in text  # the worker's row counts


def _sample(text: str, name: str) -> float:
    line = next((x for x in text.splitlines() if x.startswith(name + " ")), None)
    return float(line.split()[-1]) if line else 0.0


async def test_metrics_count_the_choices_by_path_and_reason(harness: Harness) -> None:
    h = harness
    counter = 'smartflow_llm_choices_total{reason="not_configured",source="fallback"}'
    before = _sample((await h.client.get("/metrics")).text, counter)
    user_id = await h.add_user(ALICE)
    await h.add_task(user_id, "实验报告", deadline=at(20))

    await h.message(ADMIN, f"/admin trigger {ALICE} 实验报告")
    await h.run_worker()

    assert len(h.cards_to(ALICE)) == 1
    after = _sample((await h.client.get("/metrics")).text, counter)
    assert after == before + 1


async def test_readiness_fails_when_the_database_is_unreachable() -> None:
    settings = load_settings(database_url="mysql+aiomysql://root@127.0.0.1:9/nothing")
    components = build_components(settings)
    app = create_app(components)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
            ready = await client.get("/readyz")
            health = await client.get("/healthz")
    finally:
        await components.aclose()

    assert ready.status_code == 503
    assert json.loads(ready.content)["database"] == "unreachable"
    assert health.status_code == 200


@pytest.mark.parametrize("field", ["open_id", "message_id"])
async def test_an_id_longer_than_any_stored_one_is_refused_once_not_retried(
    harness: Harness, field: str
) -> None:
    """It can never be stored: recorded as failed (200: Feishu does not redeliver), nothing else written."""
    h = harness
    long_id = "ou_" + "x" * 200 if field == "open_id" else "om_" + "y" * 200
    kwargs: dict[str, str] = {"message_id": long_id} if field == "message_id" else {}
    sender = long_id if field == "open_id" else ALICE

    first = await h.post(h.cb.message(sender, "没做完", **kwargs))
    again = await h.post(h.cb.message(sender, "没做完", **kwargs)) if field == "message_id" else first
    await h.settle()

    assert first.status_code == 200
    assert again.status_code == 200
    assert await h.count("inbox", status="failed") == 1
    assert await h.count("users") == 0
    assert await h.count("triggers") == 0
    assert h.fake.messages == []
