"""Fuzz both callback endpoints: random and mutated bodies never get a 5xx or change the database."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.feishu_callbacks import CallbackBuilder, SignedRequest, encrypt, signature
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness

SEED = 20261130
UNSIGNED_CASES = 2200
SIGNED_CASES = 300
PATHS = ("/feishu/events", "/feishu/card")


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.randint(-(2**63), 2**63)
    if choice == 3:
        return rng.random() * 10 ** rng.randint(-5, 300)
    if choice == 4:
        return "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 30)))
    if choice == 5:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["encrypt", "schema", "header", "event", "type", "challenge", "token", "uuid", "x"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _flip(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        # a different byte: "flipping" a byte to its own value would leave a validly signed body
        data[i] = (data[i] + rng.randrange(1, 256)) % 256
    return bytes(data)


def _headers(rng: random.Random, base: dict[str, str]) -> dict[str, str]:
    headers = dict(base)
    roll = rng.randrange(6)
    if roll == 0:
        headers.pop(rng.choice(list(headers)), None)
    elif roll == 1:
        headers["X-Lark-Request-Timestamp"] = rng.choice(["", "abc", "-1", "9" * 30, str(time.time())])
    elif roll == 2:
        headers = {k.lower(): v for k, v in headers.items()}
    return headers


def _unsigned_case(rng: random.Random, cb: CallbackBuilder) -> tuple[bytes, dict[str, str]]:
    """A body that must not pass verification: noise, random JSON, or a real callback mutated."""
    valid = rng.choice(
        [
            lambda: cb.message(ALICE, "没做完"),
            lambda: cb.card_action(
                ALICE, {"v": 1, "k": "apply", "p": "p1", "c": "c1"}, open_message_id="om_1"
            ),
            lambda: cb.challenge("c"),
            lambda: cb.message(ALICE, "/admin stats", encrypted=False),
        ]
    )()
    kind = rng.randrange(6)
    if kind == 0:
        body = rng.randbytes(rng.randint(0, 3000))
    elif kind == 1:
        body = json.dumps(_random_json(rng)).encode()
    elif kind == 2:
        body = json.dumps({"encrypt": base64.b64encode(rng.randbytes(rng.randint(0, 200))).decode()}).encode()
    elif kind == 3:
        body = _flip(rng, valid.body)
    elif kind == 4:
        body = valid.body[: rng.randrange(len(valid.body))]
    else:
        body = valid.body  # signed for other headers: the signature no longer matches
        headers = _headers(rng, valid.headers)
        headers["X-Lark-Request-Nonce"] = "other" + str(rng.random())
        return body, headers
    return body, _headers(rng, valid.headers)


def _mutate_envelope(rng: random.Random, event: dict[str, Any]) -> dict[str, Any]:
    """Structural damage to a real envelope, which is then encrypted and signed properly."""
    paths = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((*path, k))
                walk(v, (*path, k))

    walk(event, ())
    for _ in range(rng.randint(1, 4)):
        path = rng.choice(paths)
        parent: Any = event
        try:
            for k in path[:-1]:
                parent = parent[k]
            if rng.random() < 0.3:
                del parent[path[-1]]
            else:
                parent[path[-1]] = _random_json(rng)
        except (KeyError, TypeError):
            continue
    return event


def _signed(cb: CallbackBuilder, payload: Any) -> SignedRequest:
    plaintext = json.dumps(payload, ensure_ascii=False).encode()
    body = json.dumps({"encrypt": encrypt(plaintext, cb.encrypt_key)}).encode()
    ts, nonce = str(int(time.time())), "n"
    headers = {
        "Content-Type": "application/json",
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": signature(ts, nonce, cb.encrypt_key, body),
    }
    return SignedRequest(body, headers, payload if isinstance(payload, dict) else {})


async def test_random_and_mutated_bodies_never_get_a_5xx_nor_change_the_database(
    sqlite_harness: Harness,
) -> None:
    h = sqlite_harness
    rng = random.Random(SEED)
    before = await h.snapshot()
    statuses: dict[int, int] = {}
    for n in range(UNSIGNED_CASES):
        body, headers = _unsigned_case(rng, h.cb)
        response = await h.client.post(PATHS[n % 2], content=body, headers=headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (n, response.status_code, response.content[:200])
    await h.settle()

    assert await h.snapshot() == before
    assert h.fake.messages == []
    assert statuses.get(200, 0) < UNSIGNED_CASES // 10  # most were refused, not silently accepted


async def test_properly_signed_but_malformed_envelopes_never_get_a_5xx(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    rng = random.Random(SEED + 1)
    builders: list[Callable[[], dict[str, Any]]] = [
        lambda: h.cb.message_event(ALICE, rng.choice(["没做完", "/today", "/admin stats", "/add x 30"])),
        lambda: h.cb.group_mention_event(ALICE, "/help"),
        lambda: h.cb.card_action_event(
            ALICE, {"v": 1, "k": "apply", "p": "p1", "c": "c1"}, open_message_id="om_1"
        ),
        lambda: h.cb.url_verification("c"),
    ]
    statuses: dict[int, int] = {}
    for n in range(SIGNED_CASES):
        payload = _mutate_envelope(rng, rng.choice(builders)())
        response = await h.post(_signed(h.cb, payload), PATHS[n % 2])
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (n, response.status_code, response.content[:300])
    await h.settle()
    print(statuses)
    assert statuses.get(200, 0) > SIGNED_CASES // 4  # many got past verification into the handlers
    assert h.app.state.deps.background.failures == 0
