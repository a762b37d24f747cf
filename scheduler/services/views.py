"""Read models: a preview as the worker and the bot render it, and the dry-run report as text or JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scheduler.services.dryrun import dry_run_json, dry_run_text
from scheduler.services.errors import ErrorCode, ServiceError
from store import UnitOfWork
from store.enums import ApplyStatus, TaskStatus
from store.models import ChangeSet, Preview, Task, Trigger, User

__all__ = [
    "ChoiceView",
    "OptionView",
    "PreviewView",
    "dry_run_json",
    "dry_run_text",
    "preview_view",
    "preview_views",
]

UNDO_HOURS = 24
# A card planned on Feishu busy time read longer ago than this says how old it was (the pipeline re-reads a
# copy older than SMARTFLOW_BUSY_MAX_AGE_SECONDS, 5 minutes by default, so an older one means a failed read).
BUSY_AGE_SHOWN_AFTER = timedelta(minutes=5)
_SEPARATORS = ("；", "; ")


@dataclass(frozen=True)
class OptionView:
    candidate_id: str
    type: str  # a CandidateType value
    label: str
    summary: str
    before: str
    after: str
    risk_level: str
    recommended: bool  # the chosen candidate
    meets_deadline: bool = True  # finishes before the task's deadline (or the task has none)


@dataclass(frozen=True)
class ChoiceView:
    """One answer button of an ask_user preview: a block the report may mean."""

    block_id: str
    label: str


# Cards carry the task's title in their header; a question about "the one just now" has no task yet.
NO_TITLE = {"zh": "刚才的安排", "en": "your last block"}


@dataclass(frozen=True)
class PreviewView:
    preview_id: str
    user_open_id: str
    locale: str
    timezone: str
    task_title: str
    decision: str  # propose | ask_user | notify_only
    status: str  # ready | applied | ignored | expired | failed
    apply_status: str
    explanation: str
    notification_summary: str
    question: str
    options: tuple[OptionView, ...]  # every stored candidate, the chosen one first
    choices: tuple[ChoiceView, ...]  # ask_user: the blocks to pick from
    expires_at: datetime
    applied_candidate_id: str | None
    change_lines: tuple[str, ...]  # what the apply changed, one line each (empty until applied)
    undo_until: datetime | None  # set while an applied change can still be undone
    error_code: str | None  # the last refused or failed click (an ErrorCode value)
    card_message_id: str | None
    risk_level: str = "low"  # of the chosen candidate: colours the card
    undone_at: datetime | None = None
    applied_at: datetime | None = None
    trigger_type: str = ""  # worker_due_job | admin_trigger | user_feedback (a card answering the user)
    task_id: str | None = None
    busy_age_minutes: int | None = None  # the Feishu busy time planned on was this old (shown when old)
    deadline: datetime | None = None  # the task's deadline (None: no task or no deadline)
    task_open: bool = False  # the preview's task is still open
    task_action: str | None = None  # deadline | snooze | drop: what the card's late actions did
    task_action_at: datetime | None = None  # the new deadline, or when the question comes back

    @property
    def late(self) -> bool:
        """No option finishes before the task's deadline: the card says so first and offers moving the
        deadline, asking again later or dropping the task beside the late options."""
        return (
            self.deadline is not None
            and self.task_open
            and self.decision in ("propose", "notify_only")
            and not any(o.meets_deadline for o in self.options)
        )

    def option(self, candidate_id: str | None) -> OptionView | None:
        return next((o for o in self.options if o.candidate_id == candidate_id), None)


def _texts(item: Mapping[str, Any]) -> Mapping[str, Any]:
    texts = item.get("texts")
    return texts if isinstance(texts, Mapping) else {}


def _options(preview: Preview) -> tuple[OptionView, ...]:
    stored = preview.candidates if isinstance(preview.candidates, list) else []
    options = []
    for item in stored:
        if not isinstance(item, Mapping):
            continue
        t = _texts(item)
        options.append(
            OptionView(
                candidate_id=str(item.get("id", "")),
                type=str(item.get("type", "")),
                label=str(t.get("label", "")),
                summary=str(t.get("summary", "")),
                before=str(t.get("before", "")),
                after=str(t.get("after", "")),
                risk_level=str(item.get("risk_level", "low")),
                recommended=item.get("id") == preview.chosen_candidate_id,
                meets_deadline=_meets_deadline(item),
            )
        )
    options.sort(key=lambda o: not o.recommended)  # stable: the chosen first, the rest in stored order
    return tuple(options)


def _meets_deadline(item: Mapping[str, Any]) -> bool:
    """The stored score's meets_deadline component (1.0 also when there is no deadline); a warning with
    nothing to place (notify_only) meets nothing."""
    if item.get("type") == "notify_only":
        return False
    for component in item.get("score") or ():
        if isinstance(component, Mapping) and component.get("name") == "meets_deadline":
            return bool(component.get("value"))
    return True


def _choices(preview: Preview) -> tuple[ChoiceView, ...]:
    stored = preview.candidates if isinstance(preview.candidates, list) else []
    for item in stored:
        if isinstance(item, Mapping) and item.get("id") == preview.chosen_candidate_id:
            return tuple(
                ChoiceView(block_id=str(c["block_id"]), label=str(c.get("label", "")))
                for c in item.get("choices") or ()
                if isinstance(c, Mapping) and c.get("block_id")
            )
    return ()


def _split(text: str) -> list[str]:
    for sep in _SEPARATORS:
        if sep in text:
            return [part for part in text.split(sep) if part]
    return [text] if text else []


def _change_lines(option: OptionView | None) -> tuple[str, ...]:
    if option is None:
        return ()
    after = _split(option.after)
    # One change: its summary already says it; several: list each block's new time too.
    return (option.summary, *after) if len(after) > 1 else (option.summary,)


def _error_code(preview: Preview) -> str | None:
    result = preview.apply_result if isinstance(preview.apply_result, Mapping) else {}
    code = result.get("code")
    if isinstance(code, str) and code:
        return code
    error = (preview.apply_error or "").strip()
    if not error:
        return None
    head = error.split(":", 1)[0].strip()
    return head if head in {c.value for c in ErrorCode} else ErrorCode.INTERNAL.value


async def preview_view(uow: UnitOfWork, preview_id: str) -> PreviewView:
    """The preview as a card shows it; ServiceError NOT_FOUND when there is no such preview."""
    preview = await uow.previews.get(preview_id)
    if preview is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"no preview {preview_id}")
    user = await uow.users.get(preview.user_id)
    if user is None:  # pragma: no cover - the foreign key cascades
        raise ServiceError(ErrorCode.USER_NOT_FOUND, f"no user {preview.user_id}")
    task = await uow.tasks.get(preview.task_id) if preview.task_id else None
    trigger = await uow.triggers.get(preview.trigger_id)
    change_set = await uow.change_sets.get_by_preview(preview.id)
    return _view(preview, user, task, trigger, change_set)


async def preview_views(uow: UnitOfWork, preview_ids: Iterable[str]) -> dict[str, PreviewView]:
    """The views of many previews in five queries, by preview id; an unknown id is left out."""
    previews = await uow.previews.list_by_ids(set(preview_ids))
    users = {u.id: u for u in await uow.users.list_by_ids({p.user_id for p in previews})}
    tasks = {t.id: t for t in await uow.tasks.list_by_ids({p.task_id for p in previews if p.task_id})}
    return await views_of(
        uow,
        [
            (p, users[p.user_id], tasks.get(p.task_id) if p.task_id else None)
            for p in previews
            if p.user_id in users
        ],
    )


async def views_of(
    uow: UnitOfWork, rows: Iterable[tuple[Preview, User, Task | None]]
) -> dict[str, PreviewView]:
    """The views of previews already read with their user and task, in two more queries, by preview id."""
    wanted = list(rows)
    if not wanted:
        return {}
    triggers = {t.id: t for t in await uow.triggers.list_by_ids({p.trigger_id for p, _, _ in wanted})}
    change_sets = {c.preview_id: c for c in await uow.change_sets.by_previews(p.id for p, _, _ in wanted)}
    return {
        p.id: _view(p, user, task, triggers.get(p.trigger_id), change_sets.get(p.id))
        for p, user, task in wanted
    }


def _view(
    preview: Preview, user: User, task: Task | None, trigger: Trigger | None, change_set: ChangeSet | None
) -> PreviewView:
    options = _options(preview)
    chosen = next((o for o in options if o.recommended), None)
    applied_id = preview.apply_candidate_id if preview.apply_status == ApplyStatus.APPLIED else None
    undo_until = None
    if change_set is not None and change_set.undone_at is None:
        undo_until = change_set.applied_at + timedelta(hours=UNDO_HOURS)
    return PreviewView(
        preview_id=preview.id,
        user_open_id=user.open_id,
        locale="en" if user.locale.lower().startswith("en") else "zh",
        timezone=user.timezone,
        task_title=task.title if task else NO_TITLE["en" if user.locale.lower().startswith("en") else "zh"],
        decision=preview.decision,
        status=preview.status,
        apply_status=preview.apply_status,
        explanation=preview.explanation or "",
        notification_summary=preview.notification_summary or "",
        question=preview.ask_user_question or "",
        options=options,
        choices=_choices(preview),
        expires_at=preview.expires_at,
        applied_candidate_id=applied_id,
        change_lines=_change_lines(next((o for o in options if o.candidate_id == applied_id), None)),
        undo_until=undo_until,
        error_code=_error_code(preview),
        card_message_id=preview.card_message_id,
        risk_level=chosen.risk_level if chosen else "low",
        undone_at=change_set.undone_at if change_set else None,
        applied_at=preview.applied_at,
        trigger_type=trigger.type if trigger else "",
        task_id=preview.task_id,
        busy_age_minutes=_busy_age(preview),
        deadline=task.deadline if task else None,
        task_open=task is not None and task.status == TaskStatus.OPEN,
        task_action=_acted(preview).get("action"),
        task_action_at=_acted_at(preview),
    )


def _acted(preview: Preview) -> Mapping[str, Any]:
    record = preview.apply_result
    return record if isinstance(record, Mapping) and record.get("state") == "task_action" else {}


def _acted_at(preview: Preview) -> datetime | None:
    at = _acted(preview).get("at")
    try:
        return datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        return None


def _busy_age(preview: Preview) -> int | None:
    """How many minutes old the busy time the preview was planned on was, when that is worth saying."""
    if preview.busy_read_at is None:
        return None
    age = preview.created_at - preview.busy_read_at
    return int(age.total_seconds() // 60) if age > BUSY_AGE_SHOWN_AFTER else None
