"""Card button presses: checked and recorded durably (scheduler.services.presses), finished within a short
budget and answered with the final card, else answered with a toast and finished in the background, the
card then updated with the press's delayed-update token.

A press already finished is answered from the inbox with the current card; a press whose process stopped is
finished by a worker after its lease. A database outage is answered with a toast, never an HTTP error."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from bot.cards import CardError, Kind, PayloadError, ToastKind, build_working_card, toast, unpack
from bot.handlers.capture import open_task_form, submit_capture, submit_task_form
from bot.handlers.cardview import card_for_view
from bot.handlers.deps import BotDeps
from bot.handlers.feedback import run_feedback
from bot.handlers.welcome import change_setting
from bot.inbound import CallbackAnswer, ClickIn
from bot.texts import norm_locale, t
from scheduler.services import presses
from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.presses import Finished, Note, Press, PressKind

log = logging.getLogger(__name__)

EVENT_TYPE = presses.EVENT_TYPE
# How long an answer waits for the press to be recorded, from the request's arrival: inside the 3 s Feishu
# gives a callback, with room for the answer's way back.
RECORD_WAIT_SECONDS = 2.0


def answer(toast_body: dict[str, str] | None, card: dict[str, Any] | None = None) -> CallbackAnswer:
    out: dict[str, Any] = {}
    if toast_body is not None:
        out["toast"] = toast_body
    if card is not None:
        out["card"] = {"type": "raw", "data": card}
    return out


_TASK_ACTION_TOASTS = {
    PressKind.DEADLINE: ToastKind.DEADLINE_MOVED,
    PressKind.SNOOZE: ToastKind.SNOOZED,
    PressKind.DROP: ToastKind.DROPPED,
}
_PICK_AGAIN = frozenset(
    {
        ErrorCode.DEADLINE_UNREADABLE.value,
        ErrorCode.DEADLINE_PAST.value,
        ErrorCode.PICK_UNREADABLE.value,
        ErrorCode.PICK_NOTHING_TO_PLAN.value,
        ErrorCode.PICK_PAST.value,
        ErrorCode.PICK_BEYOND_WINDOW.value,
        ErrorCode.PICK_OUTSIDE_DAY.value,
        ErrorCode.PICK_BUSY.value,
    }
)


def _render(fin: Finished, now: datetime, locale: str) -> CallbackAnswer:
    """The answer to a finished press: a toast saying what happened and the card as it is now."""
    view = fin.view
    code = (fin.code or ErrorCode.INTERNAL).value
    if view is None:
        return answer(toast(code if fin.status == "rejected" else ToastKind.ERROR, locale))
    words = view.locale
    kind = fin.press.kind
    if fin.note is Note.ALREADY_CHOSEN and fin.chosen is not None:
        said = t("chosen.already", words, label=fin.chosen.label)
        toast_kind = ToastKind.ALREADY_CHOSEN if kind is PressKind.IGNORE else ToastKind.ERROR
        return answer(toast(toast_kind, words, message=said), card_for_view(view, now, None, fin.chosen))
    if fin.note is Note.UNKNOWN_CHOICE:
        return answer(toast(ToastKind.ERROR, words, message=t("choose.unknown", words)))
    if kind is PressKind.CHOOSE:
        return answer(toast(ToastKind.CHOSEN, words), card_for_view(view, now, None, fin.chosen))
    if kind in _TASK_ACTION_TOASTS:
        if fin.status == "acted":
            return answer(toast(_TASK_ACTION_TOASTS[kind], words), card_for_view(view, now))
        # An unreadable or past deadline leaves the card as it is, to pick again.
        refusal = None if code in _PICK_AGAIN else code
        return answer(toast(code, words), card_for_view(view, now, refusal))
    done = {
        PressKind.APPLY: ("applied", ToastKind.APPLIED),
        PressKind.PICK: ("applied", ToastKind.APPLIED),
        PressKind.IGNORE: ("ignored", ToastKind.IGNORED),
        PressKind.UNDO: ("undone", ToastKind.UNDONE),
    }[kind]
    if fin.status == done[0]:
        return answer(toast(done[1], words), card_for_view(view, now))
    if fin.note is Note.AFTER_UNDO:  # applied, then undone: say so rather than "already applied"
        said = t("apply.after_undo", words)
        return answer(toast("already_applied", words, message=said), card_for_view(view, now))
    # Undo refusals, "already applied" and a picked time that does not fit (pick again) leave the card as it
    # is; other refusals may say why on it.
    refusal = (
        None if kind is PressKind.UNDO or fin.status == "already_applied" or code in _PICK_AGAIN else code
    )
    return answer(toast(code, words), card_for_view(view, now, refusal))


async def _finish(deps: BotDeps, press: Press, now: datetime, locale: str) -> CallbackAnswer:
    try:
        fin = await deps.presses.finish(press, now)
    except Exception as exc:
        log.exception("press on preview %s failed", press.preview_id)
        code = exc.code.value if isinstance(exc, ServiceError) else ErrorCode.INTERNAL.value
        return answer(toast(code, locale))
    log.info("press %s on preview %s: %s %s", press.kind, press.preview_id, fin.status, fin.code or "")
    if fin.feedback_trigger_id is not None:
        trigger_id = fin.feedback_trigger_id
        deps.background.spawn(run_feedback(deps, None, trigger_id, locale), f"choose:{trigger_id}")
    return _render(fin, now, locale)


async def _process(  # noqa: PLR0917 - the press and what its answer waits for
    deps: BotDeps,
    press: Press,
    now: datetime,
    said: dict[str, str],
    recorded: asyncio.Event,
    queued: asyncio.Event,
) -> CallbackAnswer:
    """Record the press, then finish it; never raises. `said` learns the presser's language; `recorded` is
    set once the record is settled (written, or known not to be needed or possible); `queued` when the
    press must wait for other presses to be recorded or finished first (no use waiting to answer it)."""
    default = norm_locale(deps.config.locale)
    try:
        rec = await deps.presses.record(press, now)
    except Exception:
        # The database is unwell: nothing was recorded, so Feishu's retry or a second press may succeed.
        log.exception("press on preview %s could not be recorded", press.preview_id)
        return answer(toast(ErrorCode.INTERNAL.value, default))
    finally:
        recorded.set()
    said["locale"] = rec.operator_locale
    said["title"] = rec.title
    if rec.status == "not_found":
        return answer(toast(ErrorCode.NOT_FOUND.value, rec.operator_locale))
    if rec.status == "not_owner":
        # Someone else's card (forwarded, or in a group): a toast, and nothing is written, not even the inbox.
        return answer(toast(ToastKind.NOT_OWNER, rec.operator_locale))
    if rec.status == "in_progress":
        return answer(toast(ToastKind.WORKING, rec.operator_locale))
    try:
        if rec.status == "repeat" and rec.view is not None:
            return answer(None, card_for_view(rec.view, now, None, rec.chosen))
        if deps.presses.finishing or deps.presses.recording:
            queued.set()  # its finish waits for those: answered now, its card updated once it is done
        return await _finish(deps, press, now, rec.operator_locale)
    except CardError:
        # The press is done (or was before); only its card cannot be drawn: say so, keep the card as it is.
        log.exception("the card for preview %s cannot be built", press.preview_id)
        return answer(toast(ToastKind.ERROR, rec.operator_locale))


async def _update_later(deps: BotDeps, click: ClickIn, work: asyncio.Task[CallbackAnswer]) -> None:
    """The press was answered before it was done: once it is, update the card, with the callback token or,
    while more of those are under way, by PATCH of the message (see CardUpdates)."""
    result = await work
    card = result.get("card")
    if not isinstance(card, dict) or not isinstance(card.get("data"), dict):
        return
    routes = deps.card_updates
    if routes.by_patch(click.callback_token, click.open_message_id):
        routes.patches += 1
        try:
            await deps.outbound.patch_card(click.open_message_id, card["data"])
        finally:
            routes.patches -= 1
    elif click.callback_token:
        routes.delayed += 1
        try:
            await deps.outbound.delayed_update(click.callback_token, card["data"])
        finally:
            routes.delayed -= 1


async def handle_click(deps: BotDeps, click: ClickIn) -> CallbackAnswer:
    """Answer within the budget, counted from the request's arrival (`click.received_at`): whatever is not
    done by then, or must wait for other presses to be finished first, is answered with a toast now and
    finished in the background, then shown by a card update."""
    now = deps.clock()
    started = click.received_at if click.received_at is not None else time.monotonic()
    try:
        payload = unpack(click.value)
    except PayloadError as exc:
        log.info("click with a foreign button value ignored: %s", exc.code)
        words = norm_locale(await _operator_locale(deps, click.operator_open_id))
        return answer(toast(ToastKind.ERROR, words, message=t("click.unknown", words)))
    if payload.k is Kind.CAPTURE:  # a form's Submit, not a press on a preview
        return await submit_capture(deps, click, payload.p)
    if payload.k is Kind.TASK_EDIT:  # a task card's Edit: the form on the task as it is now
        return await open_task_form(deps, click, payload.p)
    if payload.k is Kind.TASK_SAVE:  # the Edit form's Save
        return await submit_task_form(deps, click, payload.p)
    if payload.k is Kind.PREFS:  # a welcome card's select
        return await change_setting(deps, click, payload.p)
    press = Press(
        key=click.dedupe_key,
        kind=PressKind(payload.k.value),
        preview_id=payload.p,
        operator_open_id=click.operator_open_id,
        candidate_id=payload.c,
        token=click.callback_token,
        value=click.option[:64],
    )
    said: dict[str, str] = {}
    recorded, queued = asyncio.Event(), asyncio.Event()
    work = deps.background.spawn(_process(deps, press, now, said, recorded, queued), f"click:{payload.p}")
    # "Working" promises the press will be done: it is said only once the press is recorded durably (a
    # process that stops then leaves it to a worker), waiting for that within Feishu's deadline.
    await _first_of(work, recorded, seconds=RECORD_WAIT_SECONDS - (time.monotonic() - started))
    if not work.done() and recorded.is_set() and not queued.is_set():
        budget = deps.config.click_budget_seconds - (time.monotonic() - started)
        await _first_of(work, queued, seconds=budget)
    if work.done():
        result: CallbackAnswer = work.result()
        return result
    if not recorded.is_set():
        log.warning("click on preview %s not recorded in time; answering now, going on", payload.p)
    elif queued.is_set():
        log.info("click on preview %s waits for other presses; answering now, updating later", payload.p)
    else:
        # Not done within the budget (its finish was slow, or a burst began after its record): the
        # callback latency metrics say when this is slowness rather than load.
        log.info("click on preview %s not done within the budget; answering now, updating later", payload.p)
    deps.background.spawn(_update_later(deps, click, work), f"click-update:{payload.p}")
    words = said.get("locale") or norm_locale(deps.config.locale)
    return answer(toast(ToastKind.WORKING, words), build_working_card(words, said.get("title", "")))


async def _first_of(work: asyncio.Task[CallbackAnswer], event: asyncio.Event, *, seconds: float) -> None:
    """Wait until `work` is done or `event` is set, for at most `seconds` (none when not positive)."""
    if work.done() or event.is_set() or seconds <= 0:
        return
    flag = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({work, flag}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        flag.cancel()


async def _operator_locale(deps: BotDeps, open_id: str) -> str:
    try:
        return await asyncio.wait_for(
            presses.operator_locale(deps.store, open_id, deps.config.locale), deps.config.click_budget_seconds
        )
    except Exception:
        log.warning("could not read the language of %s", open_id, exc_info=True)
        return deps.config.locale
