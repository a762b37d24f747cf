"""A card as readable plain text, for the demo and the console sender."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

_TEXT_TAG = re.compile(r"<text_tag[^>]*>(.*?)</text_tag>", re.S)
_TAG = re.compile(r"</?(?:font|at|link|a)\b[^>]*>")
_WIDTH = 60


def markdown_to_text(content: str) -> str:
    """Our markdown back to text: user text was entity-escaped, so every real tag and `**` is ours."""
    s = _TEXT_TAG.sub(r"[\1]", content)
    s = _TAG.sub("", s).replace("**", "")
    return html.unescape(s)


def _button(element: Mapping[str, Any]) -> str:
    text = str(element.get("text", {}).get("content", ""))
    behaviors = element.get("behaviors") or [{}]
    value = behaviors[0].get("value") if isinstance(behaviors[0], Mapping) else None
    if not isinstance(value, Mapping):
        value = element.get("value")
    action = ""
    if isinstance(value, Mapping):
        action = " -> " + " ".join(f"{k}={v}" for k, v in value.items() if k != "v")
    marker = "*" if str(element.get("type", "")).startswith("primary") else " "
    return f"[{marker}{text}{marker}]{action}"


def _elements(elements: Any, indent: str, out: list[str]) -> None:
    if not isinstance(elements, list):
        return
    for element in elements:
        if not isinstance(element, Mapping):
            continue
        tag = element.get("tag")
        if tag == "markdown":
            out.extend(
                indent + line for line in markdown_to_text(str(element.get("content", ""))).split("\n")
            )
        elif tag == "div":
            text = element.get("text", {})
            out.append(indent + markdown_to_text(str(text.get("content", ""))))
        elif tag == "hr":
            out.append(indent + "-" * (_WIDTH - len(indent)))
        elif tag == "button":
            out.append(indent + _button(element))
        elif tag == "picker_datetime":  # shown like a button: its placeholder and the value it sends
            out.append(indent + _button({**element, "text": element.get("placeholder", {})}) + " option=…")
        elif tag == "column_set":
            for column in element.get("columns", []):
                if isinstance(column, Mapping):
                    _elements(column.get("elements"), indent + "  ", out)
        elif tag in ("action", "form", "interactive_container", "collapsible_panel"):
            _elements(element.get("elements") or element.get("actions"), indent, out)


def render_card_text(card: Mapping[str, Any]) -> str:
    """Header, body and buttons (with their values) of a card, one element per line."""
    header = card.get("header", {})
    title = str(header.get("title", {}).get("content", ""))
    template = header.get("template", "")
    out = ["=" * _WIDTH, f"{title}  ({template})" if template else title]
    subtitle = header.get("subtitle", {}).get("content")
    if subtitle:
        out.append(str(subtitle))
    out.append("=" * _WIDTH)
    body = card.get("body", {})
    _elements(body.get("elements") if isinstance(body, Mapping) else card.get("elements"), "", out)
    out.append("=" * _WIDTH)
    return "\n".join(out)
