"""Inbound Feishu callbacks: decrypt and verify with lark-oapi, then hand frozen inbound data to the bot.

A card press (the hot path: a burst of presses is answered within Feishu's 3 s) is decrypted with the SDK's
cipher and checked the way the SDK's dispatcher checks it, without the SDK building its event objects;
every other request, and a press that fails any check, goes through the SDK's dispatcher itself."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import lark_oapi as lark
from lark_oapi.core.exception import EventException
from lark_oapi.core.utils.decryptor import AESCipher
from lark_oapi.event.callback.model.p2_card_action_trigger import (
    P2CardActionTrigger,
    P2CardActionTriggerResponse,
)

from bot.inbound import CallbackAnswer, ClickIn, EventIn, Inbound, Mention, MessageIn, Receiver

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Lark-Request-Timestamp"
NONCE_HEADER = "X-Lark-Request-Nonce"
SIGNATURE_HEADER = "X-Lark-Signature"
REQUEST_ID_HEADER = "X-Request-Id"
# lark-oapi reads these with dict.get and exact names; Starlette lower-cases header names.
CANONICAL_HEADERS = (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER, REQUEST_ID_HEADER, "Content-Type")
MAX_SKEW_SECONDS = 300
SUCCESS_BODY = b'{"msg":"success"}'
PRESS_EVENT = "card.action.trigger"
INLINE_DISPATCH_BYTES = 64 * 1024  # a callback up to this size is decrypted and verified on the event loop

# Events an app typically subscribes to that the bot acknowledges without acting (each gets a no-op
# handler, so the SDK never answers 500 "processor not found" and Feishu never retries them).
IGNORED_EVENTS = (
    "register_p2_im_message_message_read_v1",
    "register_p2_im_message_recalled_v1",
    "register_p2_im_message_reaction_created_v1",
    "register_p2_im_message_reaction_deleted_v1",
    "register_p2_im_chat_access_event_bot_p2p_chat_entered_v1",
    "register_p2_im_chat_member_bot_added_v1",
    "register_p2_im_chat_member_bot_deleted_v1",
    "register_p2_im_chat_member_user_added_v1",
    "register_p2_im_chat_member_user_deleted_v1",
    "register_p2_im_chat_member_user_withdrawn_v1",
    "register_p2_im_chat_disbanded_v1",
    "register_p2_im_chat_updated_v1",
)

# What the SDK's catch-all answer says, mapped to our answer: authentication failures are 401, an
# event type without a processor is acknowledged (200, no effect), anything else is a malformed body.
_AUTH_FAILURES = (
    "invalid verification_token",
    "signature verification failed",
    "encrypt_key not found",
    "webhook credentials provider failed",
)
_NO_PROCESSOR = "processor not found"

Sink = Callable[[Inbound], Any]
# The sink of the request being dispatched: the SDK's handlers are registered once, and each call of
# do() (on a worker thread, which copies the caller's context) sees its own sink.
_SINK: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("feishu_sink", default=None)


class Outcome(StrEnum):
    """Why a request got its answer (a metrics label)."""

    OK = "ok"
    CHALLENGE = "challenge"
    DUPLICATE_OR_IGNORED = "ignored"
    UNKNOWN_EVENT = "unknown_event"
    TOO_LARGE = "too_large"
    STALE = "stale"
    UNAUTHORIZED = "unauthorized"
    MALFORMED = "malformed"
    ERROR = "error"


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes
    outcome: Outcome
    kind: str = ""  # message | click | event | challenge | "" (nothing dispatched)


def _field(obj: object, name: str) -> Any:
    """A part of an event: from the SDK's event object, or from the decoded JSON (the card press fast path),
    read the same way; None when absent."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _event_id(data: Any) -> str:
    return _text(_field(_field(data, "header"), "event_id"))


