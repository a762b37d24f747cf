"""Senders for the worker: FeishuSender (cards over the Open API) and ConsoleSender (the demo's stand-in)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from bot.answers import deliver
from bot.cards import CardError, render_card_text
from bot.cards.fallback import needs_text, preview_text
from bot.cards.from_view import build_card_for_view
from bot.feishu.client import FeishuClient
from bot.feishu.errors import FeishuError
from scheduler.services.views import PreviewView
from scheduler.worker.sender import DeliveryError

log = logging.getLogger(__name__)


def _card(view: PreviewView) -> dict[str, Any]:
    try:
        return build_card_for_view(view)
    except CardError as exc:
        # The same view would fail again: a permanent error, so the row goes dead instead of retrying.
        raise DeliveryError(f"card_{exc.code}", str(exc), retryable=False) from exc


def _card_or_text(view: PreviewView) -> tuple[dict[str, Any] | None, str]:
    """The card to send, or (None, text) when the preview cannot be a card: a question with nothing to
    choose, or a view the builder refuses. The user hears about it either way."""
    if needs_text(view):
        return None, preview_text(view)
    try:
        return build_card_for_view(view), ""
    except CardError as exc:
        log.warning("preview %s cannot be a card (%s); sent as text", view.preview_id, exc.code)
        return None, preview_text(view)


def _delivery_error(exc: FeishuError) -> DeliveryError:
    return DeliveryError(str(exc.code), exc.message, retryable=exc.retryable, retry_after=exc.retry_after)


class FeishuSender:
    """Sends preview cards with FeishuClient (uuid = the notification id) and PATCHes them in place."""

    def __init__(self, client: FeishuClient) -> None:
        self._client = client

    async def send_preview(self, *, notification_id: str, open_id: str, view: PreviewView) -> str:
        card, text = _card_or_text(view)
        try:
            if card is None:
                return await self._client.send_text(open_id, text, uuid=notification_id)
            return await self._client.send_card(open_id, card, uuid=notification_id)
        except FeishuError as exc:
            raise _delivery_error(exc) from exc

    async def update_preview(self, *, message_id: str, view: PreviewView) -> None:
        if needs_text(view):  # it went out as text: there is no card to update
            return
        card = _card(view)
        try:
            await self._client.patch_card(message_id, card)
        except FeishuError as exc:
            raise _delivery_error(exc) from exc

    async def send_answer(self, *, notification_id: str, answer: Mapping[str, Any]) -> str:
        try:
            return await deliver(self._client, answer)
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
        card, text = _card_or_text(view)
        message_id = f"console-{notification_id}"
        shown = render_card_text(card) if card is not None else text
        self._write(f"--- card to {open_id} ({message_id})\n{shown}")
        self.sent[notification_id] = message_id
        return message_id

    async def update_preview(self, *, message_id: str, view: PreviewView) -> None:
        if needs_text(view):
            return
        card = _card(view)
        self._write(f"--- card {message_id} updated\n{render_card_text(card)}")

    async def send_answer(self, *, notification_id: str, answer: Mapping[str, Any]) -> str:
        uuid = str(answer.get("uuid"))
        if uuid in self.sent:
            return self.sent[uuid]
        card = answer.get("card")
        shown = render_card_text(card) if isinstance(card, dict) else str(answer.get("text") or "")
        message_id = f"console-{uuid}"
        self._write(f"--- reply to {answer.get('open_id')} (sent late)\n{shown}")
        self.sent[uuid] = message_id
        return message_id
