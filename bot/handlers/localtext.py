"""Reply texts the handlers need that bot/texts.py does not have yet (zh, en); bot.texts wins when it does."""

from __future__ import annotations

from bot.texts import has, norm_locale, t

_TEXTS: dict[str, tuple[str, str]] = {
    "today.header": ("接下来 24 小时（空闲 {free} 分钟）：", "Next 24 hours ({free} min free):"),
    "today.free": ("空闲 {free} 分钟。", "{free} min free."),
    "today.fixed": ("■", "■"),
    "tasks.header": ("未完成的任务（{count}）：", "Open tasks ({count}):"),
    "tasks.minutes": ("{minutes} 分钟", "{minutes} min"),
    "tasks.due": ("截止 {due}", "due {due}"),
    "tasks.urgent": ("紧急", "urgent"),
    "feedback.closed": (
        "看了一下，目前不需要调整日程（可能已经安排了补做时间）。",
        "I looked: nothing needs to change right now (a make-up may already be planned).",
    ),
    "feedback.failed": ("这次没能生成建议：{reason}", "I could not make a suggestion this time: {reason}"),
    "choose.unknown": ("这个选项已经失效了。", "That choice is no longer available."),
    "click.unknown": ("这个按钮已经失效了。", "This button no longer works."),
    "admin.trigger.created": (
        "已为 {user} 的「{task}」创建触发 {trigger}，正在生成建议。",
        "Trigger {trigger} created for {user}'s “{task}”; running it.",
    ),
    "admin.trigger.hit": (
        "已有触发 {trigger}（{status}，{hit}），没有重复创建。",
        "Trigger {trigger} already exists ({status}, {hit}); nothing new was created.",
    ),
    "admin.trigger.result": ("触发 {trigger}：{status}{preview}", "Trigger {trigger}: {status}{preview}"),
    "admin.user_not_found": ("找不到用户 {user}。", "No user {user}."),
    "admin.dryrun.started": (
        "试运行中（不会写入或发送任何东西）…",
        "Dry run started (writes and sends nothing)…",
    ),
    "admin.dryrun.failed": ("试运行失败：{reason}", "Dry run failed: {reason}"),
    "admin.jobs.header": ("任务计时器：{counts}", "Jobs: {counts}"),
    "admin.jobs.none": ("没有待触发的计时器。", "No pending jobs."),
    "admin.notifications.header": ("通知（{which}）：", "Notifications ({which}):"),
    "admin.notifications.none": ("没有符合条件的通知。", "No matching notifications."),
    "admin.retry.done": ("通知 {id} 已重新排队。", "Notification {id} is queued again."),
    "admin.retry.not_found": ("找不到通知 {id}。", "No notification {id}."),
    "admin.retry.bad_state": (
        "通知 {id} 的状态是 {status}，不能重试。",
        "Notification {id} is {status}; not retried.",
    ),
    "admin.stats": ("统计：\n{lines}", "Stats:\n{lines}"),
}


def lt(key: str, locale: str | None, **params: object) -> str:
    """The text for `key`: bot.texts when it has the key, else this module's."""
    if has(key):
        return t(key, locale, **params)
    zh, en = _TEXTS[key]
    template = en if norm_locale(locale) == "en" else zh
    return template.format(**params) if params else template
