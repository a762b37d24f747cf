"""The old name of bot.texts.t (its texts now live in bot/texts.py, the bot's one catalogue)."""

from __future__ import annotations

from bot.texts import t as lt

__all__ = ["lt"]