def message_from_sdk(data: Any) -> MessageIn:
    """P2ImMessageReceiveV1 -> MessageIn; any missing part becomes an empty value (checked downstream)."""
    event = getattr(data, "event", None)
    sender = getattr(event, "sender", None)
    sender_id = getattr(sender, "sender_id", None)
    message = getattr(event, "message", None)
    mentions = []
    for m in getattr(message, "mentions", None) or []:
        mention_id = getattr(m, "id", None)
        mentions.append(
            Mention(
                _text(getattr(m, "key", None)),
                _text(getattr(mention_id, "open_id", None)),
                _text(getattr(m, "name", None)),
            )
        )
    return MessageIn(
        event_id=_event_id(data),
        message_id=_text(getattr(message, "message_id", None)),
        chat_id=_text(getattr(message, "chat_id", None)),
        chat_type=_text(getattr(message, "chat_type", None)),
        sender_open_id=_text(getattr(sender_id, "open_id", None)),
        sender_type=_text(getattr(sender, "sender_type", None)),
        message_type=_text(getattr(message, "message_type", None)),
        content=_text(getattr(message, "content", None)),
        mentions=tuple(mentions),
        create_time_ms=_int(getattr(message, "create_time", None)),
    )


def click_from_sdk(
    data: P2CardActionTrigger | Mapping[str, Any], received_at: float | None = None
) -> ClickIn:
    """A card.action.trigger callback (the SDK's object, or its decoded JSON) -> ClickIn; `received_at`:
    when its request arrived (time.monotonic())."""
    event = _field(data, "event")
    action = _field(event, "action")
    context = _field(event, "context")
    return ClickIn(
        event_id=_event_id(data),
        operator_open_id=_text(_field(_field(event, "operator"), "open_id")),
        value=_field(action, "value"),
        tag=_text(_field(action, "tag")),
        open_message_id=_text(_field(context, "open_message_id")),
        open_chat_id=_text(_field(context, "open_chat_id")),
        callback_token=_text(_field(event, "token")),
        received_at=received_at,
        option=_picked(action),
        form=_form(action),
    )


# What the SDK's event object (lark_oapi.event.callback.model.p2_card_action_trigger) requires of a press's
# parts when present: these must be objects (or a list); it checks nothing else. A press of another shape is
# left to the SDK, which refuses it.
_PRESS_PARTS = ("operator", "action", "context")
_ACTION_SHAPE = {"value": dict, "form_value": dict, "options": list}


def _press_shaped(event: object) -> bool:
    if not isinstance(event, dict):
        return False
    if any(event.get(part) is not None and not isinstance(event[part], dict) for part in _PRESS_PARTS):
        return False
    action = event.get("action") or {}
    return all(action.get(k) is None or isinstance(action[k], t) for k, t in _ACTION_SHAPE.items())


def _form(action: Any) -> dict[str, Any]:
    """A form's submitted fields by name (`action.form_value`), else empty."""
    form = _field(action, "form_value")
    return {str(k): v for k, v in form.items()} if isinstance(form, Mapping) else {}


def _picked(action: Any) -> str:
    """What a date-time picker (or a select) sent: `action.option`, else the first text in `form_value`."""
    option = _field(action, "option")
    if isinstance(option, str) and option:
        return option
    form = _field(action, "form_value")
    if isinstance(form, Mapping):
        return next((v for v in form.values() if isinstance(v, str) and v), "")
    return ""


# A bot menu press (application.bot.menu_v6) names a menu item by the event_key the developer console gives
# it; each is answered as the message it stands for, in the presser's chat with the bot.
MENU_EVENT = "application.bot.menu_v6"
MENU_TEXTS = {"today": "/today", "tasks": "/tasks", "settings": "/prefs", "prefs": "/prefs", "help": "/help"}


def menu_key(raw: str) -> str:
    """A menu item's event_key, normalised: "Today", "menu_today" and "smartflow.today" are "today"."""
    key = raw.strip().casefold()
    for prefix in ("smartflow", "menu"):
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1] in ("_", ".", "-", ":"):
            key = key[len(prefix) + 1 :]
    return key


