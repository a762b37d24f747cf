"""A stateful fake Feishu Open API on loopback: tokens, messages, replies, PATCH, card updates, user
authorization (fake_feishu_oauth), faults."""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import math
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.fake_feishu_calendar import (
    EVENT_PATH,
    EVENTS_PATH,
    FREEBUSY_PATH,
    INSTANCE_VIEW_PATH,
    PRIMARY_PATH,
    SUBSCRIPTION_PATH,
    UNSUBSCRIPTION_PATH,
    FakeCalendars,
)
from tests.fakes.fake_feishu_oauth import TOKEN_PATH as OAUTH_TOKEN_PATH
from tests.fakes.fake_feishu_oauth import USER_INFO_PATH, FakeOAuth
from tests.fakes.fake_feishu_tasks import (
    SUBSCRIPTION_PATH as TASK_SUBSCRIPTION_PATH,
)
from tests.fakes.fake_feishu_tasks import TASK_PATH, TASKLIST_TASKS_PATH, TASKS_PATH, FakeTasks

ENDPOINTS = (
    "token", "create", "reply", "patch", "card_update", "freebusy", "reaction", "oauth_token", "user_info",
    "calendar_primary", "event_create", "event_patch", "event_delete", "instance_view",
    "event_subscribe", "event_unsubscribe",
    "task_list", "task_patch", "tasklist_tasks", "task_subscribe",
)  # fmt: skip
RECEIVE_ID_TYPES = ("open_id", "user_id", "union_id", "email", "chat_id")
UUID_WINDOW_SECONDS = 3600.0
CARD_MAX_BYTES = 30 * 1024
TOKEN_REUSE_SECONDS = 1800.0
BATCH_GET_ID_PATH = "/open-apis/contact/v3/users/batch_get_id"
# The scopes each path accepts (any one of them will do), as Feishu's developer console lists them.
SCOPES_OF: dict[str, tuple[str, ...]] = {
    "/open-apis/im/v1/messages": ("im:message", "im:message:send_as_bot"),
    "/open-apis/contact/v3/users/batch_get_id": ("contact:user.id:readonly",),
    "/open-apis/calendar/v4/freebusy/list": ("calendar:calendar.free_busy:read",),
}
REACTION_SCOPES = ("im:message.reactions:write_only", "im:message.reactions:write")
MISSING_SCOPE = 99991672


@dataclass(frozen=True)
class Fault:
    """One injected answer: wait `delay`, then answer with this error (or normally if there is none)."""

    status: int = 200
    code: int | None = None
    msg: str = ""
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)
    raw_body: str | None = None

    @property
    def is_error(self) -> bool:
        return self.status != 200 or self.code not in (None, 0) or self.raw_body is not None

    @classmethod
    def rate_limited(cls, reset_seconds: int = 1) -> Fault:
        return cls(
            429,
            99991400,
            "request trigger frequency limit",
            headers={"x-ogw-ratelimit-reset": str(reset_seconds)},
        )

    @classmethod
    def user_rate_limited(cls) -> Fault:
        return cls(400, 230020, "This operation triggers the frequency limit.")

    @classmethod
    def token_expired(cls) -> Fault:
        return cls(
            400,
            99991663,
            "Invalid access token for authorization. Please make a request with token attached.",
        )

    @classmethod
    def server_error(cls, status: int = 502) -> Fault:
        return cls(status, raw_body="<html><body>502 Bad Gateway</body></html>")

    @classmethod
    def invalid_content(cls) -> Fault:
        return cls(400, 230001, "Your request contains an invalid request parameter.")

    @classmethod
    def slow(cls, delay: float) -> Fault:
        return cls(delay=delay)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Fault:
        return cls(
            status=int(d.get("status", 200)),
            code=d.get("code"),
            msg=str(d.get("msg", "")),
            delay=float(d.get("delay", 0.0)),
            headers=dict(d.get("headers", {})),
            raw_body=d.get("raw_body"),
        )


@dataclass(frozen=True)
class FakeMessage:
    message_id: str
    receive_id: str
    receive_id_type: str
    msg_type: str
    content: str
    uuid: str | None
    token: str
    created_at: float
    parent_id: str | None = None

    @property
    def card(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.content)
        return value

    @property
    def text(self) -> str:
        return str(json.loads(self.content).get("text", ""))


