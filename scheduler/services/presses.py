"""A press of a card button: recorded durably first (one short transaction), then finished in one more.

`record` checks the press against its preview (owner, repeat) and inserts its inbox row, leased to this
process, with what was pressed and the card's delayed-update token. `finish` runs the action (apply, ignore,
undo, choose) and settles the row in the same transaction; a press whose process stopped before that is
finished by a worker once its lease expires (`finish_unfinished`). Exactly once: the inbox key stops a
second copy of the press, the apply idempotency key (the press key) makes a takeover a replay, and the row is
settled only by the lease holder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from scheduler.services import previews
from scheduler.services.actions import ignore_in
from scheduler.services.apply import (
    RECORDED,
    ApplyRequest,
    apply_in,
    fresh_busy,
    load_for_apply,
    run_apply,
)
from scheduler.services.calendar import BusyTimes
from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.group import GroupWrite
from scheduler.services.late import TaskAction, task_action_in
from scheduler.services.outcomes import retrying
from scheduler.services.pick import Picked, keep_picked_in, picked_candidate
from scheduler.services.triggers import create_trigger
from scheduler.services.undo import undo_in
from scheduler.services.views import ChoiceView, PreviewView, preview_view, views_of
from store import Store, UnitOfWork, short_key
from store.enums import InboxStatus, PreviewStatus, TriggerType

log = logging.getLogger(__name__)

EVENT_TYPE = "card.action.trigger"
PRESS_V = 1


class PressKind(StrEnum):
    APPLY = "apply"
    IGNORE = "ignore"
    UNDO = "undo"
    CHOOSE = "choose"
    DEADLINE = "deadline"  # value = the picked date-time
    SNOOZE = "snooze"  # candidate_id = when to ask again (3h, tomorrow)
    DROP = "drop"
    PICK = "pick"  # value = the start the user picked ("another time"): applied like an option

    @property
    def task_action(self) -> TaskAction | None:
        """The late-deadline action this press is (move the deadline, snooze, drop), else None."""
        try:
            return TaskAction(self.value)
        except ValueError:
            return None


class Note(StrEnum):
    """Something the answer should say besides the outcome's code."""

    AFTER_UNDO = "after_undo"  # Apply on a change that was applied, then undone
    ALREADY_CHOSEN = "already_chosen"  # a press on a question already answered
    UNKNOWN_CHOICE = "unknown_choice"  # the question can no longer be answered with that choice


@dataclass(frozen=True)
class Press:
    """What was pressed, by whom; `key` is the press's dedupe key (message, operator, value)."""

    key: str
    kind: PressKind
    preview_id: str
    operator_open_id: str
    candidate_id: str | None = None  # the option (apply), the block (choose), when to ask again (snooze)
    token: str = ""  # the card's delayed-update token (valid 30 minutes)
    value: str = ""  # what was picked (deadline: the date-time the picker sent)

    def payload(self) -> dict[str, Any]:
        return {
            "v": PRESS_V,
            "kind": self.kind.value,
            "preview_id": self.preview_id,
            "operator": self.operator_open_id,
            "candidate_id": self.candidate_id,
            "token": self.token,
            "key": self.key,
            "value": self.value,
        }

    @classmethod
    def from_payload(cls, data: Any) -> Press | None:
        if not isinstance(data, dict) or data.get("v") != PRESS_V:
            return None
        try:
            return cls(
                key=str(data["key"]),
                kind=PressKind(data["kind"]),
                preview_id=str(data["preview_id"]),
                operator_open_id=str(data["operator"]),
                candidate_id=data.get("candidate_id"),
                token=str(data.get("token") or ""),
                value=str(data.get("value") or ""),
            )
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class Recorded:
    """The answer to `record`. `status`: recorded (go on and finish it), repeat (already finished: show the
    card), in_progress (another copy is being finished), not_owner, not_found."""

    status: Literal["recorded", "repeat", "in_progress", "not_owner", "not_found"]
    operator_locale: str  # the language of who pressed (their user row's, else the default)
    view: PreviewView | None = None
    chosen: ChoiceView | None = None
    title: str = ""  # the preview's task title (empty without a task): a "working" card can name it


