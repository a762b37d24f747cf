"""The capture form: a task read from plain words, prefilled in a schema 2.0 form container (title input,
estimate select, deadline date-time picker, an "important" checker); Submit sends `action.form_value` with
each field by name, and the button's value names the form (one source message, one task)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.cards import markup as m
from bot.cards.payload import Kind, pack
from bot.texts import t

ESTIMATES = (15, 30, 45, 60, 90, 120, 150, 180, 240, 300, 360, 480)
TITLE_MAX = 100
FIELD_TITLE, FIELD_ESTIMATE, FIELD_DEADLINE, FIELD_IMPORTANT = "title", "estimate", "deadline", "important"


def _minutes_label(minutes: int, locale: str) -> str:
    h, r = divmod(minutes, 60)
    if locale == "en":
        return f"{h} h {r} min" if h and r else (f"{h} h" if h else f"{r} min")
    return f"{h} 小时 {r} 分钟" if h and r else (f"{h} 小时" if h else f"{r} 分钟")


def build_capture_card(  # noqa: PLR0917 - the draft's fields
    form_id: str,
    title: str,
    estimate_minutes: int | None,
    deadline: datetime | None,
    important: bool,
    timezone: str,
    locale: str,
    *,
    alternative: str = "",
    edit: bool = False,
    intro: str = "",
) -> dict[str, Any]:
    """The form prefilled with the draft; `form_id` keys the submit (a second submit adds nothing).
    `edit`: the Edit form of the open task `form_id` (its Save writes the fields to that task)."""
    minutes = sorted({*ESTIMATES, estimate_minutes} if estimate_minutes else set(ESTIMATES))
    estimate: m.Element = {
        "tag": "select_static",
        "name": FIELD_ESTIMATE,
        "placeholder": m.plain(t("capture.form.estimate_pick", locale)),
        "options": [{"text": m.plain(_minutes_label(x, locale)), "value": str(x)} for x in minutes],
    }
    if estimate_minutes:
        estimate["initial_option"] = str(estimate_minutes)
    picker: m.Element = {
        "tag": "picker_datetime",
        "name": FIELD_DEADLINE,
        "placeholder": m.plain(t("capture.form.deadline_pick", locale)),
    }
    if deadline is not None:
        picker["initial_datetime"] = f"{deadline.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M}"
    submit = m.button(
        t("taskform.save" if edit else "capture.form.submit", locale),
        pack(Kind.TASK_SAVE if edit else Kind.CAPTURE, form_id),
        kind="primary_filled",
    )
    submit["name"] = "submit"
    submit["form_action_type"] = "submit"
    form: m.Element = {
        "tag": "form",
        "name": "capture",
        "elements": [
            m.markdown(f"**{t('capture.form.title', locale)}**"),
            {
                "tag": "input",
                "name": FIELD_TITLE,
                "default_value": m.one_line(title, TITLE_MAX),
                "max_length": TITLE_MAX,
                "placeholder": m.plain(t("capture.form.title", locale)),
            },
            m.markdown(f"**{t('capture.form.estimate', locale)}**"),
            estimate,
            m.markdown(f"**{t('capture.form.deadline', locale)}**"),
            picker,
            {
                "tag": "checker",
                "name": FIELD_IMPORTANT,
                "checked": important,
                "text": m.plain(t("capture.form.important", locale)),
            },
            submit,
        ],
    }
    said = intro or t("taskform.intro" if edit else "capture.form.intro", locale)
    elements: list[m.Element] = [m.markdown(m.escape_md(said) if intro else said), form]
    if alternative:  # the same task as an /add line, for clients without forms
        elements.append(m.markdown(m.escape_md(alternative), size="notation"))
    header = t("taskform.header" if edit else "capture.form.header", locale)
    card = m.card(header, "blue", elements, summary=title)
    return dict(m.check_card_size(card))


def build_captured_card(
    text: str, locale: str, title: str, *, task_id: str | None = None, edited: bool = False
) -> dict[str, Any]:
    """The form after Submit: what was created or changed (or why not), without the form; with an Edit
    button that opens the form again on the task `task_id` when there is one."""
    elements: list[m.Element] = [m.markdown(m.escape_md(text))]
    if task_id is not None:
        elements.append(m.button(t("taskform.edit", locale), pack(Kind.TASK_EDIT, task_id)))
    header = t("taskform.header" if edited else "capture.form.header", locale)
    card = m.card(header, "green", elements, summary=title)
    return dict(m.check_card_size(card))


def build_synced_task_card(form: Mapping[str, Any]) -> dict[str, Any]:
    """The Edit form of a task just synced from Feishu Tasks, which holds no estimate or importance: the
    question once, prefilled with the defaults it was given (`form` as scheduler.services.tasksync stores
    it: task_id, title, estimate, deadline (ISO) or None, timezone, locale)."""
    locale = str(form.get("locale") or "zh")
    raw_due = form.get("deadline")
    deadline = datetime.fromisoformat(raw_due) if isinstance(raw_due, str) and raw_due else None
    minutes = int(form.get("estimate") or 30)
    title = str(form.get("title") or "")
    return build_capture_card(
        str(form["task_id"]),
        title,
        minutes,
        deadline,
        False,
        str(form.get("timezone") or "UTC"),
        locale,
        edit=True,
        intro=t("taskform.synced_intro", locale, title=title, minutes=minutes),
    )
