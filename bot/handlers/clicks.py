"""Card button presses: owner check, apply / ignore / undo / choose through the services, the inbox row,
answered within the click budget with a toast and the replaced card (or a toast now and an update later).

A press already in the inbox is answered with the current card and nothing else. The check is a read and
the row is written after the action (one write per press): two copies of one press racing past the check
reach the services with the same idempotency key, which apply, ignore, undo and choose all honour."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from bot.cards import (
    ButtonPayload,
    Kind,
    PayloadError,
    ToastKind,
    toast,
    unpack,
)
from bot.handlers import inbox
from bot.handlers.cardview import card_for_view, choose_key, chosen_choice
from bot.handlers.context import ClickContext
from bot.handlers.deps import BotDeps
from bot.handlers.feedback import run_feedback
from bot.handlers.localtext import lt
from bot.inbound import CallbackAnswer, ClickIn
from bot.router import Router
from bot.texts import norm_locale, t
from scheduler.services import actions
from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.triggers import create_trigger
from scheduler.services.views import ChoiceView, PreviewView, preview_view
from store.enums import InboxKind, InboxStatus, PreviewStatus, TriggerType

log = logging.getLogger(__name__)

EVENT_TYPE = "card.action.trigger"

click_router: Router[ClickContext, CallbackAnswer] = Router("clicks")


def _kind(kind: Kind) -> Any:
    return lambda ctx: ctx.payload.k is kind


def answer(toast_body: dict[str, str] | None, card: dict[str, Any] | None = None) -> CallbackAnswer:
    out: dict[str, Any] = {}
    if toast_body is not None:
        out["toast"] = toast_body
    if card is not None:
        out["card"] = {"type": "raw", "data": card}
    return out


async def _view(ctx: ClickContext) -> PreviewView:
    async with ctx.deps.store.uow(readonly=True) as uow:
        return await preview_view(uow, ctx.preview_id)


async def _state(ctx: ClickContext) -> tuple[PreviewView, ChoiceView | None]:
    """The preview now, and the answer it was given if it is an answered question."""
    async with ctx.deps.store.uow(readonly=True) as uow:
        view = await preview_view(uow, ctx.preview_id)
        return view, await chosen_choice(uow, view)


async def _answer_with_state(
    ctx: ClickContext, kind: ToastKind | str, refusal: str | None = None
) -> CallbackAnswer:
    view, chosen = await _state(ctx)
    return answer(toast(kind, view.locale), card_for_view(view, ctx.deps.clock(), refusal, chosen))


def _already_chosen(
    ctx: ClickContext, view: PreviewView, chosen: ChoiceView, kind: ToastKind
) -> CallbackAnswer:
    """A press on a question that was already answered: say so, and show the answer again."""
    words = t("chosen.already", view.locale, label=chosen.label)
    return answer(toast(kind, view.locale, message=words), card_for_view(view, ctx.now, None, chosen))


@click_router.route(_kind(Kind.APPLY))
async def apply(ctx: ClickContext) -> CallbackAnswer:
    assert ctx.payload.c is not None
    outcome = await actions.apply(
        ctx.deps.store,
        preview_id=ctx.preview_id,
        candidate_id=ctx.payload.c,
        operator_open_id=ctx.click.operator_open_id,
        idempotency_key=ctx.idempotency_key,
        now=ctx.now,
        grid_minutes=ctx.deps.config.grid_minutes,
    )
    log.info("apply %s: %s %s", ctx.preview_id, outcome.status, outcome.code or "")
    if outcome.status == "applied":
        return await _answer_with_state(ctx, ToastKind.APPLIED)
    if outcome.status == "already_applied":
        view = await _view(ctx)
        if view.undone_at is not None:  # applied, then undone: say so rather than "already applied"
            words = t("apply.after_undo", view.locale)
            return answer(toast("already_applied", view.locale, message=words), card_for_view(view, ctx.now))
    code = (outcome.code or ErrorCode.INTERNAL).value
    return await _answer_with_state(ctx, code, refusal=None if outcome.status == "already_applied" else code)


@click_router.route(_kind(Kind.IGNORE))
async def ignore(ctx: ClickContext) -> CallbackAnswer:
    view, chosen = await _state(ctx)
    if chosen is not None:  # the question was answered (choosing left it `ignored`): nothing to ignore
        return _already_chosen(ctx, view, chosen, ToastKind.ALREADY_CHOSEN)
    outcome = await actions.ignore(
        ctx.deps.store, preview_id=ctx.preview_id, operator_open_id=ctx.click.operator_open_id, now=ctx.now
    )
    if outcome.status == "ignored":
        return await _answer_with_state(ctx, ToastKind.IGNORED)
    code = (outcome.code or ErrorCode.INTERNAL).value
    return await _answer_with_state(ctx, code, refusal=code)


@click_router.route(_kind(Kind.UNDO))
async def undo(ctx: ClickContext) -> CallbackAnswer:
    outcome = await actions.undo(
        ctx.deps.store, preview_id=ctx.preview_id, operator_open_id=ctx.click.operator_open_id, now=ctx.now
    )
    if outcome.status == "undone":
        return await _answer_with_state(ctx, ToastKind.UNDONE)
    return await _answer_with_state(ctx, (outcome.code or ErrorCode.INTERNAL).value)


@click_router.route(_kind(Kind.CHOOSE))
async def choose(ctx: ClickContext) -> CallbackAnswer:
    """The answer to an ask_user card: a feedback trigger for the chosen block, run in the background; the
    worker sends the new card. Choosing the same block twice creates nothing new."""
    block_id = ctx.payload.c
    async with ctx.deps.store.uow() as uow:
        view = await preview_view(uow, ctx.preview_id)
        chosen = await chosen_choice(uow, view)
        if chosen is not None and chosen.block_id == block_id:  # the same answer again: the same reply
            return answer(toast(ToastKind.CHOSEN, view.locale), card_for_view(view, ctx.now, None, chosen))
        if chosen is not None:
            return _already_chosen(ctx, view, chosen, ToastKind.ERROR)
        if view.status != PreviewStatus.READY or ctx.now >= view.expires_at:
            return answer(toast(ToastKind.ERROR, view.locale, message=lt("choose.unknown", view.locale)))
        if block_id not in {c.block_id for c in view.choices}:
            return answer(toast(ToastKind.ERROR, view.locale, message=lt("choose.unknown", view.locale)))
        preview = await uow.previews.get(ctx.preview_id)
        user = await uow.users.get_by_open_id(view.user_open_id)
        asked = await uow.triggers.get(preview.trigger_id) if preview is not None else None
        block = await uow.blocks.get(block_id) if block_id else None
        if user is None or block is None:
            return answer(toast(ToastKind.ERROR, view.locale, message=lt("choose.unknown", view.locale)))
        outcome = await create_trigger(
            uow,
            user=user,
            type=TriggerType.USER_FEEDBACK,
            now=ctx.now,
            task_id=block.task_id,
            block_id=block.id,
            idempotency_key=choose_key(ctx.preview_id, block.id),
            remaining_minutes=asked.remaining_minutes if asked else None,
            user_text=asked.user_text if asked else None,
        )
        if preview is not None:
            # The question is answered: it leaves `ready` (no second choice, and the expiry sweep will not
            # later say "expired, nothing changed"); this answer replaces the card, so no update is queued.
            # The trigger keyed by choose_key records which block was picked (see chosen_choice).
            preview.status = PreviewStatus.IGNORED
            preview.updated_at = ctx.now
        await uow.commit()
    if outcome.created:
        deps, trigger_id, locale = ctx.deps, outcome.trigger.id, view.locale
        deps.background.spawn(run_feedback(deps, None, trigger_id, locale), f"choose:{trigger_id}")
    picked = next(c for c in view.choices if c.block_id == block_id)
    return answer(toast(ToastKind.CHOSEN, view.locale), card_for_view(view, ctx.now, None, picked))


async def _unknown(ctx: ClickContext) -> CallbackAnswer:  # pragma: no cover - every Kind has a route
    return answer(toast(ToastKind.ERROR, ctx.locale))


async def _record(deps: BotDeps, key: str, status: InboxStatus, error: str | None = None) -> None:
    """One write after the action: the press's inbox row with its outcome (a retried press updates it)."""
    now = deps.clock()
    async with deps.store.uow() as uow:
        if await inbox.record(uow, InboxKind.CLICK, key, EVENT_TYPE, now, status=status, error=error) is None:
            await uow.inbox.mark(key, status, now, error)
        await uow.commit()


