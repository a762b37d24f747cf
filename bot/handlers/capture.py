"""The capture form's Submit: the fields checked by name, then one task added through the same service as
/add, keyed by the form (a second submit, or Feishu's redelivery, adds nothing). Answered with a toast and
the card replaced by what was created (with an Edit button), or the card left as it is with the field that
is wrong named. Edit opens the same form on the task as it is now; its Save writes the fields to the task
(scheduler.services.taskform), or names the wrong field and changes nothing."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.cards import toast
from bot.cards.capture import (
    FIELD_DEADLINE,
    FIELD_ESTIMATE,
    FIELD_IMPORTANT,
    FIELD_TITLE,
    TITLE_MAX,
    build_capture_card,
    build_captured_card,
)
from bot.cards.results import ToastKind
from bot.handlers.deps import BotDeps
from bot.handlers.tasklines import local_time, task_details
from bot.inbound import CallbackAnswer, ClickIn
from bot.texts import error_message, norm_locale, t
from scheduler.services import presses, taskform, tasks
from scheduler.services.errors import ErrorCode
from scheduler.services.inbound import InboundMessage, NewUser
from scheduler.services.late import read_deadline

log = logging.getLogger(__name__)

EVENT_TYPE = "card.capture_form"
EDIT_EVENT_TYPE = "card.task_form"
MIN_ESTIMATE, MAX_ESTIMATE = 5, 480


def _answer(
    kind: ToastKind | str, locale: str, message: str, card: dict[str, Any] | None = None
) -> CallbackAnswer:
    out: dict[str, Any] = {"toast": toast(kind, locale, message=message)}
    if card is not None:
        out["card"] = {"type": "raw", "data": card}
    return out


def _field_error(
    form: Mapping[str, Any], locale: str, unchanged: str = "capture.form.not_added"
) -> str | None:
    """The sentence naming the first field that cannot be a task (then what did not happen), else None."""
    wrong = _wrong_field(form, locale)
    return None if wrong is None else wrong + t(unchanged, locale)


def _wrong_field(form: Mapping[str, Any], locale: str) -> str | None:
    title = form.get(FIELD_TITLE)
    if not isinstance(title, str) or not title.strip() or len(title.strip()) > TITLE_MAX:
        return t("capture.form.bad_title", locale, max=TITLE_MAX)
    estimate = form.get(FIELD_ESTIMATE)
    if not isinstance(estimate, str | int) or not str(estimate).isdecimal():
        return t("capture.form.bad_estimate", locale)
    if not MIN_ESTIMATE <= int(estimate) <= MAX_ESTIMATE:
        return t("capture.form.bad_estimate", locale)
    deadline = form.get(FIELD_DEADLINE)
    if deadline not in (None, "") and (
        not isinstance(deadline, str) or read_deadline(deadline, "UTC") is None
    ):
        return t("capture.form.bad_deadline", locale)
    return None


def _past(at: datetime, tz: str, now: datetime, locale: str, unchanged: str) -> str:
    due = local_time(at, tz, now, with_date=True)
    return t("capture.form.past_deadline", locale, due=due) + t(unchanged, locale)


def _reader(raw: str) -> tasks.TimeReader:
    def read(_now: datetime, tz: str) -> datetime:
        at = read_deadline(raw, tz)
        if at is None:  # checked before; kept as a refusal, not a crash
            raise ValueError("unreadable deadline")
        return at

    return read


async def submit_capture(deps: BotDeps, click: ClickIn, form_id: str) -> CallbackAnswer:
    """Never raises: a database outage is a toast, like any press."""
    now = deps.clock()
    default = norm_locale(deps.config.locale)
    try:
        locale = norm_locale(await _locale(deps, click.operator_open_id))
        return await _submit(deps, click, form_id, now, locale)
    except Exception:
        log.exception("capture form %s failed", form_id)
        return _answer(ErrorCode.INTERNAL.value, default, error_message("internal", default))


async def _locale(deps: BotDeps, open_id: str) -> str:
    return await presses.operator_locale(deps.store, open_id, deps.config.locale)


async def _submit(deps: BotDeps, click: ClickIn, form_id: str, now: datetime, locale: str) -> CallbackAnswer:
    form = click.form
    wrong = _field_error(form, locale)
    if wrong is not None:
        return _answer(ErrorCode.INTERNAL.value, locale, wrong)  # an error toast; the card stays to fix it
    raw_deadline = form.get(FIELD_DEADLINE)
    if isinstance(raw_deadline, str) and raw_deadline:
        # checked here, before the service records the form as handled: a past deadline can be fixed
        at = read_deadline(raw_deadline, deps.config.timezone)
        if at is not None and at <= now:
            said = _past(at, deps.config.timezone, now, locale, "capture.form.not_added")
            return _answer(ErrorCode.DEADLINE_PAST.value, locale, said)
    title = str(form[FIELD_TITLE]).strip()
    minutes = int(str(form[FIELD_ESTIMATE]))
    important = form.get(FIELD_IMPORTANT) is True or str(form.get(FIELD_IMPORTANT)).lower() == "true"
    message = _inbound(
        deps, click, f"capture:{form_id}:{click.operator_open_id}", now, locale=locale, event=EVENT_TYPE
    )
    handled = await tasks.add_task(
        deps.store,
        message,
        title=title,
        minutes=minutes,
        important=important,
        deadline=_reader(raw_deadline) if isinstance(raw_deadline, str) and raw_deadline else None,
    )
    if handled is None:
        said = t("capture.form.again", locale)
        return _answer(ToastKind.ALREADY_CHOSEN, locale, said, build_captured_card(said, locale, title))
    result, user = handled.result, handled.user
    if isinstance(result, tasks.DeadlinePast):
        said = _past(result.deadline, user.timezone, now, locale, "capture.form.not_added")
        return _answer(ErrorCode.DEADLINE_PAST.value, locale, said)
    if isinstance(result, tasks.DeadlineUnreadable):
        said = t("capture.form.bad_deadline", locale) + t("capture.form.not_added", locale)
        return _answer(ErrorCode.DEADLINE_UNREADABLE.value, locale, said)
    if isinstance(result, tasks.DuplicateTitle):
        details = " · ".join(task_details(result.task, user, now, locale))
        said = t(
            "task.duplicate",
            locale,
            title=result.task.title,
            details=details,
            again=f"/add {title} {minutes} +",
        )
        # "update it or add another?": the Edit button opens the task already there
        card = build_captured_card(said, locale, title, task_id=result.task.id)
        return _answer(ToastKind.ERROR, locale, said.splitlines()[0], card)
    task = result.task
    if task.deadline is None:
        said = t("task.added", locale, title=task.title, minutes=task.estimate_minutes)
    else:
        due = local_time(task.deadline, user.timezone, now, with_date=True)
        said = t("task.added_due", locale, title=task.title, minutes=task.estimate_minutes, due=due)
    if task.deadline is not None and task.quadrant in (1, 2):
        when = local_time(task.deadline - tasks.URGENT_WITHIN, user.timezone, now, with_date=True)
        said += "\n" + t("capture.form.card_follows", locale, at=when)
    else:
        said += "\n" + t("capture.form.no_card", locale)
    log.info("capture form %s added a task", form_id)
    card = build_captured_card(said, locale, title, task_id=task.id)
    return _answer(ToastKind.APPLIED, locale, said.splitlines()[0], card)


def _inbound(
    deps: BotDeps, click: ClickIn, key: str, now: datetime, *, locale: str, event: str
) -> InboundMessage:
    config = deps.config
    return InboundMessage(
        key=key,
        open_id=click.operator_open_id,
        now=now,
        new_user=NewUser(
            timezone=config.timezone,
            locale=locale,
            day_start=config.day_start,
            day_end=config.day_end,
            daily_card_cap=config.daily_card_cap,
        ),
        admins=config.admins,
        event_type=event,
    )


async def open_task_form(deps: BotDeps, click: ClickIn, task_id: str) -> CallbackAnswer:
    """The Edit button: the card becomes the form on the presser's open task as it is now (never raises)."""
    default = norm_locale(deps.config.locale)
    try:
        found = await taskform.task_for_form(deps.store, click.operator_open_id, task_id)
        if found is None:
            locale = norm_locale(await _locale(deps, click.operator_open_id))
            return _answer(ToastKind.ERROR, locale, t("taskform.gone", locale))
        task = found.task
        card = build_capture_card(
            task.id,
            task.title,
            task.estimate_minutes,
            task.deadline,
            task.quadrant in (1, 2),
            found.timezone,
            norm_locale(found.locale),
            edit=True,
        )
        return {"card": {"type": "raw", "data": card}}
    except Exception:
        log.exception("edit form for task %s failed", task_id)
        return _answer(ErrorCode.INTERNAL.value, default, error_message("internal", default))


