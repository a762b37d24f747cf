"""/connect and /disconnect: the user's own Feishu calendar, linked by OAuth or forgotten; and the notice a
user gets when that link stops working."""

from __future__ import annotations

from bot.cards.connect import build_connect_card
from bot.handlers.context import MessageContext
from bot.handlers.deps import Outbound
from bot.parse.model import Connect, Disconnect
from bot.router import Router, is_instance
from bot.texts import t
from scheduler.services import connect, inbound

connect_router: Router[MessageContext, None] = Router("connect")


@connect_router.route(is_instance(Connect))
async def connect_calendar(ctx: MessageContext) -> None:
    login = ctx.deps.calendar_login
    if ctx.message.chat_type != "p2p" or login is None:
        # a link for the sender alone does not belong in a group; without the settings there is no link
        if ctx.seen(await inbound.acknowledge(ctx.deps.store, ctx.inbound)):
            ctx.reply(
                t("connect.group" if ctx.message.chat_type != "p2p" else "connect.disabled", ctx.locale)
            )
        return
    handled = await login.start(ctx.inbound)
    if not ctx.seen(handled):
        return
    ctx.cards.append(build_connect_card(handled.result, ctx.locale))
    ctx.replies_instead.append(t("connect.text", ctx.locale, url=handled.result))


@connect_router.route(is_instance(Disconnect))
async def disconnect_calendar(ctx: MessageContext) -> None:
    login = ctx.deps.calendar_login
    unsubscriber = login.subscriptions if login is not None else None
    handled = await connect.disconnect(ctx.deps.store, ctx.inbound, unsubscriber)
    if ctx.seen(handled):
        ctx.reply(t("disconnect.done" if handled.result else "disconnect.none", ctx.locale))


class ChatBrokenNotice:
    """scheduler.services.usertokens.BrokenNotice over the bot's outbound client: a text in the user's
    private chat, in their language."""

    def __init__(self, outbound: Outbound) -> None:
        self._outbound = outbound

    async def connection_broken(self, open_id: str, locale: str, uuid: str) -> None:
        await self._outbound.send_text(open_id, t("connect.broken", locale), uuid, "open_id")
