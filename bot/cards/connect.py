"""The /connect card: what connecting the calendar allows, and a button that opens Feishu's authorization
page (an open_url behavior: the browser goes to Feishu, no callback to the bot)."""

from __future__ import annotations

from typing import Any

from bot.cards import markup as m
from bot.texts import t

CONNECT_TEMPLATE = "blue"


def open_url_button(text: str, url: str) -> m.Element:
    return {
        "tag": "button",
        "element_id": "connect_authorize",
        "text": m.plain(text),
        "type": "primary",
        "behaviors": [
            {"type": "open_url", "default_url": url, "pc_url": "", "ios_url": "", "android_url": ""}
        ],
    }


def build_connect_card(url: str, locale: str) -> dict[str, Any]:
    elements = [m.markdown(t("connect.body", locale)), open_url_button(t("connect.button", locale), url)]
    title = t("connect.title", locale)
    return dict(m.check_card_size(m.card(title, CONNECT_TEMPLATE, elements, summary=title)))
