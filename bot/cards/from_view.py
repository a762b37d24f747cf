"""Map a services PreviewView to the card views and build the card for the preview's current state."""

from __future__ import annotations

from typing import Any

from bot.cards.model import (
    MAX_OPTIONS,
    RISK_LEVELS,
    ActedCard,
    AppliedCard,
    CardChoice,
    CardOption,
    ErrorCard,
    ExpiredCard,
    IgnoredCard,
    PreviewCard,
    UndoneCard,
)
from bot.cards.preview import build_preview_card
from bot.cards.results import (
    build_acted_card,
    build_applied_card,
    build_error_card,
    build_expired_card,
    build_ignored_card,
    build_undone_card,
)
from scheduler.services.views import PreviewView


def _risk(value: str) -> str:
    return value if value in RISK_LEVELS else "medium"


def preview_card_view(view: PreviewView) -> PreviewCard:
    """The PreviewCard for a preview: at most three options, the chosen one first."""
    options = tuple(
        CardOption(
            candidate_id=o.candidate_id,
            label=o.label,
            summary=o.summary,
            before=o.before,
            after=o.after,
            risk_level=_risk(o.risk_level),
            type=o.type,
        )
        for o in view.options
        if o.candidate_id
    )[:MAX_OPTIONS]
    chosen = next((o.candidate_id for o in view.options if o.recommended), None)
    if chosen not in {o.candidate_id for o in options}:
        chosen = options[0].candidate_id if options else None
    return PreviewCard(
        preview_id=view.preview_id,
        locale=view.locale,
        timezone=view.timezone,
        title=view.task_title,
        decision=view.decision,
        explanation=view.explanation,
        expires_at=view.expires_at,
        options=options,
        chosen_id=chosen,
        question=view.question,
        choices=tuple(CardChoice(c.block_id, c.label) for c in view.choices if c.block_id),
        risk_level=_risk(view.risk_level),
        summary=view.notification_summary,
        busy_age_minutes=view.busy_age_minutes,
        late=view.late,
        deadline=view.deadline,
    )


def build_card_for_view(view: PreviewView) -> dict[str, Any]:
    """The card for the preview as it is now: the proposal while ready, else its outcome."""
    if view.status == "ready":
        return build_preview_card(preview_card_view(view))
    if view.status == "failed":
        return build_error_card(ErrorCard(view.locale, view.error_code or "internal", title=view.task_title))
    card = preview_card_view(view)
    if view.status == "expired":
        return build_expired_card(ExpiredCard(card))
    if view.status == "ignored" and view.task_action is not None:
        return build_acted_card(ActedCard(card, view.task_action, view.task_action_at))
    if view.status == "ignored":
        return build_ignored_card(IgnoredCard(card))
    if view.status == "applied" and view.undone_at is not None:
        return build_undone_card(UndoneCard(card, changes=view.change_lines))
    if view.status == "applied":
        return build_applied_card(
            AppliedCard(
                card,
                candidate_id=view.applied_candidate_id,
                changes=view.change_lines,
                undo_until=view.undo_until,
            )
        )
    return build_error_card(ErrorCard(view.locale, "invalid_state", title=view.task_title))
