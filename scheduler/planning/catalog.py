"""zh and en templates for every reason, risk, issue, decision and question code (no clock times here)."""

from __future__ import annotations

# params ending in "minutes" are rendered as durations; {title} is the user's own text
REASONS: dict[str, dict[str, str]] = {
    "earliest_slot": {"zh": "这是最早的空闲时段", "en": "it is the earliest free slot"},
    "picked_by_user": {"zh": "这是你选的时间", "en": "it is the time you picked"},
    "overrun_scaled": {
        "zh": "按你以往的实际用时，预估的{minutes}按 {factor} 倍预留（/prefs learn off 可关闭）",
        "en": "your reports show work runs over, so the {minutes} estimate gets {factor}x the time "
        "(/prefs learn off turns this off)",
    },
    "least_fragmentation": {"zh": "不会留下零碎时间", "en": "it leaves no unusable gaps"},
    "preferred_time": {"zh": "有{minutes}在你偏好的时段内", "en": "{minutes} fall in your preferred hours"},
    "in_day_window": {"zh": "在你的日程时段内", "en": "it stays inside your day"},
    "outside_day_window": {"zh": "超出了你平时的日程时段", "en": "it runs past your usual day"},
    "meets_deadline": {
        "zh": "能在截止前完成，余量{slack_minutes}",
        "en": "it ends {slack_minutes} before the deadline",
    },
    "misses_deadline": {
        "zh": "会比截止时间晚{late_minutes}",
        "en": "it ends {late_minutes} after the deadline",
    },
    "no_deadline": {"zh": "这项任务没有截止时间", "en": "the task has no deadline"},
    "no_disruption": {"zh": "不需要移动其他安排", "en": "nothing else moves"},
    "moves_blocks": {"zh": "后面{count}项安排依次顺延", "en": "{count} later block(s) shift later"},
    "split_needed": {
        "zh": "没有足够长的整段空闲，分成{pieces}段完成",
        "en": "no free slot is long enough, so it is split into {pieces} parts",
    },
    "follows_immediately": {
        "zh": "紧接着原来的时段补上",
        "en": "it continues right after the unfinished block",
    },
    "extends_day": {"zh": "今天的结束时间推迟{minutes}", "en": "today ends {minutes} later"},
    "rush_merge": {
        "zh": "从「{title}」中挤出{minutes}（紧急合并）",
        "en": "it takes {minutes} from “{title}” (rush merge)",
    },
    "quiet_hours": {"zh": "有{minutes}落在免打扰时段", "en": "{minutes} fall in your quiet hours"},
    "slack": {"zh": "截止前的余量", "en": "slack before the deadline"},
    "starts_in": {"zh": "开始的早晚", "en": "how soon it starts"},
    "clears_conflict": {"zh": "避开日历上的「{event}」", "en": "it clears “{event}” on your calendar"},
}

RISKS: dict[str, dict[str, str]] = {
    "deadline_missed": {
        "zh": "会错过截止时间（晚{late_minutes}）",
        "en": "misses the deadline by {late_minutes}",
    },
    "deadline_passed": {"zh": "截止时间已经过了", "en": "the deadline has already passed"},
    "tight_slack": {"zh": "离截止只剩{minutes}余量", "en": "only {minutes} to spare before the deadline"},
    "quiet_hours": {"zh": "有{minutes}在免打扰时段", "en": "{minutes} fall in your quiet hours"},
    "day_extended": {"zh": "今天要多忙{minutes}", "en": "your day runs {minutes} longer"},
    "overcommitted": {
        "zh": "那天会排满{minutes}，超过每天{cap_minutes}的上限",
        "en": "that day would hold {minutes} of planned work, over your {cap_minutes} a day",
    },
    "blocks_moved": {
        "zh": "{count}项安排共顺延{minutes}",
        "en": "{count} block(s) shift by {minutes} in total",
    },
    "successor_deadline": {"zh": "「{title}」会被推到截止之后", "en": "“{title}” moves past its deadline"},
    "rush_merge": {
        "zh": "紧急方案：「{title}」的时间少了{minutes}",
        "en": "rush: “{title}” loses {minutes}",
    },
    "partial_capacity": {
        "zh": "还差{missing_minutes}没有安排",
        "en": "{missing_minutes} are still not planned",
    },
}

