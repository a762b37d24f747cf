"""Feishu Calendar behind the scheduler's BusyReader port: free/busy with the app's token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.feishu.errors import FeishuError, FeishuPermanentError
from scheduler.services.calendar import BusySpan, CalendarUnavailable


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
