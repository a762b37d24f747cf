"""The fake Feishu's calendars: each user's events, and free/busy computed from them as Feishu answers it.

`POST /open-apis/calendar/v4/freebusy/list?user_id_type=open_id` with the tenant token and a body of
`time_min`, `time_max` (RFC 3339), `user_id`, `only_busy`, `include_external_calendar`: the user's events
whose free_busy_status is busy and that overlap the range, as `data.freebusy_list[{start_time, end_time}]` in
+08:00 (Feishu answers in the tenant's zone), no titles. A malformed body gets code 99992402 like other
endpoints' validation failures.

With a user access token (`Authorization: Bearer u-...`, one the fake OAuth issued and that is still valid,
else 99991668), as Feishu's calendar v4 documents it:
- `POST /open-apis/calendar/v4/calendars/primary` -> `data.calendars[{calendar: {calendar_id, type: "primary",
  role: "owner"}, user_id}]` (one primary calendar per user, `primary_calendar_id(open_id)`).
- `POST .../calendars/{calendar_id}/events?idempotency_key=K` with `summary`, `description`, `start_time`
  and `end_time` as `{timestamp: "UNIX_S", timezone}`, `free_busy_status`, `visibility`, `reminders` ->
  `data.event`; the same key again returns the event it created first and creates nothing.
- `PATCH .../events/{event_id}` (the fields given replace the event's) and `DELETE .../events/{event_id}`:
  an event that is not there (never was, or deleted) gets code 193002 (HTTP 400, as Feishu answers).
- `GET .../events/instance_view?start_time=UNIX_S&end_time=UNIX_S` -> `data.items` (at most 40 days: 193103).
- `POST .../events/subscription` and `POST .../events/unsubscription` (no body) -> `data: {}`: the user's
  calendar subscribed to (or no longer subscribed to) event changes, recorded per user token's owner
  (`subscriptions`, `subscription_calls`). Any change to a subscribed calendar's events (a test's add_event /
  remove_event, or the app's writes) queues the push Feishu would send: `take_pushes()` hands them to the
  test, which posts each with CallbackBuilder.calendar_event_changed(open_ids, calendar_id).
Another user's calendar gets 190003 (no access). The events feed free/busy like any other.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from tests.fakes.fake_feishu import FakeFeishu

FREEBUSY_PATH = "/open-apis/calendar/v4/freebusy/list"
PRIMARY_PATH = "/open-apis/calendar/v4/calendars/primary"
EVENTS_PATH = "/open-apis/calendar/v4/calendars/{calendar_id}/events"
EVENT_PATH = EVENTS_PATH + "/{event_id}"
INSTANCE_VIEW_PATH = EVENTS_PATH + "/instance_view"
SUBSCRIPTION_PATH = EVENTS_PATH + "/subscription"
UNSUBSCRIPTION_PATH = EVENTS_PATH + "/unsubscription"
EVENT_NOT_FOUND = 193002
NO_CALENDAR_ACCESS = 190003
INSTANCE_VIEW_MAX = timedelta(days=40)
TENANT_ZONE = timezone(timedelta(hours=8))


@dataclass
class FakeEvent:
    event_id: str
    open_id: str
    start: datetime
    end: datetime
    summary: str = ""
    free_busy_status: str = "busy"  # or "free"
    description: str = ""
    visibility: str = "default"
    reminders: tuple[int, ...] = ()
    idempotency_key: str | None = None
    created_by_api: bool = False  # written with the user's token (by the app), not added by a test


@dataclass(frozen=True)
class EventCall:
    """One request to the user-token event endpoints, as it arrived."""

    method: str  # POST / PATCH / DELETE
    open_id: str
    calendar_id: str
    event_id: str | None
    query: dict[str, str]
    body: dict[str, Any]
    code: int  # what it was answered with


@dataclass(frozen=True)
class SubscriptionCall:
    """One request to the subscription endpoints, as it was answered."""

    action: str  # "subscription" / "unsubscription"
    open_id: str
    calendar_id: str
    code: int


@dataclass(frozen=True)
class Push:
    """A change event Feishu would push: the subscribers' open ids and the calendar."""

    open_ids: tuple[str, ...]
    calendar_id: str


def primary_calendar_id(open_id: str) -> str:
    return f"feishu.cn_{open_id}@group.calendar.feishu.cn"


