"""The card press fast path: a signed, encrypted press is read without the SDK's dispatcher and gives the
same ClickIn as the SDK path; anything else goes through the SDK, which answers as it always did."""

from __future__ import annotations

import json
from typing import Any

import lark_oapi as lark
import pytest
from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTrigger

from bot.feishu.gateway import Gateway, click_from_sdk
from bot.inbound import CallbackAnswer, ClickIn, EventIn, MessageIn
from tests.fakes.feishu_callbacks import CallbackBuilder, decrypt

ALICE = "ou_alice"


class Recorder:
    def __init__(self) -> None:
        self.clicks: list[ClickIn] = []
        self.others: list[object] = []

    async def on_click(self, click: ClickIn) -> CallbackAnswer:
        self.clicks.append(click)
        return {"toast": {"type": "success", "content": "ok"}}

    async def on_message(self, message: MessageIn) -> None:
        self.others.append(message)

    async def on_event(self, event: EventIn) -> None:
        self.others.append(event)


class CountingDispatcher:
    """The SDK's dispatcher, counted: how many requests went through it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    def do(self, request: lark.RawRequest) -> lark.RawResponse:
        self.calls += 1
        response: lark.RawResponse = self.inner.do(request)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def cb() -> CallbackBuilder:
    return CallbackBuilder()


def gateway(cb: CallbackBuilder, **kw: Any) -> tuple[Gateway, CountingDispatcher]:
    g = Gateway(
        kw.get("encrypt_key", cb.encrypt_key),
        kw.get("verification_token", cb.verification_token),
        max_body_bytes=1 << 20,
    )
    counting = CountingDispatcher(g.dispatcher)
    g.dispatcher = counting  # type: ignore[assignment]
    return g, counting


def through_sdk(cb: CallbackBuilder, body: bytes) -> ClickIn:
    """What the SDK path makes of the same press: its own event object, read by click_from_sdk."""
    plaintext = decrypt(json.loads(body)["encrypt"], cb.encrypt_key)
    return click_from_sdk(lark.JSON.unmarshal(plaintext.decode(), P2CardActionTrigger))


PRESSES = {
    "button": {},
    "picker": {"tag": "picker_datetime", "option": "2026-12-02 18:00 +0800"},
    "form": {"tag": "button", "form_value": {"title": "Read", "minutes": "30"}, "name": "submit"},
}


@pytest.mark.parametrize("shape", PRESSES)
async def test_a_signed_press_skips_the_sdk_and_reads_as_the_sdk_would(
    cb: CallbackBuilder, shape: str
) -> None:
    g, sdk = gateway(cb)
    receiver = Recorder()
    request = cb.card_action(ALICE, {"act": "apply", "p": "7"}, open_message_id="om_1", **PRESSES[shape])

    answer = await g.handle_http(request.body, request.headers, receiver, received_at=12.5)

    assert (answer.status, answer.kind) == (200, "click")
    assert json.loads(answer.body) == {"toast": {"type": "success", "content": "ok"}}
    assert sdk.calls == 0
    [click] = receiver.clicks
    assert click.received_at == 12.5
    expected = through_sdk(cb, request.body)
    assert click == ClickIn(**{**expected.__dict__, "received_at": 12.5})
    assert click.operator_open_id == ALICE
    assert click.value == {"act": "apply", "p": "7"}


def _with(cb: CallbackBuilder, **changes: Any) -> dict[str, Any]:
    event = cb.card_action_event(ALICE, {"act": "apply"}, open_message_id="om_1")
    for path, value in changes.items():
        node = event
        *parents, leaf = path.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return event


async def test_a_forged_signature_goes_to_the_sdk_and_is_refused(cb: CallbackBuilder) -> None:
    g, sdk = gateway(cb)
    receiver = Recorder()
    request = cb.card_action(ALICE, {"act": "apply"}, open_message_id="om_1", forge_signature=True)

    answer = await g.handle_http(request.body, request.headers, receiver)

    assert answer.status == 401
    assert sdk.calls == 1
    assert receiver.clicks == []


@pytest.mark.parametrize(
    ("changes", "status"),
    [({"header__token": "not-the-token"}, 401), ({"event__action__value": "apply"}, 400)],
    ids=["a wrong envelope token", "a string button value"],
)
async def test_a_press_the_sdk_refuses_goes_to_the_sdk_and_is_refused(
    cb: CallbackBuilder, changes: dict[str, Any], status: int
) -> None:
    g, sdk = gateway(cb)
    receiver = Recorder()

    answer = await g.handle_http(*_signed(cb, _with(cb, **changes)), receiver)

    assert answer.status == status
    assert sdk.calls == 1
    assert receiver.clicks == []


@pytest.mark.parametrize(
    "changes",
    [{"header__event_type": "im.message.receive_v1"}, {"event__operator": "ou_alice"}, {"schema": ""}],
    ids=["another event type", "an operator that is not an object", "no schema"],
)
async def test_anything_but_a_well_formed_press_goes_to_the_sdk(
    cb: CallbackBuilder, changes: dict[str, Any]
) -> None:
    g, sdk = gateway(cb)
    receiver = Recorder()

    await g.handle_http(*_signed(cb, _with(cb, **changes)), receiver)

    assert sdk.calls == 1
    assert receiver.clicks == []


async def test_a_plaintext_press_goes_through_the_sdk(cb: CallbackBuilder) -> None:
    g, sdk = gateway(cb)
    receiver = Recorder()
    request = cb.card_action(ALICE, {"act": "apply"}, open_message_id="om_1", encrypted=False)

    answer = await g.handle_http(request.body, request.headers, receiver)

    assert (answer.status, sdk.calls, len(receiver.clicks)) == (200, 1, 1)


async def test_without_a_verification_token_every_press_goes_through_the_sdk(cb: CallbackBuilder) -> None:
    g, sdk = gateway(cb, verification_token="")
    receiver = Recorder()
    request = cb.card_action(ALICE, {"act": "apply"}, open_message_id="om_1")

    await g.handle_http(request.body, request.headers, receiver)

    assert sdk.calls == 1


def _signed(cb: CallbackBuilder, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    request = cb.sign(payload)
    return request.body, request.headers
