"""Chat messages: who may talk to the bot, the inbox record, the user, parsing, routing, then the replies."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from bot.handlers import inbox
from bot.handlers.admin import admin_router
from bot.handlers.commands import commands_router, short_help
from bot.handlers.context import MessageContext
from bot.handlers.deps import BotConfig, BotDeps
from bot.handlers.replies import send_reply
from bot.inbound import MessageIn
from bot.parse import ParseError, normalize_text, parse_message
from bot.parse.language import message_locale
from bot.router import Router
from bot.texts import error_message, parse_error_text
from store import UnitOfWork
from store.enums import InboxKind, InboxStatus, Locale, Role
from store.models import User

log = logging.getLogger(__name__)

EVENT_TYPE = "im.message.receive_v1"

router: Router[MessageContext, None] = Router("messages")
router.include(admin_router)
router.include(commands_router)


def addressed_to_bot(message: MessageIn, config: BotConfig) -> bool:
    """p2p always; in a group only when the bot is mentioned (by its open_id when configured)."""
    if message.chat_type == "p2p":
        return True
    if message.chat_type != "group" or not message.mentions:
        return False
    return not config.bot_open_id or message.mentions_open_id(config.bot_open_id)


def _ignored_reason(message: MessageIn, config: BotConfig) -> str | None:
    if message.sender_type != "user":
        return "sender_not_user"
    if not message.sender_open_id:
        return "no_sender"
    if not addressed_to_bot(message, config):
        return "not_addressed"
    return None


async def user_for(
    uow: UnitOfWork, open_id: str, config: BotConfig, now: datetime, text: str | None = None
) -> User:
    """The sender's user row, created with the configured defaults on their first message; its locale is
    the language that first message is written in, when that is clear (else the configured default)."""
    user = await uow.users.get_by_open_id(open_id)
    if user is not None:
        return user
    row = User(
        open_id=open_id,
        name=open_id,
        timezone=config.timezone,
        locale=Locale(message_locale(text, config.locale)),
        day_start=config.day_start,
        day_end=config.day_end,
        daily_card_cap=config.daily_card_cap,
        # SMARTFLOW_ADMINS is checked live, never stored: removing an open_id from it revokes at once.
        role=Role.USER,
        created_at=now,
        updated_at=now,
    )
    if await uow.users.add_if_absent(row):
        log.info("user created on first message", extra={"open_id": open_id})
        return row
    existing = await uow.users.get_by_open_id(open_id)  # a concurrent first message won the insert
    if existing is None:  # pragma: no cover
        raise LookupError(f"user {open_id} collided but is gone")
    return existing


def _parse(ctx: MessageContext, raw: str) -> None:
    # Admin arguments keep their `@_user_N` placeholders: they name the target user (see _user in admin).
    admin = normalize_text(raw, mentions_stripped=False).casefold().startswith("/admin")
    try:
        ctx.command = parse_message(raw, mentions_stripped=not admin)
    except ParseError as exc:
        ctx.error = exc


async def handle_message(deps: BotDeps, message: MessageIn) -> None:
    """Record the message once (a redelivery does nothing), handle it in the same transaction, then send
    the replies and start the slow work in the background."""
    now = deps.clock()
    reason = _ignored_reason(message, deps.config)
    key = message.message_id or f"event:{message.event_id}"
    async with deps.store.uow() as uow:
        if reason is not None:
            if await inbox.record(
                uow, InboxKind.MESSAGE, key, EVENT_TYPE, now, status=InboxStatus.IGNORED, error=reason
            ):
                await uow.commit()
            return
        row = await inbox.record(uow, InboxKind.MESSAGE, key, EVENT_TYPE, now)
        if row is None:
            log.info("message redelivered, ignored", extra={"message_id": message.message_id})
            return
        user = await user_for(uow, message.sender_open_id, deps.config, now, message.text)
        raw = message.text
        ctx = MessageContext(deps, message, uow, user, now, normalize_text(raw or ""))
        try:
            if raw is None:
                ctx.reply(short_help(ctx.locale))
            else:
                _parse(ctx, raw)
                await router.dispatch(ctx, _fallback)
        except SQLAlchemyError:
            raise  # the database is unwell: no 200, so Feishu delivers the message again later
        except Exception:
            # A bug must not make Feishu redeliver the message four times: record it as failed and say so.
            log.exception("message %s failed", message.message_id, extra={"message_id": message.message_id})
            await uow.rollback()
            row = await inbox.record(uow, InboxKind.MESSAGE, key, EVENT_TYPE, now)
            if row is None:  # pragma: no cover - a concurrent delivery recorded it meanwhile
                return
            user = await user_for(uow, message.sender_open_id, deps.config, now, message.text)
            ctx = MessageContext(deps, message, uow, user, now, ctx.text, status=InboxStatus.FAILED)
            ctx.reply(error_message("internal", ctx.locale))
        inbox.settle(row, ctx.status, now)
        await uow.commit()
    for i, text in enumerate(ctx.replies):
        deps.background.spawn(send_reply(deps, message, text, i), f"reply:{message.message_id}")
    for name, work in ctx.later:
        deps.background.spawn(work(), f"{name}:{message.message_id}")


async def _fallback(ctx: MessageContext) -> None:
    if ctx.error is not None:
        ctx.reply(parse_error_text(ctx.error, ctx.locale))
        return
    ctx.reply(short_help(ctx.locale))