@dataclass(frozen=True)
class FreeBusyQuery:
    open_id: str
    time_min: datetime
    time_max: datetime
    body: dict[str, Any]
    at: float = 0.0  # time.monotonic() when it arrived (rate checks)


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _rfc3339(instant: datetime) -> str:
    return instant.astimezone(TENANT_ZONE).replace(microsecond=0).isoformat()


class FakeCalendars:
    """Every user's calendar events (thread-safe: the server runs on its own thread)."""

    def __init__(self, fake: FakeFeishu) -> None:
        self._fake = fake
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._events: list[FakeEvent] = []
            self._queries: list[FreeBusyQuery] = []
            self._deleted: list[FakeEvent] = []
            self._by_key: dict[tuple[str, str], FakeEvent] = {}  # (calendar_id, idempotency_key) -> event
            self._calls: list[EventCall] = []
            self._subscribed: set[tuple[str, str]] = set()  # (open_id, calendar_id)
            self._subscription_calls: list[SubscriptionCall] = []
            self._pushes: list[Push] = []

    def add_event(
        self,
        open_id: str,
        start: datetime,
        end: datetime,
        summary: str = "",
        *,
        free_busy_status: str = "busy",
    ) -> FakeEvent:
        """An event on the user's calendar (a meeting someone invited them to, or one of their own)."""
        if start.tzinfo is None or end <= start:
            raise ValueError("an event needs an aware start before its end")
        with self._lock:
            event = FakeEvent(f"evt_{next(self._ids)}_0", open_id, start, end, summary, free_busy_status)
            self._events.append(event)
            self._changed(open_id)
        return event

    def remove_event(self, event_id: str) -> None:
        with self._lock:
            for e in self._events:
                if e.event_id == event_id:
                    self._changed(e.open_id)
            self._events = [e for e in self._events if e.event_id != event_id]

    def _changed(self, open_id: str) -> None:
        """(Under the lock.) An event of the user's primary calendar changed: a push when subscribed."""
        calendar_id = primary_calendar_id(open_id)
        subscribers = tuple(sorted(o for o, c in self._subscribed if c == calendar_id))
        if subscribers:
            self._pushes.append(Push(subscribers, calendar_id))

    def take_pushes(self) -> list[Push]:
        """The change events Feishu would have pushed since the last call, oldest first."""
        with self._lock:
            pushes, self._pushes = self._pushes, []
        return pushes

    @property
    def subscriptions(self) -> list[tuple[str, str]]:
        """(open_id, calendar_id) of every calendar subscribed to event changes now."""
        with self._lock:
            return sorted(self._subscribed)

    @property
    def subscription_calls(self) -> list[SubscriptionCall]:
        with self._lock:
            return list(self._subscription_calls)

    def events_of(self, open_id: str) -> list[FakeEvent]:
        """The user's events as they are now, by start."""
        with self._lock:
            return sorted(
                (e for e in self._events if e.open_id == open_id), key=lambda e: (e.start, e.event_id)
            )

    def written_events(self, open_id: str) -> list[FakeEvent]:
        """The user's events the app wrote with their token (and did not delete)."""
        return [e for e in self.events_of(open_id) if e.created_by_api]

    @property
    def deleted(self) -> list[FakeEvent]:
        with self._lock:
            return list(self._deleted)

    @property
    def event_calls(self) -> list[EventCall]:
        with self._lock:
            return list(self._calls)

    @property
    def queries(self) -> list[FreeBusyQuery]:
        with self._lock:
            return list(self._queries)

    def queries_for(self, open_id: str) -> list[FreeBusyQuery]:
        return [q for q in self.queries if q.open_id == open_id]

    async def freebusy(self, request: Request) -> Response:
        fake = self._fake
        if (early := await fake._prelude("freebusy")) is not None:
            return early
        if (denied := fake._check_auth(request)) is not None:
            return denied
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _invalid("request body is not a JSON object")
        if request.query_params.get("user_id_type", "open_id") != "open_id":
            return _invalid("this fake knows open_ids only")
        lo, hi = _instant(body.get("time_min")), _instant(body.get("time_max"))
        open_id = body.get("user_id")
        if lo is None or hi is None or hi <= lo:
            return _invalid("time_min and time_max must be RFC 3339 with an offset, time_min first")
        if not isinstance(open_id, str) or not open_id:
            return _invalid("user_id is required")
        with self._lock:
            self._queries.append(FreeBusyQuery(open_id, lo, hi, body, time.monotonic()))
            busy = sorted(
                (e.start, e.end)
                for e in self._events
                if e.open_id == open_id and e.free_busy_status == "busy" and e.start < hi and e.end > lo
            )
        items = [{"start_time": _rfc3339(s), "end_time": _rfc3339(e)} for s, e in busy]
        return JSONResponse({"code": 0, "msg": "success", "data": {"freebusy_list": items}})

    # ---- user-token endpoints ---------------------------------------------------------------------------
    async def _user(self, request: Request, endpoint: str) -> tuple[str | None, Response | None]:
        """(open_id, None) for a request with a valid user token, else (None, the answer to give)."""
        if (early := await self._fake._prelude(endpoint)) is not None:
            return None, early
        open_id = self._fake.oauth.user_of(request.headers.get("authorization", ""))
        if open_id is None:
            answer = {"code": 99991668, "msg": "Invalid access token for authorization."}
            return None, JSONResponse(answer, status_code=400)
        return open_id, None

    async def primary(self, request: Request) -> Response:
        open_id, refused = await self._user(request, "calendar_primary")
        if refused is not None or open_id is None:
            return refused or _invalid("no user")
        calendar = {
            "calendar_id": primary_calendar_id(open_id),
            "summary": open_id,
            "type": "primary",
            "role": "owner",
            "permissions": "private",
        }
        data = {"calendars": [{"calendar": calendar, "user_id": open_id}]}
        return JSONResponse({"code": 0, "msg": "success", "data": data})

    async def _event_request(
        self, request: Request, endpoint: str
    ) -> tuple[str, str, dict[str, Any], Response | None]:
        open_id, refused = await self._user(request, endpoint)
        calendar_id = request.path_params["calendar_id"]
        if refused is not None or open_id is None:
            return "", calendar_id, {}, refused or _invalid("no user")
        body: Any = {}
        if request.method in ("POST", "PATCH"):
            try:
                body = json.loads(await request.body())
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return open_id, calendar_id, {}, _invalid("request body is not a JSON object")
        if calendar_id != primary_calendar_id(open_id):
            return open_id, calendar_id, body, _code(403, NO_CALENDAR_ACCESS, "no access to this calendar")
        return open_id, calendar_id, body, None

    def _record(
        self, request: Request, open_id: str, calendar_id: str, body: dict[str, Any], code: int
    ) -> None:
        with self._lock:
            self._calls.append(
                EventCall(
                    request.method,
                    open_id,
                    calendar_id,
                    request.path_params.get("event_id"),
                    dict(request.query_params),
                    dict(body),
                    code,
                )
            )

    async def create_event(self, request: Request) -> Response:
        open_id, calendar_id, body, refused = await self._event_request(request, "event_create")
        if refused is not None:
            return refused
        start, end = _timestamp(body.get("start_time")), _timestamp(body.get("end_time"))
        if start is None or end is None or end <= start:
            self._record(request, open_id, calendar_id, body, 99992402)
            return _invalid("start_time and end_time need a timestamp, start first")
        key = request.query_params.get("idempotency_key")
        with self._lock:
            event = self._by_key.get((calendar_id, key)) if key else None
            if event is None:
                event = FakeEvent(
                    f"evt_{next(self._ids)}_0",
                    open_id,
                    start,
                    end,
                    str(body.get("summary", "")),
                    str(body.get("free_busy_status", "busy")),
                    str(body.get("description", "")),
                    str(body.get("visibility", "default")),
                    tuple(
                        int(r.get("minutes", 0)) for r in body.get("reminders") or () if isinstance(r, dict)
                    ),
                    key,
                    created_by_api=True,
                )
                self._events.append(event)
                self._changed(open_id)
                if key:
                    self._by_key[calendar_id, key] = event
        self._record(request, open_id, calendar_id, body, 0)
        return JSONResponse({"code": 0, "msg": "success", "data": {"event": _event_json(event, calendar_id)}})

    async def patch_event(self, request: Request) -> Response:
        open_id, calendar_id, body, refused = await self._event_request(request, "event_patch")
        if refused is not None:
            return refused
        event_id = request.path_params["event_id"]
        if any(name in body and _timestamp(body[name]) is None for name in ("start_time", "end_time")):
            self._record(request, open_id, calendar_id, body, 99992402)
            return _invalid("start_time and end_time need a timestamp")
        with self._lock:
            event = next((e for e in self._events if e.event_id == event_id and e.open_id == open_id), None)
            if event is not None:
                start = _timestamp(body.get("start_time")) or event.start
                end = _timestamp(body.get("end_time")) or event.end
                if end <= start:
                    event = None
                else:
                    event.start, event.end = start, end
                    self._changed(open_id)
                    for name in ("summary", "description", "visibility", "free_busy_status"):
                        if name in body:
                            setattr(event, name, str(body[name]))
        code = 0 if event is not None else EVENT_NOT_FOUND
        self._record(request, open_id, calendar_id, body, code)
        if event is None:
            return _code(400, EVENT_NOT_FOUND, "event not found")
        return JSONResponse({"code": 0, "msg": "success", "data": {"event": _event_json(event, calendar_id)}})

    async def delete_event(self, request: Request) -> Response:
        open_id, calendar_id, body, refused = await self._event_request(request, "event_delete")
        if refused is not None:
            return refused
        event_id = request.path_params["event_id"]
        with self._lock:
            found = [e for e in self._events if e.event_id == event_id and e.open_id == open_id]
            self._events = [e for e in self._events if e not in found]
            self._deleted.extend(found)
            if found:
                self._changed(open_id)
        code = 0 if found else EVENT_NOT_FOUND
        self._record(request, open_id, calendar_id, body, code)
        if not found:
            return _code(400, EVENT_NOT_FOUND, "event not found")
        return JSONResponse({"code": 0, "msg": "success", "data": {}})

    async def subscribe(self, request: Request) -> Response:
        return await self._subscription(request, "subscription")

    async def unsubscribe(self, request: Request) -> Response:
        return await self._subscription(request, "unsubscription")

    async def _subscription(self, request: Request, action: str) -> Response:
        endpoint = "event_subscribe" if action == "subscription" else "event_unsubscribe"
        open_id, refused = await self._user(request, endpoint)
        if refused is not None or open_id is None:
            return refused or _invalid("no user")
        calendar_id = request.path_params["calendar_id"]
        code = 0 if calendar_id == primary_calendar_id(open_id) else NO_CALENDAR_ACCESS
        with self._lock:
            self._subscription_calls.append(SubscriptionCall(action, open_id, calendar_id, code))
            if code == 0 and action == "subscription":
                self._subscribed.add((open_id, calendar_id))
            elif code == 0:
                self._subscribed.discard((open_id, calendar_id))
        if code:
            return _code(403, code, "no access to this calendar")
        return JSONResponse({"code": 0, "msg": "success", "data": {}})

    async def instance_view(self, request: Request) -> Response:
        open_id, calendar_id, _, refused = await self._event_request(request, "instance_view")
        if refused is not None:
            return refused
        lo = _timestamp({"timestamp": request.query_params.get("start_time")})
        hi = _timestamp({"timestamp": request.query_params.get("end_time")})
        if lo is None or hi is None or hi <= lo:
            return _invalid("start_time and end_time must be Unix seconds, start first")
        if hi - lo > INSTANCE_VIEW_MAX:
            return _code(400, 193103, "the time range is longer than 40 days")
        with self._lock:
            items = [
                _event_json(e, calendar_id)
                for e in sorted(self._events, key=lambda e: (e.start, e.event_id))
                if e.open_id == open_id and e.start < hi and e.end > lo
            ]
        return JSONResponse({"code": 0, "msg": "success", "data": {"items": items}})


def _timestamp(value: object) -> datetime | None:
    """`{timestamp: "UNIX_S", ...}` as an aware instant (None when malformed)."""
    raw = value.get("timestamp") if isinstance(value, dict) else None
    if not isinstance(raw, str) or not raw.isdigit():
        return None
    return datetime.fromtimestamp(int(raw), TENANT_ZONE)


def _event_json(event: FakeEvent, calendar_id: str) -> dict[str, Any]:
    def at(instant: datetime) -> dict[str, str]:
        return {"timestamp": str(int(instant.timestamp())), "timezone": "Asia/Shanghai"}

    return {
        "event_id": event.event_id,
        "organizer_calendar_id": calendar_id,
        "summary": event.summary,
        "description": event.description,
        "start_time": at(event.start),
        "end_time": at(event.end),
        "free_busy_status": event.free_busy_status,
        "visibility": event.visibility,
        "reminders": [{"minutes": m} for m in event.reminders],
        "status": "confirmed",
    }


def _code(status: int, code: int, msg: str) -> Response:
    return JSONResponse({"code": code, "msg": msg}, status_code=status)


def _invalid(why: str) -> Response:
    return JSONResponse({"code": 99992402, "msg": f"field validation failed: {why}"}, status_code=400)