@dataclass(frozen=True)
class Finished:
    """What the press did: `status` is the action's (applied, already_applied, ignored, undone, chosen,
    rejected), `code` the refusal, `view` the preview afterwards (None when it could not be read)."""

    press: Press
    status: str
    code: ErrorCode | None
    view: PreviewView | None
    chosen: ChoiceView | None = None
    note: Note | None = None
    feedback_trigger_id: str | None = None  # choose: the trigger to run now (None when it existed)
    replayed: bool = False
    at: datetime | None = None  # deadline, snooze: the new deadline, when the question comes back


def _locale(value: str | None, default: str) -> str:
    text = (value or default or "zh").lower()
    return "en" if text.startswith("en") else "zh"


def choose_key(preview_id: str, block_id: str) -> str:
    """The idempotency key of the feedback trigger a choice creates: the stored record of the answer."""
    return f"choose:{preview_id}:{block_id}"


async def answered_choice(uow: UnitOfWork, view: PreviewView) -> ChoiceView | None:
    """The choice an answered ask_user question was given, or None. Choosing leaves the preview `ignored`
    (so nothing else can be done with it); the feedback trigger it created says which block was picked."""
    if view.decision != "ask_user" or view.status != "ignored":
        return None
    for choice in view.choices:
        if await uow.triggers.find_by_idempotency(short_key(choose_key(view.preview_id, choice.block_id))):
            return choice
    return None


async def record(
    store: Store, press: Press, now: datetime, *, worker_id: str, lease_seconds: float, default_locale: str
) -> Recorded:
    """Check the press and record it durably (nothing is written for someone else's card or a repeat)."""
    found = await record_many(
        store, [(press, now)], worker_id=worker_id, lease_seconds=lease_seconds, default_locale=default_locale
    )
    return found[0]


async def record_many(
    store: Store,
    items: Sequence[tuple[Press, datetime]],
    *,
    worker_id: str,
    lease_seconds: float,
    default_locale: str,
) -> list[Recorded]:
    """`record` of many presses (each with its own `now`) in one transaction of a few statements, with the
    same answers as one at a time: of two copies of one press the first is recorded, the second is
    `in_progress`."""
    return await retrying(
        lambda: _record_batch(store, items, worker_id, lease_seconds, default_locale), what="press"
    )


