""" "Unfinished" feedback (free text or /unfinished): the service resolves the block and creates the
trigger; the pipeline runs it after the commit."""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.handlers.context import MessageContext
from bot.handlers.deps import BotDeps
from bot.handlers.replies import ACK_EMOJI, send_reply
from bot.inbound import MessageIn
from bot.parse import Unfinished
from bot.router import Router, is_instance
from bot.texts import error_message, t
from scheduler.services.feedback import (
    BlockView,
    Found,
    NothingToMakeUp,
    done_task_of_trigger,
    report_unfinished,
)
from scheduler.services.types import TriggerStatus

log = logging.getLogger(__name__)

LATER_REPLY = 5  # reply numbers from here on are sent after background work (distinct uuids)

feedback_router: Router[MessageContext, None] = Router("feedback")


@feedback_router.route(is_instance(Unfinished))
async def unfinished(ctx: MessageContext) -> None:
    """The block that just ended or is running (or the named task's latest block); when several fit,
    the pipeline asks which one with an ask_user card."""
    command = ctx.command
    assert isinstance(command, Unfinished)
    handled = await report_unfinished(
        ctx.deps.store,
        ctx.inbound,
        command.task_ref,
        command.minutes,
        command.text or ctx.text,
        ctx.message.message_id,
    )
    if not ctx.seen(handled):
        return
    result = handled.result
    if isinstance(result, NothingToMakeUp):
        ctx.reply(_nothing_to_make_up(ctx, command, result, handled.user.timezone))
        return
    if result.trigger_id is None:
        return
    trigger_id, deps, message, locale = result.trigger_id, ctx.deps, ctx.message, ctx.locale
    ctx.react = ACK_EMOJI  # the report was taken in: a card follows
    ctx.after_commit("pipeline", lambda: run_feedback(deps, message, trigger_id, locale))


async def run_feedback(deps: BotDeps, message: MessageIn | None, trigger_id: str, locale: str) -> None:
    """Run the trigger's pipeline; the worker sends the card. Say so when nothing (or an error) came of it."""
    result = await deps.pipeline.run(trigger_id, deps.clock())
    log.info("feedback trigger %s -> %s", trigger_id, result.status)
    if message is None:
        return
    if result.status == TriggerStatus.CLOSED:
        title = await done_task_of_trigger(deps.store, message.sender_open_id, trigger_id)
        text = _task_done(title, locale) if title is not None else t("feedback.closed", locale)
        await send_reply(deps, message, text, LATER_REPLY)
    elif result.status == TriggerStatus.FAILED:
        reason = error_message(result.error_code or "internal", locale)
        await send_reply(deps, message, t("feedback.failed", locale, reason=reason), LATER_REPLY)


def _task_done(title: str, locale: str) -> str:
    return t("feedback.task_done", locale, title=title, command=f"/undone {title}")


def _nothing_to_make_up(ctx: MessageContext, command: Unfinished, result: NothingToMakeUp, tz: str) -> str:
    """Why no card comes, in words that name what the bot understood."""
    locale, ref, block = ctx.locale, command.task_ref or "", result.block
    if result.found is Found.NOT_STARTED and block is not None:
        return t("feedback.not_started", locale, title=block.title, when=_when(ctx, block, tz))
    if result.found is Found.NO_BLOCK:
        return t("feedback.no_block", locale, title=t("feedback.list_sep", locale).join(result.titles))
    if result.found is Found.TASK_DONE:
        return _task_done(result.titles[0], locale)
    if result.found is Found.NO_TASK and block is not None:
        example = (
            t("feedback.example_minutes", locale, minutes=command.minutes)
            if command.minutes is not None
            else t("feedback.example", locale)
        )
        when = _when(ctx, block, tz)
        return t("feedback.no_task_recent", locale, ref=ref, title=block.title, when=when, example=example)
    if result.found is Found.NO_TASK:
        return t("feedback.no_task", locale, ref=ref)
    return t("feedback.nothing", locale)


def _when(ctx: MessageContext, block: BlockView, tz: str) -> str:
    """The block's local time span, with today/tomorrow or the date."""
    zone = ZoneInfo(tz)
    start, end = block.start.astimezone(zone), block.end.astimezone(zone)
    span = f"{start:%H:%M}–{end:%H:%M}"
    today = ctx.now.astimezone(zone).date()
    if start.date() == today:
        return t("feedback.today", ctx.locale, span=span)
    if start.date() == today + timedelta(days=1):
        return t("feedback.tomorrow", ctx.locale, span=span)
    return f"{start:%m-%d} {span}"
