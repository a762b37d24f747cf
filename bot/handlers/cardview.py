"""A preview's current state as the card that shows it (pure: PreviewView -> card JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.cards import (
    AppliedCard,
    CardChoice,
    CardOption,
    ErrorCard,
    ExpiredCard,
    IgnoredCard,
    PreviewCard,
    UndoneCard,
    build_applied_card,
    build_error_card,
    build_expired_card,
    build_ignored_card,
    build_preview_card,
    build_undone_card,
)
from bot.cards.model import MAX_OPTIONS, RISK_LEVELS
from scheduler.services.views import PreviewView

CHANGE_TYPES = frozenset(
    {"place_task", "split_task", "makeup_block", "push_successors", "extend_day", "rush_merge"}
)
# Refusals after which the preview can never be applied: the card says why instead of offering it again.
FINAL_REFUSALS = frozenset(
    {"base_version_changed", "target_completed", "slot_conflict", "expired", "invalid_state", "not_found"}
)


def _risk(level: str) -> str:
    return level if level in RISK_LEVELS else "low"


def preview_card_of(view: PreviewView) -> PreviewCard:
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
        if o.type in CHANGE_TYPES and o.candidate_id
    )[:MAX_OPTIONS]
    chosen = next((o.candidate_id for o in view.options if o.recommended), None)
    if options and chosen not in {o.candidate_id for o in options}:
        chosen = options[0].candidate_id
    decision = view.decision
    if decision == "propose" and not options:
        decision = "notify_only"  # nothing to apply after all: say so rather than fail to render
    choices = tuple(CardChoice(c.block_id, c.label) for c in view.choices)
    if decision == "ask_user" and not choices:
        decision = "notify_only"
    return PreviewCard(
        preview_id=view.preview_id,
        locale=view.locale,
        timezone=view.timezone,
        title=view.task_title,
        decision=decision,
        explanation=view.explanation,
        expires_at=view.expires_at,
        options=options,
        chosen_id=chosen,
        question=view.question,
        choices=choices,
        risk_level=_risk(view.risk_level),
        summary=view.notification_summary,
    )


def card_for_view(view: PreviewView, now: datetime, refusal: str | None = None) -> dict[str, Any]:
    """The card for the preview as it is now; `refusal` is the error code of a click just refused."""
    preview = preview_card_of(view)
    if view.status == "applied":
        if view.undone_at is not None:
            return build_undone_card(UndoneCard(preview, changes=view.change_lines))
        undo_until = view.undo_until if view.undo_until is not None and now < view.undo_until else None
        return build_applied_card(
            AppliedCard(preview, view.applied_candidate_id, view.change_lines, undo_until=undo_until)
        )
    if view.status == "ignored":
        return build_ignored_card(IgnoredCard(preview))
    if view.status == "expired" or (view.status == "ready" and now >= view.expires_at):
        return build_expired_card(ExpiredCard(preview))
    if view.status == "failed" or (refusal is not None and refusal in FINAL_REFUSALS):
        code = refusal or view.error_code or "internal"
        return build_error_card(ErrorCard(view.locale, code, title=view.task_title))
    return build_preview_card(preview)