async def _record_batch(
    store: Store,
    items: Sequence[tuple[Press, datetime]],
    worker_id: str,
    lease_seconds: float,
    default_locale: str,
) -> list[Recorded]:
    out: dict[int, Recorded] = {}
    async with store.uow() as uow:
        # A first press needs only who owns the preview: the previews themselves are read for repeats only.
        found = await uow.presses.pressed_owners(p.preview_id for p, _ in items)
        strangers = [
            p.operator_open_id
            for p, _ in items
            if p.preview_id not in found or found[p.preview_id].open_id != p.operator_open_id
        ]
        operators = await uow.users.by_open_ids(strangers)
        ours: list[int] = []
        for n, (press, _) in enumerate(items):
            pressed = found.get(press.preview_id)
            if pressed is None or pressed.open_id != press.operator_open_id:
                operator = operators.get(press.operator_open_id)
                locale = _locale(operator.locale if operator else None, default_locale)
                out[n] = Recorded("not_found" if pressed is None else "not_owner", locale)
            else:
                ours.append(n)
        inserted = await uow.presses.record_many(
            [(items[n][0].key, EVENT_TYPE, items[n][0].payload(), items[n][1]) for n in ours],
            worker_id=worker_id,
            lease_seconds=lease_seconds,
        )
        wrote = bool(inserted)
        first: set[str] = set()  # the keys recorded here: a second copy in this batch is in progress
        seen_before: list[int] = []
        for n in ours:
            press, now = items[n]
            owner = found[press.preview_id]
            key = short_key(press.key)
            if key in inserted and key not in first:
                first.add(key)
                out[n] = Recorded("recorded", _locale(owner.locale, default_locale), title=owner.title)
            else:
                seen_before.append(n)
        seen = await uow.presses.by_keys(items[n][0].key for n in seen_before)
        for n in list(seen_before):
            press, now = items[n]
            key = short_key(press.key)
            entry = seen.get(key)
            # A press that failed may be tried again: take it over.
            if (
                key not in first
                and entry is not None
                and entry.status == InboxStatus.FAILED
                and await uow.presses.retake(press.key, now, worker_id=worker_id, lease_seconds=lease_seconds)
            ):
                first.add(key)
                wrote = True
                owner = found[press.preview_id]
                out[n] = Recorded("recorded", _locale(owner.locale, default_locale), title=owner.title)
                seen_before.remove(n)
        shown = await uow.presses.pressed_many(items[n][0].preview_id for n in seen_before)
        views = await views_of(
            uow, [shown[items[n][0].preview_id] for n in seen_before if items[n][0].preview_id in shown]
        )
        for n in seen_before:
            press, _ = items[n]
            key = short_key(press.key)
            locale = _locale(found[press.preview_id].locale, default_locale)
            view = views.get(press.preview_id)
            if view is None:  # deleted between the two reads (a user removed meanwhile)
                out[n] = Recorded("not_found", locale)
                continue
            entry = seen.get(key)
            if key in first or (entry is not None and entry.status == InboxStatus.RECEIVED):
                out[n] = Recorded("in_progress", locale, view)
            else:
                log.info(
                    "press redelivered; answering with the current card",
                    extra={"preview_id": press.preview_id},
                )
                out[n] = Recorded("repeat", locale, view, await answered_choice(uow, view))
        if wrote:
            await uow.commit()
    return [out[n] for n in range(len(items))]


async def finish(
    store: Store,
    press: Press,
    now: datetime,
    *,
    worker_id: str,
    grid_minutes: int,
    busy: BusyTimes | None = None,
) -> Finished:
    """Run the press's action and settle its inbox row, in one transaction. Never raises for a refusal; a
    failure is recorded on the row (status failed) and re-raised. An Apply with `busy` re-reads the
    presser's Feishu busy time first when it is older than a minute."""
    try:
        if press.kind in (PressKind.APPLY, PressKind.PICK):
            return await _finish_apply(store, press, now, worker_id, grid_minutes, busy)
        return await retrying(lambda: _finish_once(store, press, now, worker_id), what="press")
    except Exception as exc:
        code = exc.code.value if isinstance(exc, ServiceError) else ErrorCode.INTERNAL.value
        try:
            await _settle_alone(store, press, now, worker_id, InboxStatus.FAILED, code)
        except Exception:
            log.exception("could not record the failed press on preview %s", press.preview_id)
        raise


class _Alone(Exception):
    """A batch of presses cannot be finished together (a press was settled elsewhere meanwhile): each is
    finished on its own instead."""


