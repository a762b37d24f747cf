"""Feishu cards (schema 2.0) built by pure functions from frozen views, and typed button payloads."""

from __future__ import annotations

from bot.cards.markup import MAX_CARD_BYTES, card_size, check_card_size, escape_md
from bot.cards.model import (
    ActedCard,
    AppliedCard,
    CardChoice,
    CardError,
    CardErrorCode,
    CardOption,
    ChosenCard,
    ErrorCard,
    ExpiredCard,
    IgnoredCard,
    NotifyOnlyCard,
    PreviewCard,
    UndoneCard,
)
from bot.cards.payload import ButtonPayload, Kind, PayloadError, PayloadErrorCode, pack, unpack
from bot.cards.preview import build_ask_user_card, build_notify_only_card, build_preview_card
from bot.cards.render import render_card_text
from bot.cards.results import (
    ToastKind,
    build_acted_card,
    build_applied_card,
    build_chosen_card,
    build_error_card,
    build_expired_card,
    build_ignored_card,
    build_undone_card,
    build_working_card,
    toast,
)

__all__ = [
    "MAX_CARD_BYTES",
    "ActedCard",
    "AppliedCard",
    "ButtonPayload",
    "CardChoice",
    "CardError",
    "CardErrorCode",
    "CardOption",
    "ChosenCard",
    "ErrorCard",
    "ExpiredCard",
    "IgnoredCard",
    "Kind",
    "NotifyOnlyCard",
    "PayloadError",
    "PayloadErrorCode",
    "PreviewCard",
    "ToastKind",
    "UndoneCard",
    "build_acted_card",
    "build_applied_card",
    "build_ask_user_card",
    "build_chosen_card",
    "build_error_card",
    "build_expired_card",
    "build_ignored_card",
    "build_notify_only_card",
    "build_preview_card",
    "build_undone_card",
    "build_working_card",
    "card_size",
    "check_card_size",
    "escape_md",
    "pack",
    "render_card_text",
    "toast",
    "unpack",
]
