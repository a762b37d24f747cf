"""The bot's answers to chat messages, kept as notifications so none is lost: the process that handled the
message queues them (one write), sends them at once and records each as sent; what it could not send (a
Feishu error, a crash) stays due and the worker sends it after ANSWER_GRACE, with the same Feishu `uuid`, so
an answer is never sent twice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from store import Store
from store.enums import NotificationKind, NotificationStatus

# How long the worker leaves a queued answer to the process sending it at once (its calls time out sooner).
ANSWER_GRACE = timedelta(seconds=30)
# An answer's place in line: the worker sends one user's rows in next_attempt_at order.
_ORDER_STEP = timedelta(microseconds=1000)


async def queue(
    store: Store, open_id: str, answers: Sequence[Mapping[str, Any]], now: datetime
) -> dict[str, str] | None:
    """Store the answers to one message from `open_id`, in order, each keyed by its Feishu uuid (queueing
    the same answer again finds the first); returns {uuid: notification id} of those not yet sent, or None
    when there is no such user (nothing stored: the caller sends without a safety net)."""
    ids: dict[str, str] = {}
    async with store.uow() as uow:
        user = await uow.users.get_by_open_id(open_id)
        if user is None:
            return None
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
        await uow.commit()
    return ids


async def sent(store: Store, messages: Sequence[tuple[str, str]], now: datetime) -> None:
    """Answers that went out at once, each (notification id, Feishu message id): recorded as sent in one
    write, unless a worker took one meanwhile (it records its own)."""
    if not messages:
        return
    async with store.uow() as uow:
        for notification_id, message_id in messages:
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