async def finish_many(
    store: Store,
    batch: Sequence[tuple[Press, datetime]],
    *,
    worker_id: str,
    grid_minutes: int,
    busy: BusyTimes | None = None,
) -> list[Finished | Exception]:
    """`finish` of many presses (each with its own `now`) at once, with the same results as one at a time:
    the Apply presses of distinct users in one transaction whose reads and writes are a fixed number of
    statements for the whole batch; any other press (and an Apply whose user has another in the batch)
    on its own afterwards. When the shared transaction fails for any reason it is rolled back whole and
    each of its presses is finished on its own, so nothing is applied twice and one press cannot fail
    another. A press whose finish failed has its exception in its place (recorded on its row, as `finish`
    does)."""
    done: dict[int, Finished | Exception] = {}
    together: list[tuple[int, Press, ApplyRequest]] = []
    for n, (press, now) in enumerate(batch):
        if press.kind is PressKind.APPLY:
            req = ApplyRequest.of(
                press.preview_id,
                press.candidate_id or "",
                press.operator_open_id,
                press.key,
                now,
                grid_minutes,
                busy is not None,
            )
            together.append((n, press, req))
    if len(together) > 1:
        latest = max(req.now for _, _, req in together)
        if busy is not None:  # the pressers' busy time at most a minute old, read together
            failed = await busy.ensure_fresh_many([p.operator_open_id for _, p, _ in together], latest)
            for n, press, req in together:
                if press.operator_open_id in failed:
                    exc = failed[press.operator_open_id]
                    log.info("apply of preview %s refused: %s", press.preview_id, exc)
                    done[n] = await _busy_refused(store, press, req.now, worker_id, exc.code)
            together = [t for t in together if t[0] not in done]
        try:
            done |= await _apply_together(store, together, latest, worker_id)
        except Exception:
            log.warning(
                "%d presses could not be finished together; finishing each alone",
                len(together),
                exc_info=True,
            )
    for n, (press, now) in enumerate(batch):
        if n not in done:
            try:
                done[n] = await finish(
                    store, press, now, worker_id=worker_id, grid_minutes=grid_minutes, busy=busy
                )
            except Exception as exc:
                done[n] = exc
    return [done[n] for n in range(len(batch))]


async def _apply_together(
    store: Store, together: Sequence[tuple[int, Press, ApplyRequest]], now: datetime, worker_id: str
) -> dict[int, Finished | Exception]:
    """The Apply presses of distinct users that can be finished in one transaction, finished; the others
    (not found, someone else's, a second press of a user) are left to be finished alone. `now`: when the
    rows are settled."""
    out: dict[int, Finished | Exception] = {}
    async with store.uow() as uow:
        loaded = await load_for_apply(uow, [req for _, _, req in together])
        users: set[str] = set()
        outcomes = []
        for n, press, req in together:
            got = loaded[req.preview_id]
            if got.user is None or got.user.open_id != req.operator_open_id or got.user.id in users:
                continue
            users.add(got.user.id)
            outcomes.append((n, press, await apply_in(uow, req, loaded=got)))
            await asyncio.sleep(0)  # the applies read nothing: let the requests waiting meanwhile be answered
        keys = [press.key for _, press, _ in outcomes]
        if await uow.presses.settle_many(keys, now, worker_id=worker_id) != len(keys):
            raise _Alone("a press of the batch was settled elsewhere")
        shown = [loaded[press.preview_id] for _, press, _ in outcomes]
        views = await views_of(
            uow,
            [
                (got.preview, got.user, got.tasks.get(got.preview.task_id) if got.preview.task_id else None)
                for got in shown
                if got.preview is not None and got.user is not None
            ],
        )
        for n, press, outcome in outcomes:
            view = views[press.preview_id]
            note = Note.AFTER_UNDO if outcome.status == "already_applied" and view.undone_at else None
            out[n] = Finished(press, outcome.status, outcome.code, view, None, note, None, outcome.replayed)
        await uow.commit()
    for _, press, outcome in outcomes:
        log.info("apply press on preview %s: %s %s", press.preview_id, outcome.status, outcome.code or "")
    return out


RECORDS_FIRST_SECONDS = 0.2  # the longest a group of finishes waits for the records under way
BURST_OVER_SECONDS = 0.01  # no press recorded for this long: a burst is over, finishing may begin


