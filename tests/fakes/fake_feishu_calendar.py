"""The fake Feishu's calendars: each user's events, and free/busy computed from them as Feishu answers it.

`POST /open-apis/calendar/v4/freebusy/list?user_id_type=open_id` with the tenant token and a body of
`time_min`, `time_max` (RFC 3339), `user_id`, `only_busy`, `include_external_calendar`: the user's events
whose free_busy_status is busy and that overlap the range, as `data.freebusy_list[{start_time, end_time}]` in
+08:00 (Feishu answers in the tenant's zone), no titles. A malformed body gets code 99992402 like other
endpoints' validation failures.
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
TENANT_ZONE = timezone(timedelta(hours=8))


@dataclass
class FakeEvent:
    event_id: str
    open_id: str
    start: datetime
    end: datetime
    summary: str = ""
    free_busy_status: str = "busy"  # or "free"


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
        return event

    def remove_event(self, event_id: str) -> None:
        with self._lock:
            self._events = [e for e in self._events if e.event_id != event_id]

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


def _invalid(why: str) -> Response:
    return JSONResponse({"code": 99992402, "msg": f"field validation failed: {why}"}, status_code=400)
