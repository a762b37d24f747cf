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
from store.repositories.messaging import PendingNotification

# How long the worker leaves a queued answer to the process sending it at once (its calls time out sooner).
ANSWER_GRACE = timedelta(seconds=30)
# An answer's place in line: the worker sends one user's rows in next_attempt_at order.
_ORDER_STEP = timedelta(microseconds=1000)
_DONE = (NotificationStatus.SENT, NotificationStatus.DEAD)  # an answer in these states is not sent again


Answers = tuple[str, Sequence[Mapping[str, Any]], datetime]  # (sender open_id, answers, now)
Sent = tuple[str, str, datetime]  # (notification id, Feishu message id, when)


async def queue_many(store: Store, messages: Sequence[Answers]) -> list[dict[str, str] | None]:
    """Store the answers to each message (from its sender's open_id), in order, each keyed by its Feishu
    uuid (queueing the same answer again finds the first), all in one write of a few statements whatever
    the number of messages; for each message, {uuid: notification id} of those not yet sent, or None when
    there is no such user (nothing stored: the caller sends without a safety net)."""
    async with store.uow() as uow:
        users = await uow.users.by_open_ids([open_id for open_id, _, _ in messages])
        pending: list[PendingNotification] = []
        wanted: list[list[tuple[str, str]] | None] = []  # per message: (uuid, dedupe key) of its answers
        for open_id, answers, now in messages:
            user = users.get(open_id)
            if user is None:
                wanted.append(None)
                continue
            mine = []
            for n, answer in enumerate(answers):
                key = f"answer:{answer['uuid']}"
                mine.append((str(answer["uuid"]), key))
                pending.append(
                    PendingNotification(
                        key,
                        user.id,
                        NotificationKind.ANSWER,
                        dict(answer),
                        now,
                        next_attempt_at=now + ANSWER_GRACE + n * _ORDER_STEP,
                    )
                )
            wanted.append(mine)
        stored = await uow.notifications.insert_absent_many(pending)
        found: list[dict[str, str] | None] = []
        for keys in wanted:
            if keys is None:
                found.append(None)
                continue
            found.append(
                {uuid: stored[key][0] for uuid, key in keys if key in stored and stored[key][1] not in _DONE}
            )
        await uow.commit()
    return found


async def sent_many(store: Store, messages: Sequence[Sent]) -> list[None]:
    """Answers that went out at once, each (notification id, Feishu message id, when): recorded as sent in
    one write of one statement, unless a worker took one meanwhile (it records its own)."""
    if not messages:
        return []
    async with store.uow() as uow:
        await uow.delivery.settle_unclaimed_many(
            [
                (
                    notification_id,
                    {
                        "status": NotificationStatus.SENT,
                        "message_id": message_id,
                        "sent_at": now,
                        "attempts": 1,
                        "updated_at": now,
                    },
                )
                for notification_id, message_id, now in messages
            ]
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