async def submit_task_form(deps: BotDeps, click: ClickIn, task_id: str) -> CallbackAnswer:
    """The Edit form's Save: every field checked by name, then written to the task (never raises)."""
    now = deps.clock()
    default = norm_locale(deps.config.locale)
    try:
        locale = norm_locale(await _locale(deps, click.operator_open_id))
        return await _save(deps, click, task_id, now, locale)
    except Exception:
        log.exception("edit form for task %s failed", task_id)
        return _answer(ErrorCode.INTERNAL.value, default, error_message("internal", default))


async def _save(deps: BotDeps, click: ClickIn, task_id: str, now: datetime, locale: str) -> CallbackAnswer:
    form = click.form
    unchanged = "taskform.not_changed"
    wrong = _field_error(form, locale, unchanged)
    if wrong is not None:
        return _answer(ErrorCode.INTERNAL.value, locale, wrong)  # the form stays to fix it
    raw_deadline = form.get(FIELD_DEADLINE)
    title = str(form[FIELD_TITLE]).strip()
    important = form.get(FIELD_IMPORTANT) is True or str(form.get(FIELD_IMPORTANT)).lower() == "true"
    # Feishu's redelivery of a Save carries the same press and values: written once; a Save with other
    # values is another change
    said_values = json.dumps(dict(form), sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(f"{click.dedupe_key}\n{said_values}".encode()).hexdigest()[:40]
    message = _inbound(deps, click, f"task-form:{digest}", now, locale=locale, event=EDIT_EVENT_TYPE)
    handled = await taskform.save_form(
        deps.store,
        message,
        task_id,
        title=title,
        minutes=int(str(form[FIELD_ESTIMATE])),
        deadline=_reader(raw_deadline) if isinstance(raw_deadline, str) and raw_deadline else None,
        important=important,
    )
    if handled is None:  # a redelivery of a Save already written
        return _answer(ToastKind.APPLIED, locale, t("taskform.header", locale))
    result, user = handled.result, handled.user
    if isinstance(result, taskform.TaskGone):
        return _answer(ToastKind.ERROR, locale, t("taskform.gone", locale))
    if isinstance(result, tasks.DeadlinePast):
        return _answer(
            ErrorCode.DEADLINE_PAST.value,
            locale,
            _past(result.deadline, user.timezone, now, locale, unchanged),
        )
    if isinstance(result, tasks.DeadlineUnreadable):
        said = t("capture.form.bad_deadline", locale) + t(unchanged, locale)
        return _answer(ErrorCode.DEADLINE_UNREADABLE.value, locale, said)
    task = result.task
    details = " · ".join(task_details(task, user, now, locale)[1:])
    said = t("taskform.saved", locale, title=task.title, details=details)
    log.info("edit form saved task %s", task.id)
    card = build_captured_card(said, locale, task.title, task_id=task.id, edited=True)
    return _answer(ToastKind.APPLIED, locale, said, card)
