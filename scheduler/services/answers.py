"""The bot's answers to chat messages, kept as notifications so none is lost: the process that handled the
message queues them (one write), sends them at once and records each as sent; what it could not send (a
Feishu error, a crash) stays due and the worker sends it after ANSWER_GRACE, with the same Feishu `uuid`, so
an answer is never sent twice."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from scheduler.services.group import GroupWrite
from store import Store
from store.enums import NotificationKind, NotificationStatus

# How long the worker leaves a queued answer to the process sending it at once (its calls time out sooner).
ANSWER_GRACE = timedelta(seconds=30)
# An answer's place in line: the worker sends one user's rows in next_attempt_at order.
_ORDER_STEP = timedelta(microseconds=1000)


Answers = tuple[str, Sequence[Mapping[str, Any]], datetime]  # (sender open_id, answers, now)
Sent = tuple[str, str, datetime]  # (notification id, Feishu message id, when)


async def queue_many(store: Store, messages: Sequence[Answers]) -> list[dict[str, str] | None]:
    """Store the answers to each message (from its sender's open_id), in order, each keyed by its Feishu
    uuid (queueing the same answer again finds the first), all in one write; for each message,
    {uuid: notification id} of those not yet sent, or None when there is no such user (nothing stored: the
    caller sends without a safety net)."""
    found: list[dict[str, str] | None] = []
    async with store.uow() as uow:
        for open_id, answers, now in messages:
            user = await uow.users.get_by_open_id(open_id)
            if user is None:
                found.append(None)
                continue
            ids: dict[str, str] = {}
            for n, answer in enumerate(answers):
                row, _ = await uow.notifications.insert_if_absent(
                    f"answer:{answer['uuid']}",
                    user_id=user.id,
                    kind=NotificationKind.ANSWER,
                    payload=dict(answer),
                    now=now,
                    next_attempt_at=now + ANSWER_GRACE + n * _ORDER_STEP,
                )
                if row.status not in (NotificationStatus.SENT, NotificationStatus.DEAD):
                    ids[str(answer["uuid"])] = row.id
            found.append(ids)
        await uow.commit()
    return found


async def sent_many(store: Store, messages: Sequence[Sent]) -> list[None]:
    """Answers that went out at once, each (notification id, Feishu message id, when): recorded as sent in
    one write, unless a worker took one meanwhile (it records its own)."""
    if not messages:
        return []
    async with store.uow() as uow:
        for notification_id, message_id, now in messages:
            await uow.delivery.settle_unclaimed(
                notification_id,
                {
                    "status": NotificationStatus.SENT,
                    "message_id": message_id,
                    "sent_at": now,
                    "attempts": 1,
                    "updated_at": now,
                },
            )
        await uow.commit()
    return [None] * len(messages)


class AnswerWrites:
    """The answers' two writes shared by the messages one process handles at once: storing them before
    they are sent, and recording them as sent. Under many messages at once (SQLite has one writer) each is
    one transaction for all of them, not one per message."""

    def __init__(self, store: Store) -> None:
        self._queue: GroupWrite[Answers, dict[str, str] | None] = GroupWrite(
            lambda items: queue_many(store, items)
        )
        self._sent: GroupWrite[Sent, None] = GroupWrite(lambda items: sent_many(store, items))

    async def queue(
        self, open_id: str, answers: Sequence[Mapping[str, Any]], now: datetime
    ) -> dict[str, str] | None:
        """Store the answers to one message (see `queue_many`), in the write the other messages of the
        moment share."""
        return await self._queue.submit((open_id, answers, now))

    async def sent(self, messages: Sequence[tuple[str, str]], now: datetime) -> None:
        """Record answers sent at once, each (notification id, Feishu message id), in the write the other
        messages of the moment share."""
        await asyncio.gather(*(self._sent.submit((n, m, now)) for n, m in messages))


async def failed(
    store: Store, notification_id: str, code: str, message: str, now: datetime, *, final: bool = False
) -> None:
    """Sending at once failed: the worker tries again when the row falls due (the attempt counts; the
    answers after it wait too, so the user still reads them in order). `final`: Feishu refused it for
    good (dead, not retried)."""
    async with store.uow() as uow:
        await uow.delivery.settle_unclaimed(
            notification_id,
            {
                "status": NotificationStatus.DEAD if final else NotificationStatus.FAILED,
                "attempts": 1,
                "last_error_code": code[:64],
                "last_error": message[:2000] or None,
                "updated_at": now,
            },
        )
        await uow.commit()
