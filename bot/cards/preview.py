"""Preview cards: options with Apply buttons (propose), choice buttons (ask_user), an honest warning."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.cards import markup as m
from bot.cards.model import CardOption, NotifyOnlyCard, PreviewCard
from bot.cards.payload import Kind, pack
from bot.texts import busy_age_text, candidate_type_label, risk_label, t

RISK_TEMPLATES = {"low": "green", "medium": "orange", "high": "red"}
ASK_TEMPLATE = "blue"
_RISK_FONT = {"medium": "orange", "high": "red"}


def _expiry(view: PreviewCard) -> m.Element:
    text = t("expires", view.locale, at=m.local_time(view.expires_at, view.timezone))
    if view.busy_age_minutes is not None:
        text += "\n" + busy_age_text(view.busy_age_minutes, view.locale)
    return m.markdown(text, size="notation")


def _ignore(view: PreviewCard, label_key: str = "ignore") -> m.Element:
    return m.button(t(label_key, view.locale), pack(Kind.IGNORE, view.preview_id), element_id="ignore")


def _option_elements(view: PreviewCard, option: CardOption, n: int) -> list[m.Element]:
    locale = view.locale
    label = m.one_line(option.label, m.LABEL_CHARS) or candidate_type_label(option.type, locale)
    heading = "**" + t("option.heading", locale, n=n, label=m.escape_md(label)) + "**"
    chosen = option.candidate_id == view.chosen_id
    if chosen and not view.late:
        heading += f" <text_tag color='green'>{t('option.recommended', locale)}</text_tag>"
    if option.risk_level in _RISK_FONT:
        risk = risk_label(option.risk_level, locale)
        heading += (
            f" <font color='{_RISK_FONT[option.risk_level]}'>⚠ {t('preview.risk', locale, risk=risk)}</font>"
        )
    summary = m.one_line(option.summary, m.SUMMARY_CHARS)
    text = heading + (f"\n{m.escape_md(summary)}" if summary else "")
    before = m.markdown(f"**{t('before', locale)}**\n{m.md_lines(option.before)}")
    after = m.markdown(f"**{t('after', locale)}**\n{m.md_lines(option.after)}")
    if view.late:  # not a filled "apply recommended", as if all were well
        apply_text, kind = t("apply.late", locale, n=n), "default"
    elif chosen:
        apply_text, kind = t("apply.recommended", locale), "primary_filled"
    else:
        apply_text, kind = t("apply", locale, n=n), "default"
    apply = m.button(
        apply_text,
        pack(Kind.APPLY, view.preview_id, option.candidate_id),
        kind=kind,
        element_id=f"apply_{n}",
    )
    return [m.markdown(text), m.columns([before], [after]), apply]


def pick_another(preview_id: str, locale: str) -> m.Element:
    """ "Another time": a date-time picker whose start is checked like the planner's options and applied, or
    refused in words (the card stays as it is)."""
    picker: m.Element = {
        "tag": "picker_datetime",
        "element_id": "pick_time",
        "placeholder": m.plain(t("pick.placeholder", locale)),
        "behaviors": [{"type": "callback", "value": pack(Kind.PICK, preview_id)}],
    }
    return m.columns([m.markdown(t("pick.label", locale))], [picker])


def _late_warning(
    locale: str, timezone: str, title: str, deadline: datetime | None, key: str = "late.warning"
) -> m.Element:
    name = m.escape_md(m.one_line(title, m.HEADER_TITLE_CHARS))
    if deadline is None:
        text = t("late.deadline_none", locale, title=name)
    else:
        at = m.local_time(deadline, timezone)
        text = t(key, locale, title=name, deadline=at)
    return m.markdown(f"<font color='red'>⚠</font> **{text}**")


def late_actions(preview_id: str, locale: str, title: str) -> list[m.Element]:
    """Move the deadline (a date-time picker), ask again later, or drop the task."""
    picker: m.Element = {
        "tag": "picker_datetime",
        "element_id": "deadline",
        "placeholder": m.plain(t("deadline.pick", locale)),
        "behaviors": [{"type": "callback", "value": pack(Kind.DEADLINE, preview_id)}],
    }
    drop = m.button(t("drop", locale), pack(Kind.DROP, preview_id), kind="danger", element_id="drop")
    name = m.one_line(title, m.HEADER_TITLE_CHARS)
    drop["confirm"] = {
        "title": m.plain(t("drop.confirm", locale, title=name)),
        "text": m.plain(t("drop.confirm_text", locale)),
    }
    snoozes = [
        m.button(t("snooze.hours", locale, h=3), pack(Kind.SNOOZE, preview_id, "3h"), element_id="snooze_3h"),
        m.button(
            t("snooze.tomorrow", locale), pack(Kind.SNOOZE, preview_id, "tomorrow"), element_id="snooze_tm"
        ),
    ]
    return [
        m.markdown(t("late.other", locale)),
        m.columns([m.markdown(t("deadline.label", locale))], [picker]),
        m.columns([snoozes[0]], [snoozes[1]], [drop]),
    ]


def build_preview_card(view: PreviewCard) -> dict[str, Any]:
    """The card for a fresh preview; dispatches on the decision (propose, ask_user, notify_only)."""
    if view.decision == "ask_user":
        return build_ask_user_card(view)
    if view.decision == "notify_only":
        return build_notify_only_card(
            NotifyOnlyCard(
                preview_id=view.preview_id,
                locale=view.locale,
                timezone=view.timezone,
                title=view.title,
                warning=view.explanation,
                details=tuple(o.summary for o in view.options),
                risk_level=view.risk_level,
                summary=view.summary,
                late=view.late,
                deadline=view.deadline,
            )
        )
    locale = view.locale
    elements: list[m.Element] = []
    if view.late:  # said first: no option finishes in time
        elements.append(_late_warning(locale, view.timezone, view.title, view.deadline))
    explanation = m.truncate(view.explanation, m.EXPLANATION_CHARS)
    if explanation:
        elements += [m.markdown(m.escape_md(explanation)), m.hr()]
    elif view.late:
        elements.append(m.hr())
    for n, option in enumerate(view.ordered_options(), start=1):
        elements += [*_option_elements(view, option, n), m.hr()]
    elements += [pick_another(view.preview_id, locale), m.hr()]
    if view.late:
        elements += [*late_actions(view.preview_id, locale, view.title), m.hr()]
    elements += [_expiry(view), _ignore(view)]
    title = t("preview.title", locale, title=m.one_line(view.title, m.HEADER_TITLE_CHARS))
    subtitle = t(
        "preview.subtitle", locale, count=len(view.options), risk=risk_label(view.risk_level, locale)
    )
    card = m.card(
        title, RISK_TEMPLATES[view.risk_level], elements, subtitle=subtitle, summary=view.summary or title
    )
    return dict(m.check_card_size(card))


def _same(a: str, b: str) -> bool:
    """Whether two texts say the same thing (spacing and closing punctuation aside)."""

    def norm(text: str) -> str:
        return "".join(text.split()).rstrip("。.？?！!")

    return norm(a) == norm(b)


def build_ask_user_card(view: PreviewCard) -> dict[str, Any]:
    """A question whose answers are buttons, each `{"v":1,"k":"choose","p":..,"c":<choice id>}`."""
    locale = view.locale
    elements: list[m.Element] = []
    explanation = m.truncate(view.explanation, m.EXPLANATION_CHARS)
    question = m.truncate(view.question, m.SUMMARY_CHARS)
    if explanation and question and _same(view.explanation, view.question):
        explanation = ""  # the fallback explains a question by asking it: say it once, as the question
    if explanation:
        elements.append(m.markdown(m.escape_md(explanation)))
    if question:
        elements.append(m.markdown(f"**{m.escape_md(question)}**"))
    for n, choice in enumerate(view.choices, start=1):
        label = m.one_line(choice.label, m.LABEL_CHARS) or choice.choice_id
        value = pack(Kind.CHOOSE, view.preview_id, choice.choice_id)
        elements.append(
            m.button(label, value, kind="primary" if n == 1 else "default", element_id=f"choose_{n}")
        )
    elements += [m.hr(), _expiry(view), _ignore(view)]
    title = t("ask.title", locale, title=m.one_line(view.title, m.HEADER_TITLE_CHARS))
    card = m.card(title, ASK_TEMPLATE, elements, summary=view.summary or question or title)
    return dict(m.check_card_size(card))


def build_notify_only_card(view: NotifyOnlyCard) -> dict[str, Any]:
    """An honest warning: nothing feasible to propose; one "Got it" button (marks it ignored)."""
    locale = view.locale
    elements: list[m.Element] = []
    if view.late:
        elements.append(_late_warning(locale, view.timezone, view.title, view.deadline, "late.nothing"))
    elements.append(m.markdown(m.escape_md(m.truncate(view.warning, m.EXPLANATION_CHARS))))
    if view.details:
        elements.append(m.markdown(m.md_list(view.details)))
    if view.late:
        elements += [m.hr(), *late_actions(view.preview_id, locale, view.title), m.hr()]
    elements += [
        m.markdown(t("notify.nothing_changes", locale), size="notation"),
        m.button(t("got_it", locale), pack(Kind.IGNORE, view.preview_id), element_id="ignore"),
    ]
    title = t("notify.title", locale, title=m.one_line(view.title, m.HEADER_TITLE_CHARS))
    template = "red" if view.risk_level == "high" else "orange"
    card = m.card(title, template, elements, summary=view.summary or title)
    return dict(m.check_card_size(card))
