"""Outbound Feishu Open API client: send, reply, patch and delayed-update cards over one pooled connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from bot.feishu.errors import (
    FeishuBadResponseError,
    FeishuCardTooLargeError,
    FeishuError,
    FeishuNetworkError,
    FeishuPermanentError,
    FeishuTimeoutError,
    FeishuTokenError,
    classify,
)
from bot.feishu.ratelimit import Limiter, SlidingWindowLimiter, per_minute_and_second
from bot.feishu.token import DEFAULT_REFRESH_MARGIN_SECONDS, TenantTokenCache

logger = logging.getLogger(__name__)

DEFAULT_DOMAIN = "https://open.feishu.cn"
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"  # noqa: S105 (a URL path)
MESSAGES_PATH = "/open-apis/im/v1/messages"
CARD_UPDATE_PATH = "/open-apis/interactive/v1/card/update"
FREEBUSY_PATH = "/open-apis/calendar/v4/freebusy/list"
BATCH_GET_ID_PATH = "/open-apis/contact/v3/users/batch_get_id"
TASKLIST_TASKS_PATH = "/open-apis/task/v2/tasklists/{guid}/tasks"
TASK_PATH = "/open-apis/task/v2/tasks/{guid}"
BATCH_GET_ID_MAX = 50  # emails, and mobiles, per request
# Feishu allows about 1000 free/busy requests per minute per app (a budget of its own, not the messages').
FREEBUSY_PER_MINUTE = 1000
# Feishu limits each Open API method for the whole app on its own: sending a message, replying, patching a
# card, a delayed card update, a reaction... each 1000 calls a minute and 50 a second (either one over
# answers HTTP 429 with code 99991400). The client counts each of these methods in a bucket of its own.
API_PER_MINUTE = 1000
API_PER_SECOND = 50
MESSAGE_CREATE = "message.create"  # POST /open-apis/im/v1/messages (send_card, send_text)
MESSAGE_REPLY = "message.reply"  # POST /open-apis/im/v1/messages/:message_id/reply
MESSAGE_PATCH = "message.patch"  # PATCH /open-apis/im/v1/messages/:message_id
CARD_UPDATE = "card.update"  # POST /open-apis/interactive/v1/card/update (delayed update)
REACTION_CREATE = "reaction.create"  # POST /open-apis/im/v1/messages/:message_id/reactions
TASKLIST_TASKS = "tasklist.tasks"  # GET /open-apis/task/v2/tasklists/:guid/tasks
TASK_PATCH = "task.patch"  # PATCH /open-apis/task/v2/tasks/:guid (with the app's token)
API_BUCKETS = (
    MESSAGE_CREATE,
    MESSAGE_REPLY,
    MESSAGE_PATCH,
    CARD_UPDATE,
    REACTION_CREATE,
    TASKLIST_TASKS,
    TASK_PATCH,
)
# Feishu caps the create/PATCH request body of a card at 30 KB and a delayed-update card at 100 KB.
CARD_MAX_BYTES = 30 * 1024
DELAYED_CARD_MAX_BYTES = 100 * 1024
UUID_MAX_CHARS = 50

JsonObject = dict[str, Any]


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _card_json(card: Mapping[str, Any]) -> str:
    try:
        return json.dumps(card, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise FeishuPermanentError("bad_card", "card is not JSON-serialisable") from exc


def _check_size(body: bytes, limit: int) -> None:
    if len(body) > limit:
        raise FeishuCardTooLargeError("card_too_large", f"card request is {len(body)} bytes, limit {limit}")


def _check_uuid(uuid: str) -> None:
    if not uuid or len(uuid) > UUID_MAX_CHARS:
        raise FeishuPermanentError("bad_uuid", f"uuid must be 1..{UUID_MAX_CHARS} characters")


def receive_id_type_of(receive_id: str) -> str:
    """Feishu's receive_id_type for an id, from its prefix (oc_ chat, on_ union, otherwise open_id)."""
    if receive_id.startswith("oc_"):
        return "chat_id"
    if receive_id.startswith("on_"):
        return "union_id"
    return "open_id"


