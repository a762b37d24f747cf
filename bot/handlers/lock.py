"""/lock and /unlock: the named task's next block is never moved by the assistant (or may be again)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.handlers.context import MessageContext
from bot.handlers.done import unpicked_text
from bot.parse.model import Lock
from bot.router import Router, is_instance
from bot.texts import t
from scheduler.services.locks import Locked, NoBlockAhead, set_lock
from scheduler.services.tasks import TaskRef, Unpicked

lock_router: Router[MessageContext, None] = Router("lock")


@lock_router.route(is_instance(Lock))
async def lock(ctx: MessageContext) -> None:
    command = ctx.command
    assert isinstance(command, Lock)
    named = TaskRef(command.task_ref, command.pick, command.whole)
    handled = await set_lock(ctx.deps.store, ctx.inbound, named, locked=not command.unlock)
    if not ctx.seen(handled):
        return
    result = handled.result
    name = "unlock" if command.unlock else "lock"
    if isinstance(result, Unpicked):
        ctx.reply(unpicked_text(ctx, handled.user, result, name))
        return
    if isinstance(result, NoBlockAhead):
        ctx.reply(t("lock.no_block", ctx.locale, title=result.title))
        return
    assert isinstance(result, Locked)
    zone = ZoneInfo(handled.user.timezone)
    start, end = result.block.start.astimezone(zone), result.block.end.astimezone(zone)
    when = f"{start:%m-%d %H:%M}–{end:%H:%M}"
    key = f"{name}.done" if result.changed else f"{name}.already"
    ctx.reply(t(key, ctx.locale, title=result.title, when=when))