@dataclass(frozen=True)
class FakePatch:
    message_id: str
    content: str
    at: float = 0.0  # time.perf_counter() when it arrived (benchmarks: when the card became final)

    @property
    def card(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.content)
        return value


@dataclass(frozen=True)
class FakeReaction:
    message_id: str
    emoji_type: str
    reaction_id: str
    at: float = 0.0  # time.perf_counter() when it arrived


@dataclass(frozen=True)
class FakeCardUpdate:
    token: str
    card: dict[str, Any]
    at: float = 0.0  # time.perf_counter() when it arrived (benchmarks: when the card became final)


def _error(status: int, code: int, msg: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg}, status_code=status, headers=dict(headers or {}))


class FakeFeishu:
    """The platform's state. Thread-safe: the server runs on its own thread, tests read from theirs."""

    def __init__(
        self,
        app_id: str = "cli_fake",
        app_secret: str = "fake-secret",
        *,
        token_expire: int = 7200,
        enforce_limits: bool = False,
        user_qps: int = 5,
        app_qps: int = 50,
        app_per_minute: int = 1000,
        clock: Callable[[], float] = time.time,
        limits_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.token_expire = token_expire
        self.enforce_limits = enforce_limits
        self.user_qps = user_qps
        self.app_qps = app_qps  # per API (create, reply, patch, card_update, reaction), like Feishu's
        self.app_per_minute = app_per_minute  # per API too
        self._clock = clock
        self.limits_clock = limits_clock  # what the enforced limits count seconds on
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.calendars = FakeCalendars(self)
        self.oauth = FakeOAuth(self)
        self.tasks = FakeTasks(self)
        self.reset()
        self.app = self._build_app()

    # ---- test-facing API -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything: messages, tokens, faults, counters."""
        with self._lock:
            self._messages: list[FakeMessage] = []
            self._by_id: dict[str, FakeMessage] = {}
            self._current: dict[str, str] = {}
            self._uuids: dict[str, tuple[str, float]] = {}
            self._patches: list[FakePatch] = []
            self._card_updates: list[FakeCardUpdate] = []
            self._reactions: list[FakeReaction] = []
            self._tokens: dict[str, float] = {}
            self._latest_token: str | None = None
            self._token_requests = 0
            self._requests: collections.Counter[str] = collections.Counter()
            self._faults: dict[str, collections.deque[Fault]] = {e: collections.deque() for e in ENDPOINTS}
            self._windows: dict[str, collections.deque[float]] = {}
            self._throttled = 0
            self._denied_scopes: set[str] = set()
            self._directory: dict[tuple[str, str], str] = {}  # ("email"|"mobile", value) -> open_id
        self.calendars.reset()
        self.oauth.reset()
        self.tasks.reset()

    def inject(self, endpoint: str, *faults: Fault) -> None:
        """Queue faults for the next requests to `endpoint` (one of ENDPOINTS), in order."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        with self._lock:
            self._faults[endpoint].extend(faults)

    def deny_scopes(self, *scopes: str) -> None:
        """Act as an app that was not granted these scopes: a call that needs one of them gets 99991672."""
        with self._lock:
            self._denied_scopes.update(scopes)

    def add_directory_user(
        self, open_id: str, *, email: str | None = None, mobile: str | None = None
    ) -> None:
        """A user of the tenant that batch_get_id finds by email and/or mobile."""
        with self._lock:
            if email:
                self._directory["email", email] = open_id
            if mobile:
                self._directory["mobile", mobile] = open_id

    def revoke_tokens(self) -> None:
        """Invalidate every issued token early, as a secret reset or app re-release does."""
        with self._lock:
            self._tokens.clear()
            self._latest_token = None

    @property
    def messages(self) -> list[FakeMessage]:
        with self._lock:
            return list(self._messages)

    def messages_to(self, receive_id: str) -> list[FakeMessage]:
        return [m for m in self.messages if m.receive_id == receive_id]

    @property
    def patches(self) -> list[FakePatch]:
        with self._lock:
            return list(self._patches)

    @property
    def reactions(self) -> list[FakeReaction]:
        with self._lock:
            return list(self._reactions)

    @property
    def card_updates(self) -> list[FakeCardUpdate]:
        with self._lock:
            return list(self._card_updates)

    @property
    def token_requests(self) -> int:
        with self._lock:
            return self._token_requests

    @property
    def throttled(self) -> int:
        """Requests refused by the enforced rate limits."""
        with self._lock:
            return self._throttled

    def requests(self, endpoint: str) -> int:
        """Requests that reached `endpoint`, faults included."""
        with self._lock:
            return self._requests[endpoint]

    def current_content(self, message_id: str) -> str:
        """The message content after every PATCH."""
        with self._lock:
            return self._current[message_id]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "messages": [asdict(m) for m in self._messages],
                "patches": [asdict(p) for p in self._patches],
                "card_updates": [asdict(u) for u in self._card_updates],
                "token_requests": self._token_requests,
                "requests": dict(self._requests),
                "throttled": self._throttled,
            }

    # ---- HTTP -----------------------------------------------------------------------------------------
    def _build_app(self) -> Starlette:
        m = "/open-apis/im/v1/messages"
        return Starlette(
            routes=[
                Route("/open-apis/auth/v3/tenant_access_token/internal", self._token, methods=["POST"]),
                Route(m, self._create, methods=["POST"]),
                Route(m + "/{message_id}/reply", self._reply, methods=["POST"]),
                Route(m + "/{message_id}", self._patch, methods=["PATCH"]),
                Route(m + "/{message_id}/reactions", self._react, methods=["POST"]),
                Route("/open-apis/interactive/v1/card/update", self._card_update, methods=["POST"]),
                Route(FREEBUSY_PATH, self.calendars.freebusy, methods=["POST"]),
                Route(PRIMARY_PATH, self.calendars.primary, methods=["POST"]),
                Route(INSTANCE_VIEW_PATH, self.calendars.instance_view, methods=["GET"]),
                Route(SUBSCRIPTION_PATH, self.calendars.subscribe, methods=["POST"]),
                Route(UNSUBSCRIPTION_PATH, self.calendars.unsubscribe, methods=["POST"]),
                Route(EVENTS_PATH, self.calendars.create_event, methods=["POST"]),
                Route(EVENT_PATH, self.calendars.patch_event, methods=["PATCH"]),
                Route(EVENT_PATH, self.calendars.delete_event, methods=["DELETE"]),
                Route(BATCH_GET_ID_PATH, self._batch_get_id, methods=["POST"]),
                Route(OAUTH_TOKEN_PATH, self.oauth.token, methods=["POST"]),
                Route(USER_INFO_PATH, self.oauth.user_info, methods=["GET"]),
                Route(TASKS_PATH, self.tasks.list_tasks, methods=["GET"]),
                Route(TASK_PATH, self.tasks.patch_task, methods=["PATCH"]),
                Route(TASKLIST_TASKS_PATH, self.tasks.list_tasklist_tasks, methods=["GET"]),
                Route(TASK_SUBSCRIPTION_PATH, self.tasks.subscribe, methods=["POST"]),
                Route("/_admin/state", self._admin_state, methods=["GET"]),
                Route("/_admin/faults", self._admin_faults, methods=["POST"]),
                Route("/_admin/reset", self._admin_reset, methods=["POST"]),
                Route("/_admin/revoke_tokens", self._admin_revoke, methods=["POST"]),
                Route("/_admin/config", self._admin_config, methods=["POST"]),
            ]
        )

    async def _prelude(self, endpoint: str) -> Response | None:
        """Count the request and play the next queued fault; a Response means: answer with it."""
        with self._lock:
            self._requests[endpoint] += 1
            queue = self._faults[endpoint]
            fault = queue.popleft() if queue else None
        if fault is None:
            return None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if not fault.is_error:
            return None
        if fault.raw_body is not None:
            return Response(
                fault.raw_body, status_code=fault.status, headers=dict(fault.headers), media_type="text/html"
            )
        return _error(fault.status, fault.code or 0, fault.msg, fault.headers)

    def _check_auth(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:]:
            return _error(400, 99991661, "Missing access token for authorization.")
        with self._lock:
            expires_at = self._tokens.get(auth[7:])
        if expires_at is None or expires_at <= self._clock():
            return _error(400, 99991663, "Invalid access token for authorization.")
        return self._check_scope(request)

    def _check_scope(self, request: Request) -> Response | None:
        """Feishu's answer when the app lacks every scope the API accepts (HTTP 400, code 99991672)."""
        path = request.url.path
        accepted = SCOPES_OF.get(path) or next(
            (v for k, v in SCOPES_OF.items() if k.startswith("/open-apis/im/") and path.startswith(k)), ()
        )
        with self._lock:
            missing = bool(accepted) and all(scope in self._denied_scopes for scope in accepted)
        if not missing:
            return None
        listed = ", ".join(accepted)
        log_id = f"fake{next(self._ids):012d}"
        body = {
            "code": MISSING_SCOPE,
            "msg": (
                f"Access denied. One of the following scopes is required: [{listed}]."
                f"应用未开通所需的权限：[{listed}]，点击链接申请并开通任一权限即可："
                f"https://open.feishu.cn/app/{self.app_id}/auth?q={','.join(accepted)}"
                "&op_from=openapi&token_type=tenant"
            ),
            "error": {
                "log_id": log_id,
                "troubleshooter": (
                    f"排查建议查看(Troubleshooting suggestions): https://open.feishu.cn/search?log_id={log_id}"
                ),
                "permission_violations": [{"type": "action_scope_required", "subject": s} for s in accepted],
            },
        }
        return JSONResponse(body, status_code=400)

    def _throttle(self, api: str, key: str | None) -> Response | None:
        """Feishu's limits when enforced (the caller holds the lock): 5 QPS per recipient or message `key`
        (230020), and for the app each API (`api`: create, reply, patch, card_update, reaction) on its own
        `app_qps` a second and `app_per_minute` a minute (HTTP 429, code 99991400, and
        x-ogw-ratelimit-reset: the seconds until the window lets one in again). A refused call counts
        nowhere."""
        if not self.enforce_limits:
            return None
        now = self.limits_clock()
        limits = [(f"{api}:second", self.app_qps, 1.0), (f"{api}:minute", self.app_per_minute, 60.0)]
        if key is not None:
            limits.insert(0, (f"user:{key}", self.user_qps, 1.0))
        for k, limit, span in limits:
            window = self._windows.setdefault(k, collections.deque())
            while window and now - window[0] >= span:
                window.popleft()
            if len(window) >= limit:
                self._throttled += 1
                if k.startswith("user:"):
                    return _error(400, 230020, "This operation triggers the frequency limit.")
                reset = max(1, math.ceil(window[0] + span - now))
                return _error(
                    429, 99991400, "request trigger frequency limit", {"x-ogw-ratelimit-reset": str(reset)}
                )
        for k, _, _ in limits:
            self._windows[k].append(now)
        return None

    async def _token(self, request: Request) -> Response:
        if (early := await self._prelude("token")) is not None:
            return early
        body = await request.json()
        with self._lock:
            self._token_requests += 1
            if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
                return _error(400, 10014, "app secret invalid")
            now = self._clock()
            latest = self._latest_token
            # Like Feishu: the same token while it has more than 30 minutes left, a new one after that.
            if latest is not None and self._tokens.get(latest, 0) - now > TOKEN_REUSE_SECONDS:
                return JSONResponse(
                    {
                        "code": 0,
                        "msg": "ok",
                        "tenant_access_token": latest,
                        "expire": int(self._tokens[latest] - now),
                    }
                )
            token = f"t-fake-{next(self._ids)}"
            self._tokens[token] = now + self.token_expire
            self._latest_token = token
        return JSONResponse(
            {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": self.token_expire}
        )

    async def _create(self, request: Request) -> Response:
        if (early := await self._prelude("create")) is not None:
            return early
        if (denied := self._check_auth(request)) is not None:
            return denied
        raw = await request.body()
        body = json.loads(raw)
        id_type = request.query_params.get("receive_id_type", "")
        receive_id, msg_type, content = body.get("receive_id"), body.get("msg_type"), body.get("content")
        if id_type not in RECEIVE_ID_TYPES or not receive_id or not msg_type or not isinstance(content, str):
            return _error(400, 99992402, "field validation failed")
        return self._store(request, raw, receive_id, id_type, msg_type, content, body.get("uuid"), None)

    async def _reply(self, request: Request) -> Response:
        if (early := await self._prelude("reply")) is not None:
            return early
        if (denied := self._check_auth(request)) is not None:
            return denied
        raw = await request.body()
        body = json.loads(raw)
        with self._lock:
            target = self._by_id.get(request.path_params["message_id"])
        if target is None:
            return _error(400, 230011, "The message was withdrawn or not found.")
        msg_type, content = body.get("msg_type"), body.get("content")
        if not msg_type or not isinstance(content, str):
            return _error(400, 99992402, "field validation failed")
        return self._store(
            request,
            raw,
            target.receive_id,
            target.receive_id_type,
            msg_type,
            content,
            body.get("uuid"),
            target.message_id,
        )

    def _store(
        self,
        request: Request,
        raw: bytes,
        receive_id: str,
        id_type: str,
        msg_type: str,
        content: str,
        uuid: str | None,
        parent_id: str | None,
    ) -> Response:
        try:
            parsed = json.loads(content)
        except ValueError:
            return _error(400, 230001, "Your request contains an invalid request parameter: content.")
        if msg_type == "interactive" and (not isinstance(parsed, dict) or len(raw) > CARD_MAX_BYTES):
            return _error(400, 230025, "The length of the message content reaches its limit.")
        with self._lock:
            now = self._clock()
            seen = self._uuids.get(uuid) if uuid else None
            if seen is not None and now - seen[1] < UUID_WINDOW_SECONDS:
                message = self._by_id[seen[0]]
            else:
                api = "create" if parent_id is None else "reply"
                if (throttled := self._throttle(api, receive_id)) is not None:
                    return throttled
                token = request.headers["authorization"][7:]
                message = FakeMessage(
                    f"om_fake_{next(self._ids):08d}",
                    receive_id,
                    id_type,
                    msg_type,
                    content,
                    uuid,
                    token,
                    now,
                    parent_id,
                )
                self._messages.append(message)
                self._by_id[message.message_id] = message
                self._current[message.message_id] = content
                if uuid:
                    self._uuids[uuid] = (message.message_id, now)
        data = {
            "message_id": message.message_id,
            "root_id": parent_id or "",
            "parent_id": parent_id or "",
            "msg_type": message.msg_type,
            "create_time": str(int(message.created_at * 1000)),
            "chat_id": message.receive_id if id_type == "chat_id" else f"oc_p2p_{message.receive_id}",
            "sender": {"id": self.app_id, "id_type": "app_id", "sender_type": "app"},
            "body": {"content": message.content},
        }
        return JSONResponse({"code": 0, "msg": "success", "data": data})

    async def _patch(self, request: Request) -> Response:
        if (early := await self._prelude("patch")) is not None:
            return early
        if (denied := self._check_auth(request)) is not None:
            return denied
        raw = await request.body()
        content = json.loads(raw).get("content")
        message_id = request.path_params["message_id"]
        with self._lock:
            target = self._by_id.get(message_id)
            if target is None or target.msg_type != "interactive":
                return _error(400, 230001, "Your request contains an invalid request parameter: message_id.")
            if not isinstance(content, str) or len(raw) > CARD_MAX_BYTES:
                return _error(400, 230025, "The length of the message content reaches its limit.")
            if (throttled := self._throttle("patch", f"msg:{message_id}")) is not None:
                return throttled
            self._patches.append(FakePatch(message_id, content, time.perf_counter()))
            self._current[message_id] = content
        return JSONResponse({"code": 0, "msg": "success", "data": {}})

    async def _react(self, request: Request) -> Response:
        """im/v1/messages/:message_id/reactions: `{"reaction_type": {"emoji_type": ...}}` on a message id."""
        if (early := await self._prelude("reaction")) is not None:
            return early
        if (denied := self._check_auth(request)) is not None:
            return denied
        with self._lock:
            denied_all = all(scope in self._denied_scopes for scope in REACTION_SCOPES)
        if denied_all:
            return _error(400, MISSING_SCOPE, f"Access denied. One of the following scopes is required: "
                          f"[{', '.join(REACTION_SCOPES)}].")  # fmt: skip
        body = await request.json()
        message_id = request.path_params["message_id"]
        reaction_type = body.get("reaction_type") if isinstance(body, dict) else None
        emoji = reaction_type.get("emoji_type") if isinstance(reaction_type, dict) else None
        if not isinstance(emoji, str) or not emoji:
            return _error(400, 99992402, "field validation failed")
        if not message_id.startswith("om_"):
            return _error(400, 231003, "The message is not found.")
        with self._lock:
            if (throttled := self._throttle("reaction", None)) is not None:
                return throttled
            reaction = FakeReaction(message_id, emoji, f"r_fake{next(self._ids)}", time.perf_counter())
            self._reactions.append(reaction)
        return JSONResponse(
            {
                "code": 0,
                "msg": "success",
                "data": {
                    "reaction_id": reaction.reaction_id,
                    "operator": {"operator_id": self.app_id, "operator_type": "app"},
                    "action_time": str(int(time.time() * 1000)),
                    "reaction_type": {"emoji_type": emoji},
                },
            }
        )

    async def _card_update(self, request: Request) -> Response:
        if (early := await self._prelude("card_update")) is not None:
            return early
        if (denied := self._check_auth(request)) is not None:
            return denied
        body = await request.json()
        with self._lock:
            if not isinstance(body.get("token"), str) or not isinstance(body.get("card"), dict):
                return _error(400, 99992402, "field validation failed")
            if (throttled := self._throttle("card_update", None)) is not None:
                return throttled
            self._card_updates.append(FakeCardUpdate(body["token"], body["card"], time.perf_counter()))
        return JSONResponse({"code": 0, "msg": "success"})

    async def _batch_get_id(self, request: Request) -> Response:
        """contact/v3/users/batch_get_id: one entry per email and mobile asked, user_id for known ones."""
        if (denied := self._check_auth(request)) is not None:
            return denied
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        emails = body.get("emails", []) if isinstance(body, dict) else None
        mobiles = body.get("mobiles", []) if isinstance(body, dict) else None
        if (
            not isinstance(emails, list)
            or not isinstance(mobiles, list)
            or len(emails) > 50
            or len(mobiles) > 50
            or not all(isinstance(v, str) for v in [*emails, *mobiles])
            or request.query_params.get("user_id_type", "open_id") != "open_id"
        ):
            return _error(400, 99992402, "field validation failed")
        users = []
        with self._lock:
            for kind, values in (("email", emails), ("mobile", mobiles)):
                for value in values:
                    entry = {kind: value}
                    if (found := self._directory.get((kind, value))) is not None:
                        entry["user_id"] = found
                    users.append(entry)
        return JSONResponse({"code": 0, "msg": "success", "data": {"user_list": users}})

    # ---- admin (for benchmarks and other processes) -----------------------------------------------------
    async def _admin_state(self, request: Request) -> Response:
        return JSONResponse(self.snapshot())

    async def _admin_faults(self, request: Request) -> Response:
        body = await request.json()
        self.inject(body["endpoint"], *(Fault.from_json(f) for f in body.get("faults", [])))
        return JSONResponse({"ok": True})

    async def _admin_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"ok": True})

    async def _admin_revoke(self, request: Request) -> Response:
        self.revoke_tokens()
        return JSONResponse({"ok": True})

    async def _admin_config(self, request: Request) -> Response:
        body = await request.json()
        for key in ("enforce_limits", "token_expire", "user_qps", "app_qps", "app_per_minute"):
            if key in body:
                setattr(self, key, body[key])
        return JSONResponse({"ok": True})