ISSUES: dict[str, dict[str, str]] = {
    "target_completed": {
        "zh": "「{title}」已经完成，无需安排",
        "en": "“{title}” is already done; nothing to plan",
    },
    "target_missing": {"zh": "找不到这项任务", "en": "the task no longer exists"},
    "calendar_conflict": {
        "zh": "日历上的「{event}」和「{title}」的时间重叠了",
        "en": "“{event}” on your calendar now overlaps “{title}”",
    },
    "conflict_resolved": {
        "zh": "「{title}」已不再和日历冲突，无需调整",
        "en": "“{title}” no longer overlaps your calendar; nothing to change",
    },
    "nothing_remaining": {"zh": "没有剩余的工作要补", "en": "no work is left to make up"},
    "target_already_scheduled": {
        "zh": "「{title}」已经安排了足够的时间",
        "en": "“{title}” already has its time planned",
    },
    "feedback_target_unknown": {
        "zh": "不确定是哪一项没做完",
        "en": "it is unclear which block was unfinished",
    },
    "deadline_passed": {"zh": "「{title}」的截止时间已经过了", "en": "the deadline of “{title}” has passed"},
    "no_free_slot": {
        "zh": "接下来24小时没有连续{needed_minutes}的空闲",
        "en": "no free slot of {needed_minutes} in the next 24 hours",
    },
    "capacity_insufficient": {
        "zh": "截止前只有{free_minutes}空闲，需要{needed_minutes}",
        "en": "only {free_minutes} free before the deadline, {needed_minutes} needed",
    },
    "deadline_at_risk": {
        "zh": "「{title}」在截止前排不下",
        "en": "“{title}” does not fit before its deadline",
    },
    "day_end_reached": {
        "zh": "今天剩下的时间不够补{needed_minutes}",
        "en": "the rest of today has no room for {needed_minutes}",
    },
    "fragmented_time": {
        "zh": "空闲时间太零碎，需要拆开做",
        "en": "free time is fragmented; the work must be split",
    },
    "need_makeup": {
        "zh": "「{title}」还需要补{needed_minutes}",
        "en": "“{title}” needs {needed_minutes} more",
    },
    "partly_planned": {
        "zh": "「{title}」已安排{planned_minutes}，还需要{needed_minutes}",
        "en": "“{title}” has {planned_minutes} planned and needs {needed_minutes} more",
    },
    "can_place_task": {
        "zh": "「{title}」需要{needed_minutes}，可以排进空闲时间",
        "en": "“{title}” needs {needed_minutes} and fits in free time",
    },
    "deadline_beyond_window": {
        "zh": "截止时间在24小时之后",
        "en": "the deadline is more than 24 hours away",
    },
    "quiet_hours_now": {"zh": "现在是免打扰时段", "en": "it is quiet hours now"},
}

# what an option costs against the recommended one (scheduler.planning.tradeoff); durations only
TRADEOFFS: dict[str, dict[str, str]] = {
    "misses_deadline": {"zh": "会比截止晚{late_minutes}", "en": "misses the deadline by {late_minutes}"},
    "ends_later": {"zh": "晚{minutes}完成", "en": "ends {minutes} later"},
    "moves_block": {"zh": "「{title}」要挪后{minutes}", "en": "moves “{title}” by {minutes}"},
    "shortens_block": {"zh": "「{title}」少了{minutes}", "en": "“{title}” loses {minutes}"},
    "day_longer": {"zh": "今天要多忙{minutes}", "en": "your day runs {minutes} longer"},
    "split_into": {"zh": "要分成{pieces}段做", "en": "the work is split into {pieces} parts"},
    "more_quiet": {"zh": "多{minutes}落在免打扰时段", "en": "{minutes} more in your quiet hours"},
    "less_preferred": {"zh": "少{minutes}在你偏好的时段", "en": "{minutes} less in your preferred hours"},
    "overcommits": {
        "zh": "那天会排满{minutes}，超出每天的上限",
        "en": "that day holds {minutes}, over your daily cap",
    },
    "starts_later": {"zh": "晚{minutes}开始", "en": "starts {minutes} later"},
    "no_extra_cost": {"zh": "代价与推荐方案相同", "en": "costs the same as the recommended option"},
}

DECISIONS: dict[str, dict[str, str]] = {
    "close": {"zh": "无需调整", "en": "Nothing to change"},
    "propose": {"zh": "建议调整日程", "en": "Suggested schedule change"},
    "ask_user": {"zh": "需要你确认", "en": "A quick question"},
    "notify_only": {"zh": "提醒：暂时排不下", "en": "Heads-up: it does not fit"},
}

QUESTIONS: dict[str, dict[str, str]] = {
    "which_block": {"zh": "哪一段没做完？", "en": "Which block did you not finish?"},
    "which_task": {
        "zh": "是哪项任务没做完？请回复任务名和大约还剩多少分钟。",
        "en": "Which task did you not finish? Reply with its name and about how many minutes are left.",
    },
}

# one-line summaries per candidate type; {span} and {spans} come from the candidate itself
SUMMARIES: dict[str, dict[str, str]] = {
    "place_task": {"zh": "加入 {title} {span}", "en": "Add {title} {span}"},
    "move_block": {"zh": "把 {title} 移到 {span}", "en": "Move {title} to {span}"},
    "split_task": {"zh": "分段加入 {title} {spans}", "en": "Split {title}: {spans}"},
    "makeup_block": {"zh": "补做 {title} {span}", "en": "Make up {title} {span}"},
    "push_successors": {
        "zh": "补做 {title} {span}，后面{count}项顺延",
        "en": "Make up {title} {span}, shift {count} later",
    },
    "extend_day": {
        "zh": "今天延长到 {new_end}，{title} 安排在 {span}",
        "en": "Extend today to {new_end}, do {title} {span}",
    },
    "rush_merge": {
        "zh": "紧急合并：{other} 缩短为 {other_span}，{title} {span}",
        "en": "Rush: {other} shrinks to {other_span}, {title} {span}",
    },
}

# The title of busy time read without one (free/busy), by language; it names no meeting: never "after 忙碌".
UNTITLED_BUSY_TITLE = {"zh": "忙碌", "en": "Busy"}
UNTITLED_BUSY = frozenset(UNTITLED_BUSY_TITLE.values())

WORDS: dict[str, dict[str, str]] = {
    "tomorrow": {"zh": "明天", "en": "tomorrow"},
    "free": {"zh": "空闲", "en": "free"},
    "after_event": {"zh": "（{title}之后）", "en": " (after {title})"},
    "day_ends": {"zh": "今天 {time} 结束", "en": "day ends {time}"},
    "note": {"zh": "注意：", "en": "Note: "},
    "because": {"zh": "：", "en": ": "},
    "sep": {"zh": "；", "en": "; "},
    "list": {"zh": "、", "en": ", "},
    "period": {"zh": "。", "en": "."},
    "none": {"zh": "（无）", "en": "(none)"},
}
