"""Cards that replace a preview after a click (applied, ignored, expired, undone, error) and toasts."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from bot.cards import markup as m
from bot.cards.model import (
    ActedCard,
    AppliedCard,
    ChosenCard,
    ErrorCard,
    ExpiredCard,
    IgnoredCard,
    PreviewCard,
    UndoneCard,
)
from bot.cards.payload import Kind, pack
from bot.texts import candidate_type_label, error_message, norm_locale, t


class ToastKind(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"
    UNDONE = "undone"
    CHOSEN = "chosen"
    ALREADY_CHOSEN = "already_chosen"
    WORKING = "working"
    NOT_OWNER = "not_owner"
    ERROR = "error"
    DEADLINE_MOVED = "deadline_moved"
    SNOOZED = "snoozed"
    DROPPED = "dropped"


_TOAST_TYPES = {
    ToastKind.APPLIED: "success",
    ToastKind.IGNORED: "info",
    ToastKind.UNDONE: "success",
    ToastKind.CHOSEN: "info",
    ToastKind.ALREADY_CHOSEN: "warning",
    ToastKind.WORKING: "info",
    ToastKind.NOT_OWNER: "warning",
    ToastKind.ERROR: "error",
    ToastKind.DEADLINE_MOVED: "success",
    ToastKind.SNOOZED: "info",
    ToastKind.DROPPED: "success",
}


def _title(key: str, preview: PreviewCard) -> str:
    return t(key, preview.locale, title=m.one_line(preview.title, m.HEADER_TITLE_CHARS))


def _finish(title: str, template: str, elements: list[m.Element]) -> dict[str, Any]:
    return dict(m.check_card_size(m.card(title, template, elements, summary=title)))


def build_applied_card(view: AppliedCard) -> dict[str, Any]:
    """What changed, and an Undo button while undo is possible."""
    preview, locale = view.preview, view.preview.locale
    option = preview.option(view.candidate_id)
    elements: list[m.Element] = []
    if option is not None:
        label = m.one_line(option.label, m.LABEL_CHARS) or candidate_type_label(option.type, locale)
        elements.append(m.markdown(t("applied.option", locale, label=m.escape_md(label))))
    if view.changes:
        elements.append(m.markdown(m.md_list(view.changes)))
    elif option is not None and option.after:
        elements.append(m.markdown(f"**{t('after', locale)}**\n{m.md_lines(option.after)}"))
    else:
        elements.append(m.markdown(t("applied.no_details", locale)))
    if view.undo_until is not None:
        at = m.local_time(view.undo_until, preview.timezone)
        elements += [
            m.markdown(t("undo.until", locale, at=at), size="notation"),
            m.button(t("undo", locale), pack(Kind.UNDO, preview.preview_id), element_id="undo"),
        ]
    return _finish(_title("applied.title", preview), "green", elements)


def build_working_card(locale: str, title: str = "") -> dict[str, Any]:
    """A press still being finished: no buttons (nothing to press twice), and the promise of an update."""
    words = norm_locale(locale)
    name = m.one_line(title, m.HEADER_TITLE_CHARS)
    header = t("working.title_with", words, title=name) if name else t("working.title", words)
    return _finish(header, "blue", [m.markdown(t("working.body", words))])


def build_ignored_card(view: IgnoredCard) -> dict[str, Any]:
    return _finish(
        _title("ignored.title", view.preview), "grey", [m.markdown(t("ignored.body", view.preview.locale))]
    )


def build_acted_card(view: ActedCard) -> dict[str, Any]:
    """A late card closed by moving the deadline, asking again later or dropping the task: what was done."""
    preview, locale = view.preview, view.preview.locale
    at = m.local_time(view.at, preview.timezone) if view.at is not None else ""
    name = m.escape_md(m.one_line(preview.title, m.HEADER_TITLE_CHARS))
    body = t(f"acted.{view.action}", locale, at=at, title=name)
    return _finish(
        _title("acted.title", preview), "grey" if view.action == "drop" else "wathet", [m.markdown(body)]
    )


def build_chosen_card(view: ChosenCard) -> dict[str, Any]:
    label = m.escape_md(m.one_line(view.label, m.HEADER_TITLE_CHARS))
    body = t("chosen.body", view.preview.locale, label=label)
    return _finish(_title("chosen.title", view.preview), "wathet", [m.markdown(body)])


def build_expired_card(view: ExpiredCard) -> dict[str, Any]:
    """Says plainly that nothing was changed."""
    preview = view.preview
    body = t("expired.body", preview.locale, at=m.local_time(preview.expires_at, preview.timezone))
    return _finish(_title("expired.title", preview), "grey", [m.markdown(body)])


def build_undone_card(view: UndoneCard) -> dict[str, Any]:
    elements = [m.markdown(t("undone.body", view.preview.locale))]
    if view.changes:
        elements.append(m.markdown(m.md_list(view.changes)))
    return _finish(_title("undone.title", view.preview), "wathet", elements)


def build_error_card(view: ErrorCard) -> dict[str, Any]:
    """The error in words (the standard sentence for the code unless a message is given)."""
    message = m.truncate(view.message, m.EXPLANATION_CHARS) or error_message(view.code, view.locale)
    elements = [
        m.markdown(m.escape_md(message)),
        m.markdown(
            m.escape_md(t("error.code", view.locale, code=m.one_line(view.code, m.LABEL_CHARS))),
            size="notation",
        ),
    ]
    if view.title:
        title = t("error.title_with", view.locale, title=m.one_line(view.title, m.HEADER_TITLE_CHARS))
    else:
        title = t("error.title", view.locale)
    return _finish(title, "red", elements)


def toast(kind: ToastKind | str, locale: str, *, message: str | None = None) -> dict[str, str]:
    """A callback toast `{"type", "content"}` in the user's locale. A `kind` that is not a ToastKind
    is taken as a service error code and gets that error's sentence."""
    try:
        toast_kind = ToastKind(kind)
    except ValueError:
        return {"type": "error", "content": message or error_message(str(kind), locale)}
    content = message or t(f"toast.{toast_kind.value}", norm_locale(locale))
    return {"type": _TOAST_TYPES[toast_kind], "content": m.one_line(content, m.SUMMARY_CHARS)}
