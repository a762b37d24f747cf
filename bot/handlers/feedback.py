""" "Unfinished" feedback (free text or /unfinished): resolve the block, create the trigger, run it later."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.handlers.context import MessageContext
from bot.handlers.deps import BotDeps
from bot.handlers.localtext import lt
from bot.handlers.replies import send_reply
from bot.inbound import MessageIn
from bot.parse import Unfinished
from bot.router import Router, is_instance
from bot.texts import error_message, t
from scheduler.services.feedback import Found, Resolution, resolve_feedback
from scheduler.services.triggers import create_trigger
from store.enums import TaskStatus, TriggerStatus, TriggerType
from store.models import Block, Task

log = logging.getLogger(__name__)

LATER_REPLY = 5  # reply numbers from here on are sent after background work (distinct uuids)

feedback_router: Router[MessageContext, None] = Router("feedback")


@feedback_router.route(is_instance(Unfinished))
async def unfinished(ctx: MessageContext) -> None:
    """The block that just ended or is running (or the named task's latest block); when several fit,
    the pipeline asks which one with an ask_user card."""
    command = ctx.command
    assert isinstance(command, Unfinished)
    resolution = await resolve_feedback(ctx.uow, ctx.user, ctx.now, command.task_ref, command.minutes)
    target = resolution.target
    if resolution.found is not Found.BLOCK or (target.block_id is None and not target.choices):
        ctx.reply(await _nothing_to_make_up(ctx, command, resolution))
        return
    task_id = None
    if target.block_id is not None:
        block = await ctx.uow.blocks.get(target.block_id)
        task_id = block.task_id if block is not None else None
    outcome = await create_trigger(
        ctx.uow,
        user=ctx.user,
        type=TriggerType.USER_FEEDBACK,
        now=ctx.now,
        task_id=task_id,
        block_id=target.block_id,
        source_message_id=ctx.message.message_id,
        remaining_minutes=command.minutes,
        user_text=command.text or ctx.text,
        choices=target.choices,
    )
    if not outcome.created:
        return
    trigger_id, deps, message, locale = outcome.trigger.id, ctx.deps, ctx.message, ctx.locale
    ctx.after_commit("pipeline", lambda: run_feedback(deps, message, trigger_id, locale))


async def run_feedback(deps: BotDeps, message: MessageIn | None, trigger_id: str, locale: str) -> None:
    """Run the trigger's pipeline; the worker sends the card. Say so when nothing (or an error) came of it."""
    result = await deps.pipeline.run(trigger_id, deps.clock())
    log.info("feedback trigger %s -> %s", trigger_id, result.status)
    if message is None:
        return
    if result.status == TriggerStatus.CLOSED:
        await send_reply(deps, message, await _closed_text(deps, trigger_id, locale), LATER_REPLY)
    elif result.status == TriggerStatus.FAILED:
        reason = error_message(result.error_code or "internal", locale)
        await send_reply(deps, message, lt("feedback.failed", locale, reason=reason), LATER_REPLY)


async def _closed_text(deps: BotDeps, trigger_id: str, locale: str) -> str:
    """Why nothing needs to change: the block's task is marked done, or the plan already covers it."""
    async with deps.store.uow(readonly=True) as uow:
        trigger = await uow.triggers.get(trigger_id)
        task = await uow.tasks.get(trigger.task_id) if trigger and trigger.task_id else None
        if task is not None and task.status == TaskStatus.DONE:
            return _task_done(task.title, locale)
    return lt("feedback.closed", locale)


def _task_done(title: str, locale: str) -> str:
    return t("feedback.task_done", locale, title=title, command=f"/undone {title}")


async def _nothing_to_make_up(ctx: MessageContext, command: Unfinished, resolution: Resolution) -> str:
    """Why no card comes, in words that name what the bot understood."""
    locale, ref = ctx.locale, command.task_ref or ""
    if resolution.found is Found.NOT_STARTED and resolution.upcoming is not None:
        block = resolution.upcoming
        title = await _title_of(ctx, block, resolution.tasks)
        return t("feedback.not_started", locale, title=title, when=_when(ctx, block))
    if resolution.found is Found.NO_BLOCK:
        titles = t("feedback.list_sep", locale).join(task.title for task in resolution.tasks)
        return t("feedback.no_block", locale, title=titles)
    if resolution.found is Found.TASK_DONE:
        return _task_done(resolution.tasks[0].title, locale)
    if resolution.found is Found.NO_TASK and resolution.recent:
        block = resolution.recent[0]
        example = (
            t("feedback.example_minutes", locale, minutes=command.minutes)
            if command.minutes is not None
            else t("feedback.example", locale)
        )
        title = await _title_of(ctx, block, ())
        return t(
            "feedback.no_task_recent", locale, ref=ref, title=title, when=_when(ctx, block), example=example
        )
    if resolution.found is Found.NO_TASK:
        return t("feedback.no_task", locale, ref=ref)
    return t("feedback.nothing", locale)


async def _title_of(ctx: MessageContext, block: Block, known: Sequence[Task]) -> str:
    task = next((x for x in known if x.id == block.task_id), None) or await ctx.uow.tasks.get(block.task_id)
    return task.title if task is not None else "?"


def _when(ctx: MessageContext, block: Block) -> str:
    """The block's local time span, with today/tomorrow or the date."""
    tz = ZoneInfo(ctx.user.timezone)
    start, end = block.start.astimezone(tz), block.end.astimezone(tz)
    span = f"{start:%H:%M}–{end:%H:%M}"
    today = ctx.now.astimezone(tz).date()
    if start.date() == today:
        return t("feedback.today", ctx.locale, span=span)
    if start.date() == today + timedelta(days=1):
        return t("feedback.tomorrow", ctx.locale, span=span)
    return f"{start:%m-%d} {span}"