class FeishuClient:
    """Async client for the few Open API calls the bot makes.

    Why raw HTTP and not lark-oapi's `acreate()`: in lark-oapi 1.7.5 each async call opens a
    new `httpx.AsyncClient` (no connection pooling), the tenant token is fetched with blocking
    `requests` on the event loop when the cache is empty, a token refused with 99991663 is never
    evicted, non-2xx answers are not raised, and importing the SDK costs ~3 s. The endpoints used
    here are plain JSON, so this client speaks them directly over one pooled `httpx.AsyncClient`:
    explicit timeouts, an async single-flight token cache refreshed ahead of expiry and evicted and
    retried once on a token error, a per-recipient throttle and each method's own limits for the app (per
    minute and per second), and one error tree. lark-oapi remains
    the tool for the inbound side (decrypt and verify callbacks).

    Every public call is bounded by `timeout_seconds` in total (token fetch, request, one token retry), so
    the caller's own deadline only needs to exceed it; the throttle wait comes before that budget and sends
    nothing, so cancelling it is safe.
    """

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        domain: str = DEFAULT_DOMAIN,
        timeout_seconds: float = 10.0,
        max_per_user_per_second: int = 5,
        *,
        max_per_api_per_second: int = API_PER_SECOND,
        max_per_api_per_minute: int = API_PER_MINUTE,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        token_refresh_margin_seconds: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        max_connections: int = 50,
        freebusy_per_minute: int = FREEBUSY_PER_MINUTE,
        limiters: Mapping[str, Limiter] | None = None,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0")
        self._app_id = app_id
        self._app_secret = app_secret
        self._timeout = timeout_seconds
        self._http = httpx.AsyncClient(
            base_url=domain.rstrip("/"),
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
            headers={"User-Agent": "smartflow-bot"},
        )
        # httpcore's pool looks over every queued request and every connection (a syscall each) whenever a
        # connection frees up: with a hundred calls queued that costs more than the calls. They wait here
        # instead, in order, and the pool holds at most `max_connections`.
        self._in_flight = asyncio.Semaphore(max_connections)
        self._tokens = TenantTokenCache(
            self._fetch_token, clock=clock, refresh_margin_seconds=token_refresh_margin_seconds
        )
        # `limiters` ("user", "freebusy" and the API_BUCKETS, each of those its per-minute and per-second
        # limit together) replace this process's own, e.g. with ones every process on the database shares.
        shared: dict[str, Limiter | None] = dict(limiters or {})
        self._per_user: Limiter = shared.pop("user", None) or SlidingWindowLimiter(
            max_per_user_per_second, clock=clock, sleep=sleep
        )
        self._freebusy: Limiter = shared.pop("freebusy", None) or SlidingWindowLimiter(
            freebusy_per_minute, window=60.0, clock=clock, sleep=sleep
        )
        self._per_api: dict[str, Limiter] = {
            api: shared.pop(api, None)
            or per_minute_and_second(max_per_api_per_minute, max_per_api_per_second, clock=clock, sleep=sleep)
            for api in API_BUCKETS
        }
        if shared:
            raise ValueError(f"unknown limiters: {', '.join(sorted(shared))}")

    @property
    def timeout_seconds(self) -> float:
        """The most one public call (after its throttle wait) can take."""
        return self._timeout

    async def send_card(self, open_id: str, card: Mapping[str, Any], uuid: str) -> str:
        """Send an interactive card to a user; returns message_id. A `uuid` repeated within 1 h is a no-op."""
        return await self._create(open_id, "open_id", "interactive", _card_json(card), uuid)

    async def send_text(
        self, receive_id: str, text: str, uuid: str, receive_id_type: str | None = None
    ) -> str:
        """Send text to an open_id or chat_id (type inferred from the prefix); returns message_id."""
        kind = receive_id_type or receive_id_type_of(receive_id)
        return await self._create(
            receive_id, kind, "text", json.dumps({"text": text}, ensure_ascii=False), uuid
        )

    async def reply_text(self, message_id: str, text: str, uuid: str) -> str:
        """Reply to a message in its chat; returns the new message_id."""
        _check_uuid(uuid)
        body = {"msg_type": "text", "content": json.dumps({"text": text}, ensure_ascii=False), "uuid": uuid}
        data = await self._call(
            "im.message.reply",
            "POST",
            f"{MESSAGES_PATH}/{message_id}/reply",
            _dumps(body),
            f"reply:{message_id}",
            api=MESSAGE_REPLY,
        )
        return self._message_id(data)

    async def patch_card(self, message_id: str, card: Mapping[str, Any]) -> None:
        """Replace the content of a card this bot sent (the card must have `update_multi: true`)."""
        payload = _dumps({"content": _card_json(card)})
        _check_size(payload, CARD_MAX_BYTES)
        # Feishu allows 5 updates per second per message, the same budget as per user.
        await self._call(
            "im.message.patch",
            "PATCH",
            f"{MESSAGES_PATH}/{message_id}",
            payload,
            f"msg:{message_id}",
            api=MESSAGE_PATCH,
        )

    async def delayed_update(self, token: str, card: Mapping[str, Any]) -> None:
        """Update a card after its callback was answered, with the callback's token (valid 30 min, twice)."""
        payload = _dumps({"token": token, "card": card})
        _check_size(payload, DELAYED_CARD_MAX_BYTES)
        await self._call("interactive.card.update", "POST", CARD_UPDATE_PATH, payload, None, api=CARD_UPDATE)

    async def add_reaction(self, message_id: str, emoji_type: str) -> str:
        """React to a message (scope im:message.reactions:write_only); returns the reaction_id."""
        body = {"reaction_type": {"emoji_type": emoji_type}}
        data = await self._call(
            "im.message.reaction.create",
            "POST",
            f"{MESSAGES_PATH}/{message_id}/reactions",
            _dumps(body),
            f"msg:{message_id}",
            api=REACTION_CREATE,
        )
        answer = data.get("data")
        reaction_id = answer.get("reaction_id") if isinstance(answer, dict) else None
        if not isinstance(reaction_id, str) or not reaction_id:
            raise FeishuBadResponseError("bad_response", "reaction answer without a reaction_id")
        return reaction_id

    async def freebusy(self, open_id: str, time_min: str, time_max: str) -> list[JsonObject]:
        """A user's busy intervals between two RFC 3339 instants (`data.freebusy_list`: start_time, end_time),
        with the app's token: every calendar of theirs, external ones included, no titles."""
        payload = _dumps(
            {
                "time_min": time_min,
                "time_max": time_max,
                "user_id": open_id,
                "only_busy": True,
                "include_external_calendar": True,
            }
        )
        async with self._freebusy.slot("app"):
            body = await self._within_budget(
                "calendar.freebusy.list", "POST", FREEBUSY_PATH, payload, {"user_id_type": "open_id"}
            )
        data = body.get("data")
        items = data.get("freebusy_list") if isinstance(data, dict) else None
        if items is None and isinstance(data, dict):
            return []  # no busy time: Feishu may leave the list out
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise FeishuBadResponseError("bad_response", "free/busy answer without data.freebusy_list")
        return items

    async def batch_get_id(
        self, emails: Sequence[str] = (), mobiles: Sequence[str] = ()
    ) -> dict[tuple[str, str], str | None]:
        """The open_ids of users by email and by mobile number: {("email"|"mobile", value): open_id, or None
        for one Feishu does not know (or the app may not see)}. Scope contact:user.id:readonly."""
        found: dict[tuple[str, str], str | None] = {("email", e): None for e in emails}
        found.update({("mobile", m): None for m in mobiles})
        for start in range(0, max(len(emails), len(mobiles), 1), BATCH_GET_ID_MAX):
            chunk = {
                "emails": list(emails[start : start + BATCH_GET_ID_MAX]),
                "mobiles": list(mobiles[start : start + BATCH_GET_ID_MAX]),
            }
            body = await self._within_budget(
                "contact.user.batch_get_id",
                "POST",
                BATCH_GET_ID_PATH,
                _dumps({k: v for k, v in chunk.items() if v} or {"emails": []}),
                {"user_id_type": "open_id"},
            )
            data = body.get("data")
            users = data.get("user_list") if isinstance(data, dict) else None
            if not isinstance(users, list):
                raise FeishuBadResponseError("bad_response", "batch_get_id answer without data.user_list")
            for item in users:
                if not isinstance(item, dict):
                    continue
                user_id = item.get("user_id")
                for kind in ("email", "mobile"):
                    value = item.get(kind)
                    if isinstance(value, str) and (kind, value) in found and isinstance(user_id, str):
                        found[kind, value] = user_id or None
        return found

    async def tasklist_tasks(
        self, tasklist_guid: str, *, page_token: str | None, page_size: int
    ) -> JsonObject:
        """One page of a task list's tasks (`data`: items, has_more, page_token), with the app's token: the
        app must be a member of the list. Assignees' ids are open_ids."""
        params = {"page_size": str(page_size), "user_id_type": "open_id"}
        if page_token:
            params["page_token"] = page_token
        path = TASKLIST_TASKS_PATH.format(guid=quote(tasklist_guid, safe=""))
        async with self._per_api[TASKLIST_TASKS].slot("app"):
            body = await self._within_budget("task.v2.tasklist.tasks", "GET", path, b"", params)
        data = body.get("data")
        if not isinstance(data, dict):
            raise FeishuBadResponseError("bad_response", "task list answer without data")
        return data

    async def patch_task(self, guid: str, body: Mapping[str, Any]) -> None:
        """Update a task (`task` and `update_fields`) with the app's token: the app must be allowed to edit
        it (a member of its list who may edit)."""
        path = TASK_PATH.format(guid=quote(guid, safe=""))
        async with self._per_api[TASK_PATCH].slot("app"):
            await self._within_budget(
                "task.v2.tasks.patch", "PATCH", path, _dumps(body), {"user_id_type": "open_id"}
            )

    async def check_token(self) -> None:
        """Fetch (or reuse) the tenant token: FeishuError when the app id or secret is refused."""
        async with asyncio.timeout(self._timeout):
            await self._tokens.get()

    async def probe_send_scope(self) -> None:
        """A message create without a recipient, which sends nothing: Feishu checks the app's scope first
        (99991672 when it is missing), then refuses the empty request with a field error. Always raises
        FeishuError; the caller reads its code."""
        await self._within_budget(
            "im.message.create(probe)", "POST", MESSAGES_PATH, b"{}", {"receive_id_type": "open_id"}
        )

    async def aclose(self) -> None:
        for limiter in (self._per_user, self._freebusy, *self._per_api.values()):
            close = getattr(limiter, "aclose", None)
            if close is not None:
                await close()  # a shared limiter writes the releases it still holds
        await self._http.aclose()

    async def __aenter__(self) -> FeishuClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _create(
        self, receive_id: str, receive_id_type: str, msg_type: str, content: str, uuid: str
    ) -> str:
        _check_uuid(uuid)
        payload = _dumps({"receive_id": receive_id, "msg_type": msg_type, "content": content, "uuid": uuid})
        if msg_type == "interactive":
            _check_size(payload, CARD_MAX_BYTES)
        data = await self._call(
            "im.message.create",
            "POST",
            MESSAGES_PATH,
            payload,
            receive_id,
            api=MESSAGE_CREATE,
            params={"receive_id_type": receive_id_type},
        )
        return self._message_id(data)

    @staticmethod
    def _message_id(body: JsonObject) -> str:
        data = body.get("data")
        message_id = data.get("message_id") if isinstance(data, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise FeishuBadResponseError("bad_response", "success without data.message_id")
        return message_id

    async def _call(
        self,
        name: str,
        method: str,
        path: str,
        payload: bytes,
        limit_key: str | None,
        *,
        api: str,
        params: Mapping[str, str] | None = None,
    ) -> JsonObject:
        async with contextlib.AsyncExitStack() as stack:
            if limit_key is not None:
                await stack.enter_async_context(self._per_user.slot(limit_key))
            await stack.enter_async_context(self._per_api[api].slot("app"))
            return await self._within_budget(name, method, path, payload, params)

    async def _within_budget(
        self, name: str, method: str, path: str, payload: bytes, params: Mapping[str, str] | None
    ) -> JsonObject:
        try:
            async with asyncio.timeout(self._timeout):
                token = await self._tokens.get()
                try:
                    return await self._exchange(name, method, path, payload, token, params=params)
                except FeishuTokenError:
                    # The platform can revoke a token before its expiry (secret reset, app re-release).
                    self._tokens.evict(token)
                    token = await self._tokens.get()
                    return await self._exchange(name, method, path, payload, token, params=params)
        except TimeoutError as exc:
            logger.warning("feishu %s gave up after %.1fs", name, self._timeout, extra={"feishu_call": name})
            raise FeishuTimeoutError("timeout", f"{name} took longer than {self._timeout}s") from exc

    async def _fetch_token(self) -> tuple[str, float]:
        payload = _dumps({"app_id": self._app_id, "app_secret": self._app_secret})
        body = await self._exchange("auth.tenant_access_token", "POST", TOKEN_PATH, payload, None)
        token, expire = body.get("tenant_access_token"), body.get("expire")
        if not isinstance(token, str) or not token or not isinstance(expire, int | float) or expire <= 0:
            raise FeishuBadResponseError("bad_response", "token answer without tenant_access_token/expire")
        return token, float(expire)

    async def _exchange(
        self,
        name: str,
        method: str,
        path: str,
        payload: bytes,
        token: str | None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> JsonObject:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        try:
            async with self._in_flight:
                resp = await self._http.request(method, path, content=payload, headers=headers, params=params)
        except httpx.TimeoutException as exc:
            self._log(name, None, None, started, None)
            raise FeishuTimeoutError("timeout", type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            self._log(name, None, None, started, None)
            raise FeishuNetworkError("network", type(exc).__name__) from exc
        body: object
        try:
            body = json.loads(resp.content)
        except ValueError:
            body = None
        code: int | None = None
        message = ""
        if isinstance(body, dict):
            raw_code, raw_msg = body.get("code"), body.get("msg")
            code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
            message = raw_msg if isinstance(raw_msg, str) else ""
        error: FeishuError | None = classify(resp.status_code, code, message, resp.headers)
        self._log(name, resp.status_code, code, started, resp.headers.get("x-tt-logid"))
        if error is not None:
            raise error
        assert isinstance(body, dict)  # classify() only passes code 0, which needs a JSON object
        return body

    @staticmethod
    def _log(name: str, status: int | None, code: int | None, started: float, log_id: str | None) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        ok = status is not None and 200 <= status < 300 and code == 0
        logger.log(
            logging.INFO if ok else logging.WARNING,
            "feishu %s status=%s code=%s elapsed_ms=%.1f log_id=%s",
            name,
            status if status is not None else "error",
            code,
            elapsed_ms,
            log_id,
            extra={"feishu_call": name, "http_status": status, "feishu_code": code, "elapsed_ms": elapsed_ms},
        )