class Pressing:
    """Records and finishes the presses one process handles, in group writes (see `record_many` and
    `finish_many`): a press submitted while a group is being written waits for the next one, which takes
    every press submitted by then (at most `most`); a lone press goes at once."""

    def __init__(
        self,
        store: Store,
        *,
        worker_id: str,
        lease_seconds: float,
        default_locale: str,
        grid_minutes: int,
        busy: BusyTimes | None,
        most: int = 50,
    ) -> None:
        self._record: GroupWrite[tuple[Press, datetime], Recorded] = GroupWrite(
            lambda items: record_many(
                store, items, worker_id=worker_id, lease_seconds=lease_seconds, default_locale=default_locale
            ),
            most,
        )
        self._finish: GroupWrite[tuple[Press, datetime], Finished | Exception] = GroupWrite(
            lambda items: finish_many(
                store, items, worker_id=worker_id, grid_minutes=grid_minutes, busy=busy
            ),
            most,
            # Recording comes first: a press is answered once it is recorded, so a finish (long, and on
            # SQLite holding the one write lock) waits for the records under way and for a burst of
            # presses to be over (no press for a moment), for a bounded time.
            before=lambda: self._record.quiet(RECORDS_FIRST_SECONDS, for_seconds=BURST_OVER_SECONDS),
        )

    async def record(self, press: Press, now: datetime) -> Recorded:
        """`record` of one press, in the write the other presses of the moment share."""
        return await self._record.submit((press, now))

    @property
    def finishing(self) -> bool:
        """Presses are being finished or wait to be: a press submitted now waits for them first."""
        return self._finish.pending

    @property
    def recording(self) -> bool:
        """Presses are being recorded or wait to be: a finish submitted now waits for them first (and for
        the burst they belong to, up to RECORDS_FIRST_SECONDS)."""
        return self._record.pending

    async def finish(self, press: Press, now: datetime) -> Finished:
        """`finish` of one press, together with the others of the moment; raises what `finish` raises."""
        result = await self._finish.submit((press, now))
        if isinstance(result, Exception):
            raise result
        return result


async def _busy_refused(
    store: Store, press: Press, now: datetime, worker_id: str, code: ErrorCode
) -> Finished:
    """An Apply refused before its transaction because the presser's busy time could not be read: nothing
    applied and nothing recorded on the preview; the press is left failed, so pressing again (once Feishu
    answers) tries again."""
    await _settle_alone(store, press, now, worker_id, InboxStatus.FAILED, code.value)
    return Finished(press, "rejected", code, await _view(store, press.preview_id))


async def _finish_apply(  # noqa: PLR0917 - the press and its context
    store: Store, press: Press, now: datetime, worker_id: str, grid_minutes: int, busy: BusyTimes | None
) -> Finished:
    req = ApplyRequest.of(
        press.preview_id,
        press.candidate_id or "",
        press.operator_open_id,
        press.key,
        now,
        grid_minutes,
        busy is not None,
    )
    done: list[Finished] = []
    refused = await fresh_busy(busy, req)
    if refused is not None and refused.code is not None:
        return await _busy_refused(store, press, now, worker_id, refused.code)
    picked: Picked | None = None
    if press.kind is PressKind.PICK:  # the picked start becomes the option to apply, or is refused here
        picked = await picked_candidate(
            store, press.preview_id, press.operator_open_id, press.value, now, grid_minutes
        )
        if picked.code is not None:
            await _settle_alone(store, press, now, worker_id, InboxStatus.PROCESSED, picked.code.value)
            return Finished(press, "rejected", picked.code, await _view(store, press.preview_id))
        req = ApplyRequest.of(
            press.preview_id,
            picked.candidate_id,
            press.operator_open_id,
            press.key,
            now,
            grid_minutes,
            busy is not None,
        )

    async def once() -> Any:
        done.clear()
        async with store.uow() as uow:
            if picked is not None:
                await keep_picked_in(uow, press.preview_id, picked)
            outcome = await apply_in(uow, req)
            if not await _settle(uow, press, now, worker_id):
                return outcome  # finished elsewhere meanwhile: this attempt writes nothing
            view = await preview_view(uow, press.preview_id)
            note = Note.AFTER_UNDO if outcome.status == "already_applied" and view.undone_at else None
            done.append(
                Finished(press, outcome.status, outcome.code, view, None, note, None, outcome.replayed)
            )
            await uow.commit()
            return outcome

    outcome = await run_apply(store, req, once)
    if done:
        return done[0]
    # refused after writes began, failed, or settled by another process: settle (if still ours) and show
    if outcome.code is not None and outcome.code not in RECORDED:
        log.info("apply of preview %s: %s", press.preview_id, outcome.code)
    # an internal failure leaves the press failed, so pressing again tries again
    status = InboxStatus.FAILED if outcome.code is ErrorCode.INTERNAL else InboxStatus.PROCESSED
    await _settle_alone(store, press, now, worker_id, status, outcome.code.value if outcome.code else None)
    return Finished(press, outcome.status, outcome.code, await _view(store, press.preview_id))