def busiest_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most of `times` (seconds, any order) in any half-open interval of `window` seconds: what a rate
    limit of N per `window` would have counted at its worst moment."""
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, at in enumerate(ordered):
        while at - ordered[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _bind(host: str, port: int) -> socket.socket:
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP, and
    # without it Nagle plus delayed ACKs add 40 ms to every answer.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listen now, so a client that read the port connects even before uvicorn has finished starting.
    sock.listen(2048)
    return sock


def _server(fake: FakeFeishu) -> uvicorn.Server:
    config = uvicorn.Config(
        fake.app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
    )
    return uvicorn.Server(config)


@contextmanager
def serve_fake_feishu(
    fake: FakeFeishu | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[tuple[FakeFeishu, str]]:
    """Serve a fake on a background thread; yields (fake, base URL such as http://127.0.0.1:54321)."""
    fake = fake or FakeFeishu()
    sock = _bind(host, port)
    server = _server(fake)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="fake-feishu")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fake Feishu did not start")
        time.sleep(0.01)
    try:
        yield fake, f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fake Feishu Open API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--app-id", default="cli_fake")
    parser.add_argument("--app-secret", default="fake-secret")
    parser.add_argument("--token-expire", type=int, default=7200)
    parser.add_argument("--enforce-limits", action="store_true")
    args = parser.parse_args(argv)
    fake = FakeFeishu(
        args.app_id, args.app_secret, token_expire=args.token_expire, enforce_limits=args.enforce_limits
    )
    sock = _bind(args.host, args.port)
    # The first line tells a parent process where to connect (useful with --port 0).
    print(f"fake-feishu listening on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    _server(fake).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
