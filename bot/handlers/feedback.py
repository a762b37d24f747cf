""" "Unfinished" feedback (free text or /unfinished): resolve the block, create the trigger, run it later."""

from __future__ import annotations

import logging

from bot.handlers.context import MessageContext
from bot.handlers.deps import BotDeps
from bot.handlers.localtext import lt
from bot.handlers.replies import send_reply
from bot.inbound import MessageIn
from bot.parse import Unfinished
from bot.router import Router, is_instance
from bot.texts import error_message, t
from scheduler.services.feedback import resolve_unfinished
from scheduler.services.triggers import create_trigger
from store.enums import TriggerStatus, TriggerType

log = logging.getLogger(__name__)

LATER_REPLY = 5  # reply numbers from here on are sent after background work (distinct uuids)

feedback_router: Router[MessageContext, None] = Router("feedback")


@feedback_router.route(is_instance(Unfinished))
async def unfinished(ctx: MessageContext) -> None:
    """The block that just ended or is running (or the named task's latest block); when several fit,
    the pipeline asks which one with an ask_user card."""
    command = ctx.command
    assert isinstance(command, Unfinished)
    target = await resolve_unfinished(ctx.uow, ctx.user, ctx.now, command.task_ref, command.minutes)
    if target.block_id is None and not target.choices:
        if command.task_ref:
            ctx.reply(t("task.not_found", ctx.locale, ref=command.task_ref))
        else:
            ctx.reply(t("feedback.nothing", ctx.locale))
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
        await send_reply(deps, message, lt("feedback.closed", locale), LATER_REPLY)
    elif result.status == TriggerStatus.FAILED:
        reason = error_message(result.error_code or "internal", locale)
        await send_reply(deps, message, lt("feedback.failed", locale, reason=reason), LATER_REPLY)