async def _finish_once(store: Store, press: Press, now: datetime, worker_id: str) -> Finished:
    async with store.uow() as uow:
        result: Finished | None
        if press.kind is PressKind.CHOOSE:
            result = await _choose_in(uow, press, now)
        elif press.kind.task_action is not None:
            result = await _task_action(uow, press, press.kind.task_action, now)
        elif press.kind is PressKind.IGNORE:
            result = await _ignore(uow, press, now)
        else:
            result = await _undo(uow, press, now)
        if result is None:
            # the action was refused after it may have written part of it: roll back, settle alone
            await uow.rollback()
            await _settle_alone(store, press, now, worker_id, InboxStatus.PROCESSED)
            return Finished(press, "rejected", ErrorCode.UNDO_CONFLICT, await _view(store, press.preview_id))
        if not await _settle(uow, press, now, worker_id):
            return Finished(press, "rejected", ErrorCode.INVALID_STATE, await _view_in(uow, press.preview_id))
        await uow.commit()
        return result


async def _ignore(uow: UnitOfWork, press: Press, now: datetime) -> Finished:
    view = await preview_view(uow, press.preview_id)
    chosen = await answered_choice(uow, view)
    if chosen is not None:  # the question was answered (choosing left it `ignored`): nothing to ignore
        return Finished(press, "rejected", ErrorCode.INVALID_STATE, view, chosen, Note.ALREADY_CHOSEN)
    outcome = await ignore_in(uow, press.preview_id, press.operator_open_id, now)
    return Finished(press, outcome.status, outcome.code, await preview_view(uow, press.preview_id))


async def _task_action(uow: UnitOfWork, press: Press, action: TaskAction, now: datetime) -> Finished:
    value = press.value if action is TaskAction.DEADLINE else (press.candidate_id or "")
    outcome = await task_action_in(uow, press.preview_id, press.operator_open_id, action, value, now)
    view = await _view_in(uow, press.preview_id)
    return Finished(press, outcome.status, outcome.code, view, replayed=outcome.replayed, at=outcome.at)


async def _undo(uow: UnitOfWork, press: Press, now: datetime) -> Finished | None:
    outcome = await undo_in(uow, press.preview_id, press.operator_open_id, now)
    if outcome.status == "rejected" and outcome.code is ErrorCode.UNDO_CONFLICT:
        return None
    return Finished(
        press,
        outcome.status,
        outcome.code,
        await preview_view(uow, press.preview_id),
        replayed=outcome.replayed,
    )