async def _run(ctx: ClickContext) -> CallbackAnswer:
    """The click's handler; never raises: a failure is recorded and answered in words."""
    key = ctx.click.dedupe_key
    try:
        result = await click_router.dispatch(ctx, _unknown)
    except Exception as exc:
        log.exception("click on preview %s failed", ctx.preview_id)
        code = exc.code.value if isinstance(exc, ServiceError) else ErrorCode.INTERNAL.value
        try:
            await _record(ctx.deps, key, InboxStatus.FAILED, code)
        except Exception:
            log.exception("could not record the failed click")
        return answer(toast(code, ctx.locale))
    await _record(ctx.deps, key, InboxStatus.PROCESSED)
    return result


async def _update_later(deps: BotDeps, click: ClickIn, work: asyncio.Task[CallbackAnswer]) -> None:
    """The click took longer than the budget: once it is done, update the card with the callback token."""
    result = await work
    card = result.get("card")
    if isinstance(card, dict) and isinstance(card.get("data"), dict) and click.callback_token:
        await deps.outbound.delayed_update(click.callback_token, card["data"])


async def _operator_locale(deps: BotDeps, open_id: str) -> str:
    """The language of the person who pressed: their user row's, else the configured default (someone the
    bot has never seen). Toasts before the owner check use it, so a stranger reads them in their language."""
    async with deps.store.uow(readonly=True) as uow:
        user = await uow.users.get_by_open_id(open_id)
        return norm_locale(user.locale if user is not None else deps.config.locale)