def menu_from_sdk(data: Any) -> MessageIn:
    """P2ApplicationBotMenuV6 -> MessageIn from the presser, in their p2p chat with the bot; the text is the
    command the item stands for ("" for an item the bot does not know: it then answers with help)."""
    event = getattr(data, "event", None)
    operator = getattr(getattr(event, "operator", None), "operator_id", None)
    key = menu_key(_text(getattr(event, "event_key", None))) or "help"
    event_id = _event_id(data)
    return MessageIn(
        event_id=event_id,
        message_id=f"menu:{event_id}" if event_id else "",
        chat_id="",
        chat_type="p2p",
        sender_open_id=_text(getattr(operator, "open_id", None)),
        sender_type="user",
        message_type="text",
        content=json.dumps({"text": MENU_TEXTS.get(key, "")}, ensure_ascii=False),
        create_time_ms=_int(getattr(getattr(data, "header", None), "create_time", None)),  # ms, as messages
        menu_key=key,
    )


def event_from_sdk(data: Any) -> EventIn:
    header = getattr(data, "header", None)
    return EventIn(_event_id(data), _text(getattr(header, "event_type", None)))


CALENDAR_CHANGED_EVENT = "calendar.calendar.event.changed_v4"
MAX_EVENT_USERS = 50  # user_id_list entries read from one event (a calendar shared by a team)


def calendar_changed_from_sdk(data: Any) -> EventIn:
    """P2CalendarCalendarEventChangedV4 -> EventIn with the calendar id and the users' open_ids (the event
    says which calendar changed and for whom, not which event: the bot re-reads their busy time)."""
    event = getattr(data, "event", None)
    users = getattr(event, "user_id_list", None)
    open_ids: list[str] = []
    for user in users if isinstance(users, list) else []:
        open_id = _text(getattr(user, "open_id", None))
        if open_id and open_id not in open_ids and len(open_ids) < MAX_EVENT_USERS:
            open_ids.append(open_id)
    return EventIn(
        _event_id(data),
        CALENDAR_CHANGED_EVENT,
        calendar_id=_text(getattr(event, "calendar_id", None)),
        open_ids=tuple(open_ids),
    )


def _deliver(inbound: Inbound) -> Any:
    sink = _SINK.get()
    if sink is None:  # pragma: no cover - do() is only called with a sink set
        raise RuntimeError("no sink for an inbound Feishu event")
    return sink(inbound)


def _on_message(data: Any) -> None:
    _deliver(message_from_sdk(data))


def _on_menu(data: Any) -> None:
    _deliver(menu_from_sdk(data))


def _on_click(data: P2CardActionTrigger) -> P2CardActionTriggerResponse:
    answer = _deliver(click_from_sdk(data))
    return P2CardActionTriggerResponse(dict(answer) if isinstance(answer, Mapping) else {})


def _on_ignored(data: Any) -> None:
    _deliver(event_from_sdk(data))


def _on_calendar_changed(data: Any) -> None:
    _deliver(calendar_changed_from_sdk(data))


TASK_CHANGED_EVENT = "task.task.update_user_access_v2"


def task_changed_from_sdk(data: Any) -> EventIn:
    """P2TaskTaskUpdateUserAccessV2 -> EventIn with the task's guid (a task visible to a user who subscribed
    through /connect was created, updated or deleted; the event names the task, not the user)."""
    event = getattr(data, "event", None)
    return EventIn(_event_id(data), TASK_CHANGED_EVENT, task_guid=_text(getattr(event, "task_guid", None)))


def _on_task_changed(data: Any) -> None:
    _deliver(task_changed_from_sdk(data))


def build_dispatcher(encrypt_key: str, verification_token: str) -> lark.EventDispatcherHandler:
    """The one dispatcher for both modes; handlers deliver to the sink set for the current call."""
    # The SDK logs a traceback for every refused request (to stdout): a forged-request flood would bury
    # the logs, and the gateway logs each refusal in one line itself.
    builder = (
        lark.EventDispatcherHandler.builder(encrypt_key, verification_token, lark.LogLevel.CRITICAL)
        .register_p2_im_message_receive_v1(_on_message)
        .register_p2_card_action_trigger(_on_click)
        .register_p2_application_bot_menu_v6(_on_menu)
        .register_p2_calendar_calendar_event_changed_v4(_on_calendar_changed)
        .register_p2_task_task_update_user_access_v2(_on_task_changed)
    )
    for name in IGNORED_EVENTS:
        builder = getattr(builder, name)(_on_ignored)
    return builder.build()


