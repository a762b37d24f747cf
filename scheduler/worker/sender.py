"""The delivery port: how the worker hands a preview card to the chat platform, and its one error type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from scheduler.services.views import PreviewView


class DeliveryError(Exception):
    """A send or update failed.

    `code` is stable (the platform's code as a string, or a name such as `timeout`); `retryable` says whether
    sending the same request again may succeed; `retry_after` is the platform's own wait hint in seconds."""

    def __init__(
        self, code: str, message: str = "", *, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class Sender(Protocol):
    """Delivers preview cards and the answers to chat messages that were not sent at once.

    Implementations bound every call by their own timeout and raise only
    DeliveryError for delivery failures."""

    async def send_preview(self, *, notification_id: str, open_id: str, view: PreviewView) -> str:
        """Send the card for `view` to `open_id`; returns the platform's message id.

        `notification_id` is the idempotency key (Feishu's `uuid`): a repeat within an hour sends nothing
        new and returns the first message's id."""
        ...

    async def update_preview(self, *, message_id: str, view: PreviewView) -> None:
        """Replace the content of an already sent card with the card for the preview's current state."""
        ...

    async def send_answer(self, *, notification_id: str, answer: Mapping[str, Any]) -> str:
        """Send an answer to a chat message (bot.answers: text, or a card with its text) that the process
        which queued it did not send; its own `uuid` (not `notification_id`) keeps a resend a no-op."""
        ...
