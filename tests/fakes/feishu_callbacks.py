"""Feishu callbacks built as the platform builds them: v2 envelopes, AES-256-CBC, signed headers."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid as uuid_mod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from Crypto.Cipher import AES  # pycryptodome: already a lark-oapi dependency

TIMESTAMP_HEADER = "X-Lark-Request-Timestamp"
NONCE_HEADER = "X-Lark-Request-Nonce"
SIGNATURE_HEADER = "X-Lark-Signature"


def encrypt(plaintext: bytes, encrypt_key: str) -> str:
    """Feishu's encryption: AES-256-CBC, key sha256(encrypt_key), random IV prefixed, PKCS7, base64."""
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    iv = os.urandom(16)
    pad = 16 - len(plaintext) % 16
    cipher = AES.new(key, AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(plaintext + bytes([pad]) * pad)).decode("ascii")


def decrypt(encrypted: str, encrypt_key: str) -> bytes:
    """The inverse of `encrypt`, for reading what a test built."""
    raw = base64.b64decode(encrypted)
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    plain = AES.new(key, AES.MODE_CBC, raw[:16]).decrypt(raw[16:])
    return plain[: -plain[-1]]


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """X-Lark-Signature: sha256 hex of timestamp + nonce + encrypt_key + the raw body bytes."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    """A callback as it arrives over HTTP: raw body bytes and the headers, canonically named."""

    body: bytes
    headers: dict[str, str]
    payload: dict[str, Any]

    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass(frozen=True)
class Mention:
    key: str
    open_id: str
    name: str = "SmartFlow"


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid_mod.uuid4().hex}"


@dataclass
class CallbackBuilder:
    """Callbacks for one app. Every method returns a SignedRequest; pass options to build bad ones.

    Options: `token="..."` puts another verification token in the envelope, `forge_signature=True` signs
    with the wrong key, `timestamp` (epoch seconds) sets the request time (ten minutes ago makes a stale
    request), `encrypted=False` sends the plaintext envelope (apps without an Encrypt Key).
    """

    encrypt_key: str = "test-encrypt-key"
    verification_token: str = "test-verification-token"
    app_id: str = "cli_fake"
    tenant_key: str = "tenant_fake"
    bot_open_id: str = "ou_bot_smartflow"
    extra_headers: dict[str, str] = field(default_factory=dict)

    # ---- envelopes --------------------------------------------------------------------------------------
    def _header(self, event_type: str, event_id: str | None, create_ms: int, token: str) -> dict[str, Any]:
        return {
            "event_id": event_id or _new_id(""),
            "event_type": event_type,
            "create_time": str(create_ms),
            "token": token,
            "app_id": self.app_id,
            "tenant_key": self.tenant_key,
        }

    def message_event(
        self,
        open_id: str,
        text: str,
        *,
        chat_type: str = "p2p",
        chat_id: str | None = None,
        message_id: str | None = None,
        mentions: Sequence[Mention] = (),
        sender_type: str = "user",
        message_type: str = "text",
        content: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        create_ms: int | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """An im.message.receive_v1 envelope (schema 2.0); mentions appear in text by key (`@_user_1`)."""
        ms = create_ms if create_ms is not None else int(time.time() * 1000)
        body = content if content is not None else {"text": text}
        return {
            "schema": "2.0",
            "header": self._header("im.message.receive_v1", event_id, ms, token or self.verification_token),
            "event": {
                "sender": {
                    "sender_id": {
                        "open_id": open_id,
                        "user_id": f"u_{open_id[3:]}",
                        "union_id": f"on_{open_id[3:]}",
                    },
                    "sender_type": sender_type,
                    "tenant_key": self.tenant_key,
                },
                "message": {
                    "message_id": message_id or _new_id("om_"),
                    "root_id": "",
                    "parent_id": "",
                    "create_time": str(ms),
                    "update_time": str(ms),
                    "chat_id": chat_id or f"oc_{'p2p_' if chat_type == 'p2p' else ''}{open_id[3:]}",
                    "chat_type": chat_type,
                    "message_type": message_type,
                    "content": json.dumps(body, ensure_ascii=False),
                    "mentions": [
                        {
                            "key": m.key,
                            "id": {"open_id": m.open_id, "user_id": "", "union_id": ""},
                            "name": m.name,
                            "tenant_key": self.tenant_key,
                        }
                        for m in mentions
                    ],
                    "user_agent": "Mozilla/5.0 Lark/7.30",
                },
            },
        }

    def group_mention_event(self, open_id: str, text: str, **kwargs: Any) -> dict[str, Any]:
        """A group message that @-mentions the bot: text gets the `@_user_1 ` prefix Feishu puts there."""
        mention = Mention("@_user_1", self.bot_open_id)
        return self.message_event(
            open_id, f"@_user_1 {text}", chat_type="group", mentions=[mention], **kwargs
        )

    def card_action_event(
        self,
        operator_open_id: str,
        value: Mapping[str, Any],
        *,
        open_message_id: str,
        open_chat_id: str | None = None,
        tag: str = "button",
        option: str | None = None,
        form_value: Mapping[str, Any] | None = None,
        name: str | None = None,
        callback_token: str | None = None,
        event_id: str | None = None,
        create_ms: int | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """A card.action.trigger callback (schema 2.0); `value` is the button's callback value, verbatim;
        `option` what a picker sent (e.g. "2026-12-02 18:00 +0800")."""
        ms = create_ms if create_ms is not None else int(time.time() * 1000)
        action: dict[str, Any] = {"value": dict(value), "tag": tag, "timezone": "Asia/Shanghai"}
        if option is not None:
            action["option"] = option
        if form_value is not None:  # a form container's submit button: every field by its name
            action["form_value"] = dict(form_value)
        if name is not None:
            action["name"] = name
        return {
            "schema": "2.0",
            "header": self._header("card.action.trigger", event_id, ms, token or self.verification_token),
            "event": {
                "operator": {
                    "tenant_key": self.tenant_key,
                    "user_id": f"u_{operator_open_id[3:]}",
                    "open_id": operator_open_id,
                    "union_id": f"on_{operator_open_id[3:]}",
                },
                # This token is for the delayed card update (valid 30 minutes), not the verification token.
                "token": callback_token or _new_id("c-"),
                "action": action,
                "host": "im_message",
                "delivery_type": "url_page",
                "context": {
                    "url": "",
                    "preview_token": "",
                    "open_message_id": open_message_id,
                    "open_chat_id": open_chat_id or f"oc_p2p_{operator_open_id[3:]}",
                },
            },
        }

    def bot_menu_event(
        self,
        operator_open_id: str,
        event_key: str,
        *,
        name: str = "Alice",
        event_id: str | None = None,
        create_ms: int | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """An application.bot.menu_v6 event (schema 2.0): who pressed which menu item (its event_key)."""
        ms = create_ms if create_ms is not None else int(time.time() * 1000)
        return {
            "schema": "2.0",
            "header": self._header("application.bot.menu_v6", event_id, ms, token or self.verification_token),
            "event": {
                "operator": {
                    "operator_name": name,
                    "operator_id": {
                        "union_id": f"on_{operator_open_id[3:]}",
                        "user_id": f"u_{operator_open_id[3:]}",
                        "open_id": operator_open_id,
                    },
                },
                "event_key": event_key,
                "timestamp": ms // 1000,
            },
        }

    def bot_menu(self, operator_open_id: str, event_key: str, **event: Any) -> SignedRequest:
        """bot_menu_event(operator_open_id, event_key, **event), signed."""
        return self.sign(self.bot_menu_event(operator_open_id, event_key, **event))

    def calendar_event_changed_event(
        self,
        open_ids: list[str],
        calendar_id: str,
        *,
        event_id: str | None = None,
        create_ms: int | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """A calendar.calendar.event.changed_v4 event (schema 2.0), as Feishu sends it to an app whose user
        subscribed a calendar: the calendar and the users to tell, not which event changed."""
        ms = create_ms if create_ms is not None else int(time.time() * 1000)
        header = self._header(
            "calendar.calendar.event.changed_v4", event_id, ms, token or self.verification_token
        )
        users = [{"union_id": f"on_{o[3:]}", "user_id": f"u_{o[3:]}", "open_id": o} for o in open_ids]
        return {
            "schema": "2.0",
            "header": header,
            "event": {"calendar_id": calendar_id, "user_id_list": users},
        }

    def calendar_event_changed(self, open_ids: list[str], calendar_id: str, **event: Any) -> SignedRequest:
        """calendar_event_changed_event(open_ids, calendar_id, **event), signed."""
        return self.sign(self.calendar_event_changed_event(open_ids, calendar_id, **event))

    def task_changed_event(
        self,
        task_guid: str,
        *,
        event_types: list[str] | None = None,
        event_id: str | None = None,
        create_ms: int | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """A task.task.update_user_access_v2 event (schema 2.0): a task a subscribed user can see changed; it
        names the task and the kinds of change, not the user."""
        ms = create_ms if create_ms is not None else int(time.time() * 1000)
        header = self._header(
            "task.task.update_user_access_v2", event_id, ms, token or self.verification_token
        )
        kinds = event_types if event_types is not None else ["task_completed_update"]
        return {"schema": "2.0", "header": header, "event": {"task_guid": task_guid, "event_types": kinds}}

    def task_changed(self, task_guid: str, **event: Any) -> SignedRequest:
        """task_changed_event(task_guid, **event), signed."""
        return self.sign(self.task_changed_event(task_guid, **event))

    def url_verification(
        self, challenge: str = "challenge-code", *, token: str | None = None
    ) -> dict[str, Any]:
        return {"challenge": challenge, "token": token or self.verification_token, "type": "url_verification"}

    # ---- wire -------------------------------------------------------------------------------------------
    def sign(
        self,
        payload: Mapping[str, Any],
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        forge_signature: bool = False,
        encrypted: bool = True,
    ) -> SignedRequest:
        """Encrypt (unless `encrypted=False`) and sign `payload` as Feishu does."""
        plaintext = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        body = (
            json.dumps({"encrypt": encrypt(plaintext, self.encrypt_key)}).encode() if encrypted else plaintext
        )
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or uuid_mod.uuid4().hex
        key = self.encrypt_key + "-forged" if forge_signature else self.encrypt_key
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: ts,
            NONCE_HEADER: nonce,
            SIGNATURE_HEADER: signature(ts, nonce, key, body),
            "X-Request-Id": _new_id(""),
            **self.extra_headers,
        }
        return SignedRequest(body, headers, dict(payload))

    def message(
        self,
        open_id: str,
        text: str,
        *,
        timestamp: int | None = None,
        forge_signature: bool = False,
        encrypted: bool = True,
        **event: Any,
    ) -> SignedRequest:
        """message_event(open_id, text, **event), signed."""
        return self.sign(
            self.message_event(open_id, text, **event),
            timestamp=timestamp,
            forge_signature=forge_signature,
            encrypted=encrypted,
        )

    def card_action(
        self,
        operator_open_id: str,
        value: Mapping[str, Any],
        *,
        timestamp: int | None = None,
        forge_signature: bool = False,
        encrypted: bool = True,
        **event: Any,
    ) -> SignedRequest:
        """card_action_event(operator_open_id, value, **event), signed."""
        return self.sign(
            self.card_action_event(operator_open_id, value, **event),
            timestamp=timestamp,
            forge_signature=forge_signature,
            encrypted=encrypted,
        )

    def challenge(
        self,
        challenge: str = "challenge-code",
        *,
        token: str | None = None,
        timestamp: int | None = None,
        encrypted: bool = True,
    ) -> SignedRequest:
        """url_verification, signed like every other callback."""
        return self.sign(
            self.url_verification(challenge, token=token), timestamp=timestamp, encrypted=encrypted
        )