async def _choose_in(uow: UnitOfWork, press: Press, now: datetime) -> Finished:
    """The answer to an ask_user card: a feedback trigger for the chosen block (run by the caller); the
    same choice twice creates nothing new, another choice after one is refused."""
    block_id = press.candidate_id
    view = await preview_view(uow, press.preview_id)
    chosen = await answered_choice(uow, view)
    if chosen is not None and chosen.block_id == block_id:  # the same answer again: the same reply
        return Finished(press, "chosen", None, view, chosen, replayed=True)
    if chosen is not None:
        return Finished(press, "rejected", ErrorCode.INVALID_STATE, view, chosen, Note.ALREADY_CHOSEN)
    unknown = Finished(press, "rejected", ErrorCode.INVALID_STATE, view, None, Note.UNKNOWN_CHOICE)
    if view.status != PreviewStatus.READY or now >= view.expires_at:
        return unknown
    picked = next((c for c in view.choices if c.block_id == block_id), None)
    preview = await uow.previews.get_for_update(press.preview_id)
    found = await uow.presses.preview_and_owner(press.preview_id)
    block = await uow.blocks.get(block_id) if block_id else None
    if (
        picked is None
        or preview is None
        or found is None
        or block is None
        or block.user_id != preview.user_id
    ):
        return unknown
    asked = await uow.triggers.get(preview.trigger_id)
    outcome = await create_trigger(
        uow,
        user=found[1],
        type=TriggerType.USER_FEEDBACK,
        now=now,
        task_id=block.task_id,
        block_id=block.id,
        idempotency_key=choose_key(press.preview_id, block.id),
        remaining_minutes=asked.remaining_minutes if asked else None,
        user_text=asked.user_text if asked else None,
    )
    # The question is answered: it leaves `ready` (no second choice, and the expiry sweep will not later say
    # "expired, nothing changed"); the click's answer replaces the card, so no update is queued.
    previews.move(uow, preview, PreviewStatus.IGNORED, now, publish=False)
    return Finished(
        press,
        "chosen",
        None,
        view,
        picked,
        feedback_trigger_id=outcome.trigger.id if outcome.created else None,
    )


async def _settle(uow: UnitOfWork, press: Press, now: datetime, worker_id: str) -> bool:
    return await uow.presses.settle(press.key, InboxStatus.PROCESSED, now, worker_id=worker_id)


async def _settle_alone(  # noqa: PLR0917
    store: Store, press: Press, now: datetime, worker_id: str, status: InboxStatus, error: str | None = None
) -> None:
    async with store.uow() as uow:
        if await uow.presses.settle(press.key, status, now, error, worker_id=worker_id):
            await uow.commit()


async def _view(store: Store, preview_id: str) -> PreviewView | None:
    async with store.uow(readonly=True) as uow:
        return await _view_in(uow, preview_id)


async def _view_in(uow: UnitOfWork, preview_id: str) -> PreviewView | None:
    try:
        return await preview_view(uow, preview_id)
    except ServiceError:
        return None


async def finish_unfinished(
    store: Store,
    *,
    worker_id: str,
    now: datetime,
    lease_seconds: float,
    grid_minutes: int,
    limit: int = 50,
    busy: BusyTimes | None = None,
) -> list[Finished]:
    """Finish presses recorded by a process that stopped before finishing them (their lease expired). The
    card is updated by the preview.updated row the action queues, like any other change."""
    async with store.uow() as uow:
        rows = await uow.presses.claim_unfinished(worker_id, now, lease_seconds, limit)
        claimed = [(row.dedupe_key, Press.from_payload(row.payload)) for row in rows]
        await uow.commit()
    readable: list[tuple[Press, datetime]] = []
    for key, press in claimed:
        if press is None or short_key(press.key) != key:
            async with store.uow() as uow:
                if await uow.presses.settle(
                    key, InboxStatus.FAILED, now, "unreadable press", worker_id=worker_id
                ):
                    await uow.commit()
            continue
        readable.append((press, now))
    results = await finish_many(store, readable, worker_id=worker_id, grid_minutes=grid_minutes, busy=busy)
    finished: list[Finished] = []
    for (press, _), result in zip(readable, results, strict=True):
        if isinstance(result, Exception):
            log.error("unfinished press on preview %s failed", press.preview_id, exc_info=result)
        else:
            finished.append(result)
    if finished:
        log.info("%d unfinished presses finished", len(finished))
    return finished


async def operator_locale(store: Store, open_id: str, default: str) -> str:
    """The language of whoever pressed: their user row's, else `default` (someone the bot has never seen)."""
    async with store.uow(readonly=True) as uow:
        user = (await uow.users.by_open_ids([open_id])).get(open_id)
        return _locale(user.locale if user else None, default)