def canonical_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names as lark-oapi reads them; absent signature headers become "" so a request without
    them fails the signature check instead of crashing it."""
    lower = {k.lower(): v for k, v in headers.items()}
    return {name: lower.get(name.lower(), "") for name in CANONICAL_HEADERS}


def classify_failure(body: bytes) -> tuple[int, Outcome]:
    """Map the SDK's 500 answer (it catches every exception) to ours."""
    try:
        message = str(json.loads(body).get("msg", ""))
    except (ValueError, AttributeError):
        message = body.decode("utf-8", "replace")
    if any(m in message for m in _AUTH_FAILURES):
        return 401, Outcome.UNAUTHORIZED
    if message.startswith((_NO_PROCESSOR, "callback " + _NO_PROCESSOR)):
        return 200, Outcome.UNKNOWN_EVENT
    return 400, Outcome.MALFORMED


def _json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Gateway:
    """HTTP callbacks in, frozen inbound data to a Receiver, the answer Feishu expects out."""

    def __init__(
        self,
        encrypt_key: str,
        verification_token: str,
        *,
        max_body_bytes: int,
        max_skew_seconds: float = MAX_SKEW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dispatcher = build_dispatcher(encrypt_key, verification_token)
        self._encrypt_key = encrypt_key
        self._verification_token = verification_token
        self._cipher = AESCipher(encrypt_key) if encrypt_key else None
        self.max_body_bytes = max_body_bytes
        self._max_skew = max_skew_seconds
        self._clock = clock

    def _challenge(self, body: bytes) -> str | None:
        """The url_verification challenge of an already verified body (decrypted when encrypted)."""
        try:
            payload = json.loads(body)
            if isinstance(payload, dict) and isinstance(payload.get("encrypt"), str) and self._encrypt_key:
                payload = json.loads(AESCipher(self._encrypt_key).decrypt_str(payload["encrypt"]))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(payload, dict) or payload.get("type") != "url_verification":
            return None
        challenge = payload.get("challenge")
        return challenge if isinstance(challenge, str) else None

    def verified_click(self, body: bytes, headers: Mapping[str, str]) -> dict[str, Any] | None:
        """The decrypted payload of an encrypted, correctly signed card.action.trigger callback, checked as
        lark-oapi's dispatcher checks one when both an encrypt key and a verification token are set (the
        signature over timestamp, nonce, key and body, and the header's token when present); None for
        any other request or any failed check, which is then left to the SDK (to dispatch, or to refuse
        with its own answer)."""
        key, token, cipher = self._encrypt_key, self._verification_token, self._cipher
        if cipher is None or not token:
            return None
        signed = (headers.get(TIMESTAMP_HEADER, "") + headers.get(NONCE_HEADER, "") + key).encode() + body
        expected = hashlib.sha256(signed).hexdigest()
        if not hmac.compare_digest(headers.get(SIGNATURE_HEADER, "").encode(), expected.encode()):
            return None
        try:
            outer = json.loads(body)
            encrypted = outer.get("encrypt") if isinstance(outer, dict) else None
            if not isinstance(encrypted, str) or not encrypted:
                return None
            payload = json.loads(cipher.decrypt_str(encrypted))
        except Exception:  # not JSON, not base64, a bad padding, ...: the SDK says which
            return None
        if not isinstance(payload, dict):
            return None
        header, schema = payload.get("header"), payload.get("schema")
        if not isinstance(schema, str) or not schema or not isinstance(header, dict):
            return None
        if header.get("event_type") != PRESS_EVENT or not _press_shaped(payload.get("event")):
            return None
        said = header.get("token")
        if said is not None and not (
            isinstance(said, str) and said and hmac.compare_digest(said.encode(), token.encode())
        ):
            return None
        return payload

    def fresh(self, timestamp: str) -> bool:
        """A missing timestamp is left to the signature check (it covers the timestamp); a present one
        must be within the allowed skew, either way."""
        if not timestamp:
            return True
        seconds = _int(timestamp)
        return seconds is not None and abs(self._clock() - seconds) <= self._max_skew

    def _dispatch_sync(self, body: bytes, headers: dict[str, str], sink: Sink) -> lark.RawResponse:
        _SINK.set(sink)
        request = lark.RawRequest()
        request.uri = "/feishu"
        request.headers = headers
        request.body = body
        response: lark.RawResponse = self.dispatcher.do(request)
        return response

    async def handle_http(
        self,
        body: bytes,
        headers: Mapping[str, str],
        receiver: Receiver,
        received_at: float | None = None,
    ) -> HttpAnswer:
        """Check, verify and dispatch one callback request (the body already read within the cap);
        `received_at` (time.monotonic()) is when the request arrived: a click's answer is due 3 s later."""
        received_at = time.monotonic() if received_at is None else received_at
        if len(body) > self.max_body_bytes:
            return HttpAnswer(413, _json({"msg": "body too large"}), Outcome.TOO_LARGE)
        canonical = canonical_headers(headers)
        if not self.fresh(canonical[TIMESTAMP_HEADER]):
            return HttpAnswer(401, _json({"msg": "stale request"}), Outcome.STALE)
        if len(body) <= INLINE_DISPATCH_BYTES:
            press = self.verified_click(body, canonical)
            if press is not None:
                return await self._answer(click_from_sdk(press, received_at), receiver)
        captured: list[Inbound] = []
        try:
            # Decryption and verification are synchronous CPU work: about 0.1 ms for a callback of a few
            # KiB, less than handing it to a thread costs (and a thread would only contend for the GIL), so
            # it runs here, in a context of its own; a large body (a long message) goes off the event loop.
            if len(body) <= INLINE_DISPATCH_BYTES:
                response = contextvars.copy_context().run(
                    self._dispatch_sync, body, canonical, captured.append
                )
            else:
                response = await asyncio.to_thread(self._dispatch_sync, body, canonical, captured.append)
        except Exception:  # the SDK catches its own errors; this is a bug in the glue, never a 500 loop
            log.exception("feishu dispatcher failed")
            return HttpAnswer(400, _json({"msg": "bad request"}), Outcome.MALFORMED)
        if response.status_code != 200:
            status, outcome = classify_failure(response.content or b"")
            log.info("feishu callback refused status=%s outcome=%s", status, outcome)
            text = SUCCESS_BODY if status == 200 else _json({"msg": outcome.value})
            return HttpAnswer(status, text, outcome)
        if not captured:
            # The SDK verified the url_verification request but formats its answer without JSON escaping
            # ('{"challenge":"%s"}'): a challenge with a quote or backslash would be answered with broken
            # JSON. Answer with the challenge properly encoded instead.
            challenge = self._challenge(body)
            if challenge is None:
                return HttpAnswer(200, response.content or SUCCESS_BODY, Outcome.CHALLENGE, "challenge")
            return HttpAnswer(200, _json({"challenge": challenge}), Outcome.CHALLENGE, "challenge")
        inbound = captured[0]
        if isinstance(inbound, ClickIn):
            inbound = dataclasses.replace(inbound, received_at=received_at)
        return await self._answer(inbound, receiver)

    async def _answer(self, inbound: Inbound, receiver: Receiver) -> HttpAnswer:
        if isinstance(inbound, ClickIn):
            answer: CallbackAnswer = await receiver.on_click(inbound)
            return HttpAnswer(200, _json(dict(answer)), Outcome.OK, "click")
        if isinstance(inbound, MessageIn):
            await receiver.on_message(inbound)
            return HttpAnswer(200, SUCCESS_BODY, Outcome.OK, "message")
        await receiver.on_event(inbound)
        return HttpAnswer(200, SUCCESS_BODY, Outcome.OK, "event")

    def dispatch_plain(self, payload: bytes, sink: Sink) -> Any:
        """Long-connection frames arrive plaintext and already authenticated: dispatch without the
        checks; an event type without a handler is acknowledged, not raised (which would re-push it)."""
        _SINK.set(sink)
        try:
            return self.dispatcher._do_without_validation(payload)
        except EventException as exc:
            if _NO_PROCESSOR in str(exc):
                log.info("feishu event without a handler ignored")
                return None
            raise
