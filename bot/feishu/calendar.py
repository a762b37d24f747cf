"""Feishu Calendar behind the scheduler's ports: free/busy with the app's token (BusyReader), and the
user's own primary calendar with their access token (CalendarWriter: our blocks written as events)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from bot.feishu.errors import FeishuError, FeishuPermanentError, classify
from bot.feishu.ratelimit import Limiter
from bot.feishu.userapi import CallFailed, UserApi
from scheduler.services.calendar import BusySpan, CalendarUnavailable
from scheduler.services.calendar_events import CalendarWriteError, EventDraft

log = logging.getLogger(__name__)


class FreeBusyClient(Protocol):
    async def freebusy(self, open_id: str, time_min: str, time_max: str) -> list[dict[str, Any]]: ...


def rfc3339(instant: datetime) -> str:
    """An aware instant as RFC 3339 to the second (Feishu's time_min / time_max)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("free/busy needs aware instants")
    return instant.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_instant(value: object, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise CalendarUnavailable("bad_response", f"free/busy item without {field}", retryable=False)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CalendarUnavailable("bad_response", f"free/busy {field} {value!r} is not RFC 3339") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise CalendarUnavailable("bad_response", f"free/busy {field} {value!r} has no offset")
    return parsed.astimezone(UTC)


class FeishuBusyReader:
    """BusyReader over the Open API client; every Feishu failure becomes CalendarUnavailable."""

    def __init__(self, client: FreeBusyClient) -> None:
        self._client = client

    async def busy(self, open_id: str, start: datetime, end: datetime) -> Sequence[BusySpan]:
        try:
            items = await self._client.freebusy(open_id, rfc3339(start), rfc3339(end))
        except FeishuError as exc:
            raise CalendarUnavailable(
                str(exc.code), str(exc), retryable=not isinstance(exc, FeishuPermanentError)
            ) from exc
        spans = [
            BusySpan(
                parse_instant(i.get("start_time"), "start_time"), parse_instant(i.get("end_time"), "end_time")
            )
            for i in items
        ]
        return sorted((s for s in spans if s.end > s.start), key=lambda s: (s.start, s.end))


# ---- the user's own calendar, with their access token ------------------------------------------------------

PRIMARY_PATH = "/open-apis/calendar/v4/calendars/primary"
EVENT_NOT_FOUND = 193002  # the event is not there (deleted, or never was)
EVENT_GONE_CODES = frozenset({EVENT_NOT_FOUND, 193003})  # 193003: deleted
# Feishu's limits for the event APIs, for the whole app: 1000 calls a minute and 50 a second.
EVENTS_PER_MINUTE = 1000
EVENTS_PER_SECOND = 50


def _events_path(calendar_id: str, event_id: str | None = None) -> str:
    path = f"/open-apis/calendar/v4/calendars/{quote(calendar_id, safe='')}/events"
    return path if event_id is None else f"{path}/{quote(event_id, safe='')}"


def _event_body(draft: EventDraft) -> dict[str, Any]:
    def at(instant: datetime) -> dict[str, str]:
        return {"timestamp": str(int(instant.timestamp())), "timezone": draft.timezone}

    return {
        "summary": draft.summary,
        "description": draft.description,
        "start_time": at(draft.start),
        "end_time": at(draft.end),
        "free_busy_status": "busy",
        "visibility": "private",
        "reminders": [{"minutes": draft.reminder_minutes}],
        "need_notification": False,
    }


class FeishuUserCalendar:
    """CalendarWriter over Feishu's calendar v4 with the user's access token (never logged). Failures are
    CalendarWriteError: timeouts, network errors, 5xx and rate limits retryable, other refusals final."""

    def __init__(
        self,
        domain: str,
        timeout_seconds: float = 10.0,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiters: tuple[Limiter, Limiter] | None = None,
    ) -> None:
        self._api = UserApi(
            domain,
            timeout_seconds,
            per_minute=EVENTS_PER_MINUTE,
            per_second=EVENTS_PER_SECOND,
            transport=transport,
            limiters=limiters,
        )

    async def aclose(self) -> None:
        await self._api.aclose()

    async def primary_calendar(self, access_token: str) -> str:
        data = await self._ok("calendar.primary", "POST", PRIMARY_PATH, access_token, json={})
        calendars = data.get("calendars")
        first = calendars[0] if isinstance(calendars, list) and calendars else None
        calendar = first.get("calendar") if isinstance(first, dict) else None
        calendar_id = calendar.get("calendar_id") if isinstance(calendar, dict) else None
        if not isinstance(calendar_id, str) or not calendar_id:
            raise CalendarWriteError("bad_response", "no primary calendar in the answer", retryable=True)
        return calendar_id

    async def create_event(
        self, access_token: str, calendar_id: str, draft: EventDraft, idempotency_key: str
    ) -> str:
        params = {"idempotency_key": idempotency_key, "user_id_type": "open_id"}
        data = await self._ok(
            "calendar.event.create",
            "POST",
            _events_path(calendar_id),
            access_token,
            json=_event_body(draft),
            params=params,
        )
        event = data.get("event")
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if not isinstance(event_id, str) or not event_id:
            # created or not, the same key again finds out: retry
            raise CalendarWriteError("bad_response", "no event_id in the answer", retryable=True)
        return event_id

    async def update_event(
        self, access_token: str, calendar_id: str, event_id: str, draft: EventDraft
    ) -> bool:
        try:
            await self._ok(
                "calendar.event.patch",
                "PATCH",
                _events_path(calendar_id, event_id),
                access_token,
                json=_event_body(draft),
                params={"user_id_type": "open_id"},
            )
        except _Gone:
            return False
        return True

    async def delete_event(self, access_token: str, calendar_id: str, event_id: str) -> None:
        try:
            await self._ok(
                "calendar.event.delete",
                "DELETE",
                _events_path(calendar_id, event_id),
                access_token,
                params={"need_notification": "false"},
            )
        except _Gone:
            return

    async def subscribe_events(self, access_token: str, calendar_id: str) -> None:
        """Feishu pushes calendar.calendar.event.changed_v4 for the calendar's events from now on."""
        await self._subscription("subscription", access_token, calendar_id)

    async def unsubscribe_events(self, access_token: str, calendar_id: str) -> None:
        await self._subscription("unsubscription", access_token, calendar_id)

    async def _subscription(self, action: str, access_token: str, calendar_id: str) -> None:
        try:
            await self._ok(
                f"calendar.event.{action}", "POST", f"{_events_path(calendar_id)}/{action}", access_token
            )
        except _Gone as exc:  # HTTP 404: no such calendar
            raise CalendarWriteError("not_found", "calendar not found", retryable=False) from exc

    async def events_between(
        self, access_token: str, calendar_id: str, start: datetime, end: datetime
    ) -> Sequence[BusySpan]:
        """The instance view (recurring events expanded) of [start, end) as busy spans with titles and ids;
        free and cancelled events left out, and all-day ones (they have a date, not a time). Raises
        CalendarUnavailable."""
        params = {"start_time": str(int(start.timestamp())), "end_time": str(int(end.timestamp()))}
        try:
            data = await self._ok(
                "calendar.instance_view",
                "GET",
                _events_path(calendar_id) + "/instance_view",
                access_token,
                params=params | {"user_id_type": "open_id"},
            )
        except CalendarWriteError as exc:
            raise CalendarUnavailable(exc.code, exc.message, retryable=exc.retryable) from exc
        except _Gone as exc:
            raise CalendarUnavailable("not_found", "calendar not found", retryable=False) from exc
        items = data.get("items")
        spans = (
            [s for s in (_span(i) for i in items if isinstance(i, dict)) if s is not None]
            if isinstance(items, list)
            else []
        )
        return sorted(spans, key=lambda s: (s.start, s.end))

    async def _ok(
        self,
        name: str,
        method: str,
        path: str,
        access_token: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The answer's `data` on success; _Gone for an event that is not there; else CalendarWriteError."""
        try:
            answer = await self._api.call(name, method, path, access_token, params=params, json=json)
        except CallFailed as exc:
            raise CalendarWriteError(exc.kind, exc.detail, retryable=True) from exc
        status, code, msg = answer.status, answer.code, answer.msg
        if answer.ok:
            assert answer.body is not None
            data = answer.body.get("data")
            return data if isinstance(data, dict) else {}
        if code in EVENT_GONE_CODES or (status == 404 and "/events/" in path):
            raise _Gone
        error = classify(status, code, msg, answer.headers)
        if error is None:  # pragma: no cover - a success is returned above
            raise CalendarWriteError("bad_response", msg, retryable=True)
        raise CalendarWriteError(
            str(error.code), msg, retryable=error.retryable, retry_after=error.retry_after
        )


def _span(item: dict[str, Any]) -> BusySpan | None:
    if item.get("status") == "cancelled" or item.get("free_busy_status", "busy") != "busy":
        return None
    start, end = _unix(item.get("start_time")), _unix(item.get("end_time"))
    if start is None or end is None or end <= start:
        return None
    summary, event_id = item.get("summary"), item.get("event_id")
    return BusySpan(
        start,
        end,
        summary if isinstance(summary, str) and summary else None,
        event_id if isinstance(event_id, str) and event_id else None,
    )


def _unix(value: object) -> datetime | None:
    raw = value.get("timestamp") if isinstance(value, dict) else None
    if not isinstance(raw, str) or not raw.isdigit():
        return None
    return datetime.fromtimestamp(int(raw), UTC)


class _Gone(Exception):
    """The event is not there (Feishu 193002, or HTTP 404)."""
