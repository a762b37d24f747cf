"""A preview in plain words, for when it cannot be a card: a question with nothing to press, a card the
builder refuses. No report goes unanswered because its card could not be drawn."""

from __future__ import annotations

from bot.cards import markup as m
from bot.texts import t
from scheduler.services.views import PreviewView


def needs_text(view: PreviewView) -> bool:
    """A question with no choices to press is asked in words, not as a card without buttons."""
    return view.decision == "ask_user" and not view.choices


def preview_text(view: PreviewView) -> str:
    """The preview as a chat message: the question, or the explanation and each option's summary."""
    locale = view.locale
    if view.decision == "ask_user":
        question = view.question or view.explanation or t("ask.text_default", locale)
        return t("ask.text", locale, question=m.truncate(question, m.EXPLANATION_CHARS))
    lines = [t("fallback.title", locale, title=m.one_line(view.task_title, m.HEADER_TITLE_CHARS))]
    if view.explanation:
        lines.append(m.truncate(view.explanation, m.EXPLANATION_CHARS))
    lines += [f"{n}. {o.summary}" for n, o in enumerate(view.options[:3], start=1) if o.summary]
    lines.append(t("fallback.note", locale))
    return "\n".join(lines)
