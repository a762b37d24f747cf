"""The callback builder against lark-oapi's own dispatcher: what it builds, the SDK decrypts and verifies."""

from __future__ import annotations

import json
import time
from typing import Any

import lark_oapi as lark
import pytest
from lark_oapi.api.im.v1 import P2ImMessageReceiveV1
from lark_oapi.event.callback.model.p2_card_action_trigger import (
    P2CardActionTrigger,
    P2CardActionTriggerResponse,
)

from tests.fakes.feishu_callbacks import CallbackBuilder, Mention, SignedRequest, decrypt, encrypt

APPLY = {"v": 1, "k": "apply", "p": "42", "c": "3"}


class Recorder:
    def __init__(self) -> None:
        self.messages: list[P2ImMessageReceiveV1] = []
        self.clicks: list[P2CardActionTrigger] = []

    def on_message(self, data: P2ImMessageReceiveV1) -> None:
        self.messages.append(data)

    def on_click(self, data: P2CardActionTrigger) -> P2CardActionTriggerResponse:
        self.clicks.append(data)
        return P2CardActionTriggerResponse({"toast": {"type": "success", "content": "ok"}})


@pytest.fixture
def builder() -> CallbackBuilder:
    return CallbackBuilder()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def _handler(builder: CallbackBuilder, recorder: Recorder, encrypt_key: str | None = None) -> Any:
    key = builder.encrypt_key if encrypt_key is None else encrypt_key
    return (
        lark.EventDispatcherHandler.builder(key, builder.verification_token)
        .register_p2_im_message_receive_v1(recorder.on_message)
        .register_p2_card_action_trigger(recorder.on_click)
        .build()
    )


def _do(handler: Any, req: SignedRequest) -> tuple[int, dict[str, Any]]:
    raw = lark.RawRequest()
    raw.uri = "/feishu/events"
    raw.headers = dict(req.headers)
    raw.body = req.body
    resp = handler.do(raw)
    return resp.status_code, json.loads(resp.content)


def test_encryption_round_trips_and_uses_a_fresh_iv() -> None:
    a, b = encrypt("飞书".encode(), "k"), encrypt("飞书".encode(), "k")
    assert a != b
    assert decrypt(a, "k") == decrypt(b, "k") == "飞书".encode()


def test_p2p_message_is_decrypted_verified_and_parsed(builder: CallbackBuilder, recorder: Recorder) -> None:
    req = builder.message("ou_alice", "没做完", message_id="om_1")
    assert set(req.json()) == {"encrypt"}

    status, body = _do(_handler(builder, recorder), req)

    assert (status, body) == (200, {"msg": "success"})
    [data] = recorder.messages
    msg = data.event.message
    assert data.event.sender.sender_id.open_id == "ou_alice"
    assert data.event.sender.sender_type == "user"
    assert (msg.message_id, msg.chat_type, msg.message_type) == ("om_1", "p2p", "text")
    assert json.loads(msg.content) == {"text": "没做完"}
    assert data.header.event_type == "im.message.receive_v1"


def test_group_mention_carries_the_mention(builder: CallbackBuilder, recorder: Recorder) -> None:
    status, _ = _do(
        _handler(builder, recorder), builder.sign(builder.group_mention_event("ou_bob", "/today"))
    )

    assert status == 200
    msg = recorder.messages[0].event.message
    assert msg.chat_type == "group"
    assert json.loads(msg.content)["text"] == "@_user_1 /today"
    assert (msg.mentions[0].key, msg.mentions[0].id.open_id) == ("@_user_1", builder.bot_open_id)


def test_bot_sender_type_is_delivered_as_app(builder: CallbackBuilder, recorder: Recorder) -> None:
    req = builder.message("ou_other_bot", "hi", sender_type="app", mentions=[Mention("@_user_1", "ou_x")])

    _do(_handler(builder, recorder), req)

    assert recorder.messages[0].event.sender.sender_type == "app"


def test_card_action_reaches_the_callback_with_its_value(
    builder: CallbackBuilder, recorder: Recorder
) -> None:
    req = builder.card_action("ou_alice", APPLY, open_message_id="om_card", callback_token="c-tok")

    status, body = _do(_handler(builder, recorder), req)

    assert status == 200
    assert body["toast"]["content"] == "ok"
    [click] = recorder.clicks
    assert click.event.operator.open_id == "ou_alice"
    assert click.event.action.value == APPLY
    assert click.event.context.open_message_id == "om_card"
    assert click.event.token == "c-tok"


def test_encrypted_url_verification_is_answered(builder: CallbackBuilder, recorder: Recorder) -> None:
    status, body = _do(_handler(builder, recorder), builder.challenge("abc123"))

    assert (status, body) == (200, {"challenge": "abc123"})


def test_forged_signature_is_rejected(builder: CallbackBuilder, recorder: Recorder) -> None:
    status, body = _do(_handler(builder, recorder), builder.message("ou_alice", "hi", forge_signature=True))

    assert status == 500
    assert "signature" in body["msg"]
    assert recorder.messages == []


def test_wrong_verification_token_is_rejected(builder: CallbackBuilder, recorder: Recorder) -> None:
    status, _ = _do(
        _handler(builder, recorder), builder.card_action("ou_a", APPLY, open_message_id="om", token="x")
    )

    assert status == 500
    assert recorder.clicks == []


def test_wrong_encrypt_key_cannot_decrypt(builder: CallbackBuilder, recorder: Recorder) -> None:
    status, _ = _do(_handler(builder, recorder, encrypt_key="another-key"), builder.message("ou_alice", "hi"))

    assert status == 500
    assert recorder.messages == []


def test_stale_timestamp_is_still_validly_signed(builder: CallbackBuilder, recorder: Recorder) -> None:
    # The SDK has no freshness check; the app must reject this one itself, so it has to be otherwise valid.
    stale = int(time.time()) - 600
    req = builder.message("ou_alice", "hi", timestamp=stale)

    status, _ = _do(_handler(builder, recorder), req)

    assert req.headers["X-Lark-Request-Timestamp"] == str(stale)
    assert status == 200


def test_plaintext_mode_without_encrypt_key(builder: CallbackBuilder, recorder: Recorder) -> None:
    req = builder.message("ou_alice", "hi", encrypted=False)

    status, _ = _do(_handler(builder, recorder, encrypt_key=""), req)

    assert "encrypt" not in req.json()
    assert status == 200
    assert recorder.messages[0].event.sender.sender_id.open_id == "ou_alice"
