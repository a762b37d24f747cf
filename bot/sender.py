"""Senders for the worker: FeishuSender (cards over the Open API) and ConsoleSender (the demo's stand-in)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from bot.cards import CardError, render_card_text
from bot.cards.from_view import build_card_for_view
from bot.feishu.client import FeishuClient
from bot.feishu.errors import FeishuError
from scheduler.services.views import PreviewView
from scheduler.worker.sender import DeliveryError


def _card(view: PreviewView) -> dict[str, Any]:
    try:
        return build_card_for_view(view)
    except CardError as exc:
        # The same view would fail again: a permanent error, so the row goes dead instead of retrying.
        raise DeliveryError(f"card_{exc.code}", str(exc), retryable=False) from exc


def _delivery_error(exc: FeishuError) -> DeliveryError:
    return DeliveryError(str(exc.code), exc.message, retryable=exc.retryable, retry_after=exc.retry_after)


class FeishuSender:
    """Sends preview cards with FeishuClient (uuid = the notification id) and PATCHes them in place."""

    def __init__(self, client: FeishuClient) -> None:
        self._client = client

    async def send_preview(self, *, notification_id: str, open_id: str, view: PreviewView) -> str:
        card = _card(view)
        try:
            return await self._client.send_card(open_id, card, uuid=notification_id)
        except FeishuError as exc:
            raise _delivery_error(exc) from exc

    async def update_preview(self, *, message_id: str, view: PreviewView) -> None:
        card = _card(view)
        try:
            await self._client.patch_card(message_id, card)
        except FeishuError as exc:
            raise _delivery_error(exc) from exc


class ConsoleSender:
    """Prints each card as text (the demo's local stand-in for Feishu); message ids are made up."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self.sent: dict[str, str] = {}  # notification id -> message id, so a resend is not printed twice

    def _write(self, text: str) -> None:
        out = self._out or sys.stdout
        out.write(text + "\n")
        out.flush()

    async def send_preview(self, *, notification_id: str, open_id: str, view: PreviewView) -> str:
        if notification_id in self.sent:
            return self.sent[notification_id]
        card = _card(view)
        message_id = f"console-{notification_id}"
        self._write(f"--- card to {open_id} ({message_id})\n{render_card_text(card)}")
        self.sent[notification_id] = message_id
        return message_id

    async def update_preview(self, *, message_id: str, view: PreviewView) -> None:
        card = _card(view)
        self._write(f"--- card {message_id} updated\n{render_card_text(card)}")