async def _process(
    deps: BotDeps, click: ClickIn, payload: ButtonPayload, now: datetime, locale: asyncio.Task[str]
) -> CallbackAnswer:
    operator = await locale
    try:
        async with deps.store.uow(readonly=True) as uow:
            view = await preview_view(uow, payload.p)
            seen = await uow.inbox.get_by_key(click.dedupe_key)
            # a failed press may be tried again
            repeat = seen is not None and seen.status != InboxStatus.FAILED
            chosen = await chosen_choice(uow, view) if repeat else None
    except ServiceError as exc:
        return answer(toast(exc.code.value, operator))
    if view.user_open_id != click.operator_open_id:
        # Someone else's card (forwarded, or in a group): a toast, and nothing is written, not even the inbox.
        return answer(toast(ToastKind.NOT_OWNER, operator))
    if repeat:
        log.info("click redelivered; answering with the current card", extra={"preview_id": payload.p})
        return answer(None, card_for_view(view, now, None, chosen))
    return await _run(ClickContext(deps, click, payload, now, view.locale, view.user_open_id))


def _done_locale(deps: BotDeps, locale: asyncio.Task[str]) -> str:
    """The operator's language if it is known by now, else the configured default (never waits)."""
    if locale.done() and not locale.cancelled() and locale.exception() is None:
        return locale.result()
    return norm_locale(deps.config.locale)


async def handle_click(deps: BotDeps, click: ClickIn) -> CallbackAnswer:
    """Answer within the budget, counted from the request's arrival (`click.received_at`): whatever is not
    done by then is answered with a toast now and finished in the background, then shown by a card update."""
    now = deps.clock()
    locale = deps.background.spawn(_operator_locale(deps, click.operator_open_id), "click-locale")
    started = click.received_at if click.received_at is not None else time.monotonic()
    try:
        payload = unpack(click.value)
    except PayloadError as exc:
        log.info("click with a foreign button value ignored: %s", exc.code)
        budget = max(0.0, deps.config.click_budget_seconds - (time.monotonic() - started))
        await asyncio.wait({locale}, timeout=budget)
        words = _done_locale(deps, locale)
        return answer(toast(ToastKind.ERROR, words, message=lt("click.unknown", words)))
    work = deps.background.spawn(_process(deps, click, payload, now, locale), f"click:{payload.p}")
    budget = max(0.0, deps.config.click_budget_seconds - (time.monotonic() - started))
    done, _ = await asyncio.wait({work}, timeout=budget)
    if work in done:
        result: CallbackAnswer = work.result()
        return result
    log.warning("click on preview %s is slow; answering now, updating later", payload.p)
    deps.background.spawn(_update_later(deps, click, work), f"click-update:{payload.p}")
    return answer(toast(ToastKind.WORKING, _done_locale(deps, locale)))
