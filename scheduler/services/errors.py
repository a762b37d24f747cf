"""Stable error codes of the use cases, each with a sentence in zh and en."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    NOT_OWNER = "not_owner"
    ALREADY_APPLIED = "already_applied"
    INVALID_STATE = "invalid_state"
    EXPIRED = "expired"
    CANDIDATE_NOT_FOUND = "candidate_not_found"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    BASE_VERSION_CHANGED = "base_version_changed"
    TARGET_COMPLETED = "target_completed"
    SLOT_CONFLICT = "slot_conflict"
    SLOT_PASSED = "slot_passed"
    CALENDAR_UNAVAILABLE = "calendar_unavailable"
    UNDO_CONFLICT = "undo_conflict"
    UNDO_EXPIRED = "undo_expired"
    NOTHING_TO_UNDO = "nothing_to_undo"
    USER_NOT_FOUND = "user_not_found"
    TASK_NOT_FOUND = "task_not_found"
    DEADLINE_UNREADABLE = "deadline_unreadable"
    DEADLINE_PAST = "deadline_past"
    PICK_UNREADABLE = "pick_unreadable"
    PICK_NOTHING_TO_PLAN = "pick_nothing_to_plan"
    PICK_PAST = "pick_past"
    PICK_BEYOND_WINDOW = "pick_beyond_window"
    PICK_OUTSIDE_DAY = "pick_outside_day"
    PICK_BUSY = "pick_busy"
    MOCKED_NOW_NOT_ALLOWED = "mocked_now_not_allowed"
    PIPELINE_FAILED = "pipeline_failed"
    INTERNAL = "internal"


MESSAGES: dict[ErrorCode, tuple[str, str]] = {
    ErrorCode.NOT_FOUND: ("找不到这条建议，可能已被清理。", "This suggestion no longer exists."),
    ErrorCode.NOT_OWNER: ("这条建议属于其他人，你不能操作。", "This suggestion belongs to someone else."),
    ErrorCode.ALREADY_APPLIED: (
        "这条建议已经应用过了，没有重复修改。",
        "This suggestion was already applied; nothing changed twice.",
    ),
    ErrorCode.INVALID_STATE: (
        "这条建议已被忽略或处理失败，不能再应用。",
        "This suggestion was ignored or failed and can no longer be applied.",
    ),
    ErrorCode.EXPIRED: (
        "这条建议已过期，日程没有任何改动。",
        "This suggestion expired; your schedule was not changed.",
    ),
    ErrorCode.CANDIDATE_NOT_FOUND: ("找不到这个选项。", "That option does not exist."),
    ErrorCode.IDEMPOTENCY_CONFLICT: (
        "同一个请求带着不同的内容重复提交，已拒绝。",
        "The same request was sent again with different content; refused.",
    ),
    ErrorCode.BASE_VERSION_CHANGED: (
        "生成建议后你的日程有了变化，为安全起见没有修改。请重新生成建议。",
        "Your schedule changed after this suggestion was made, so nothing was changed. Ask for a fresh one.",
    ),
    ErrorCode.TARGET_COMPLETED: (
        "这个任务已经完成，无需再安排。",
        "That task is already done; nothing to schedule.",
    ),
    ErrorCode.SLOT_CONFLICT: (
        "这个时间段已被占用，没有修改。",
        "That time slot is no longer free; nothing was changed.",
    ),
    ErrorCode.SLOT_PASSED: (
        "这个方案的时间已经开始或过去了，没有修改。需要的话请重新生成建议。",
        "That option's time has already started or passed; nothing was changed. Ask for a fresh suggestion.",
    ),
    ErrorCode.CALENDAR_UNAVAILABLE: (
        "暂时读不到你的飞书日历，无法确认这个时间仍然空闲，所以没有修改。请稍后再点一次。",
        "Your Feishu calendar cannot be read right now, so the time could not be confirmed free and nothing "
        "was changed. Try again in a moment.",
    ),
    ErrorCode.UNDO_CONFLICT: (
        "相关的日程块之后又被改动过，无法安全撤销。",
        "The blocks it touched changed since, so it cannot be undone safely.",
    ),
    ErrorCode.UNDO_EXPIRED: (
        "超过 24 小时，不能再撤销。",
        "More than 24 hours have passed; it can no longer be undone.",
    ),
    ErrorCode.NOTHING_TO_UNDO: ("没有可撤销的修改。", "There is nothing to undo."),
    ErrorCode.USER_NOT_FOUND: ("找不到这个用户。", "No such user."),
    ErrorCode.TASK_NOT_FOUND: ("找不到这个任务。", "No such task."),
    ErrorCode.DEADLINE_UNREADABLE: (
        "没看懂这个截止时间，截止时间没有修改。",
        "That deadline could not be read; the deadline was not changed.",
    ),
    ErrorCode.DEADLINE_PAST: (
        "新的截止时间已经过去了，请选一个以后的时间。截止时间没有修改。",
        "The new deadline has already passed; pick a later time. The deadline was not changed.",
    ),
    ErrorCode.PICK_UNREADABLE: (
        "没看懂选的时间，日程没有修改。",
        "The picked time could not be read; your schedule was not changed.",
    ),
    ErrorCode.PICK_NOTHING_TO_PLAN: (
        "这件事已经不需要再安排时间了，日程没有修改。",
        "There is nothing left to plan for this; your schedule was not changed.",
    ),
    ErrorCode.PICK_PAST: (
        "选的时间已经过去了，请选一个以后的时间。日程没有修改。",
        "That time has already passed; pick a later one. Your schedule was not changed.",
    ),
    ErrorCode.PICK_BEYOND_WINDOW: (
        "只能选接下来 24 小时内的时间，日程没有修改。",
        "Pick a time within the next 24 hours; your schedule was not changed.",
    ),
    ErrorCode.PICK_OUTSIDE_DAY: (
        "选的时间不在你的作息时间内（/prefs day），日程没有修改。",
        "That time is outside your day window (/prefs day); your schedule was not changed.",
    ),
    ErrorCode.PICK_BUSY: (
        "选的时间和已有的日程冲突，日程没有修改。请换一个时间。",
        "That time overlaps something already on your schedule; nothing was changed. Pick another time.",
    ),
    ErrorCode.MOCKED_NOW_NOT_ALLOWED: (
        "只有试运行和管理员触发可以指定时间。",
        "Only dry runs and admin triggers may set the time.",
    ),
    ErrorCode.PIPELINE_FAILED: (
        "生成建议时出错，已记录。",
        "Something went wrong while making the suggestion; it was logged.",
    ),
    ErrorCode.INTERNAL: ("内部错误，已记录。", "Internal error; it was logged."),
}


def message(code: str, locale: str) -> str:
    """The user-facing sentence for a code in `locale` (zh or en)."""
    try:
        zh, en = MESSAGES[ErrorCode(code)]
    except (ValueError, KeyError):
        zh, en = MESSAGES[ErrorCode.INTERNAL]
    return en if locale == "en" else zh


class ServiceError(Exception):
    """A use case refused or failed; `code` is stable, `retryable` says whether trying again may help."""

    def __init__(self, code: ErrorCode, detail: str = "", *, retryable: bool = False) -> None:
        super().__init__(f"{code.value}: {detail}" if detail else code.value)
        self.code = code
        self.detail = detail
        self.retryable = retryable

    def user_message(self, locale: str) -> str:
        return message(self.code, locale)
