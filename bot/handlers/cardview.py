"""The card a click answers with: bot.cards.from_view plus what only the click knows (time, refusal, the
answer an ask_user question was given)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.cards import (
    ChosenCard,
    ErrorCard,
    ExpiredCard,
    build_chosen_card,
    build_error_card,
    build_expired_card,
)
from bot.cards.from_view import build_card_for_view, preview_card_view
from scheduler.services.views import ChoiceView, PreviewView

# Refusals after which the preview can never be applied: the card says why instead of offering it again.
FINAL_REFUSALS = frozenset(
    {"base_version_changed", "target_completed", "slot_conflict", "expired", "invalid_state", "not_found"}
)


def card_for_view(
    view: PreviewView, now: datetime, refusal: str | None = None, chosen: ChoiceView | None = None
) -> dict[str, Any]:
    """The card for the preview as it is at `now`; `refusal` is the error code of a click just refused,
    `chosen` the answer of an ask_user question."""
    if chosen is not None:
        return build_chosen_card(ChosenCard(preview_card_view(view), chosen.label))
    if view.status == "ready" and now >= view.expires_at:
        # The expiry sweep has not run yet, but the preview can no longer be applied.
        return build_expired_card(ExpiredCard(preview_card_view(view)))
    if view.status == "ready" and refusal in FINAL_REFUSALS:
        return build_error_card(ErrorCard(view.locale, refusal or "internal", title=view.task_title))
    if view.undo_until is not None and now >= view.undo_until:
        view = replace(view, undo_until=None)  # no Undo button once undo is no longer possible
    return build_card_for_view(view)
